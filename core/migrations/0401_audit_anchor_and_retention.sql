-- Anchored chain and retention (docs/adr/0401-anchored-audit-chain.md).

-- Where the retained chain starts: rows up to base_seq were pruned by retention, and base_hash is
-- the chain hash at base_seq (genesis while nothing was pruned). Verify starts from here, and
-- accepts a base only when a signed retention checkpoint outside the database vouches for it.
alter table audit_chain_state
  add column base_seq bigint not null default 0,
  add column base_hash bytea not null default '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;

-- How long audit rows are kept, set by `codevector migrate` from configuration. In a table the
-- serving roles may read but not write, so a compromised console cannot shorten it.
create table audit_retention (
  id boolean primary key default true check (id),
  days integer check (days is null or days > 0)
);
insert into audit_retention (days) values (null);
grant select on audit_retention to codevector_console;

-- The only way a serving role can delete audit rows: everything up to p_seq, when p_seq is a
-- sealed position whose hash the caller names (it has just written a signed checkpoint of it),
-- retention is configured, and every row up to it is older than the retention period. Runs as
-- the owner (security definer); the console may execute it and nothing else.
create function audit_prune(p_seq bigint, p_hash bytea) returns bigint
language plpgsql security definer set search_path = public, pg_temp
as $$
declare
  v_state audit_chain_state%rowtype;
  v_days integer;
  v_hash bytea;
  v_newest timestamptz;
  v_deleted bigint;
begin
  select * into v_state from audit_chain_state for update;
  select days into v_days from audit_retention;
  if v_days is null then
    raise exception 'audit retention is not configured' using errcode = 'insufficient_privilege';
  end if;
  if p_seq <= v_state.base_seq or p_seq > v_state.head_seq then
    raise exception 'seq % is not between the chain base % and head %', p_seq, v_state.base_seq, v_state.head_seq;
  end if;
  select hash into v_hash from audit_chain where seq = p_seq;
  if v_hash is distinct from p_hash then
    raise exception 'seq % does not have the hash named' , p_seq;
  end if;
  select max(a.at) into v_newest from audit_chain c join audit_log a on a.id = c.audit_id
  where c.seq > v_state.base_seq and c.seq <= p_seq;
  if v_newest >= now() - make_interval(days => v_days) then
    raise exception 'rows up to seq % are not all older than % days', p_seq, v_days using errcode = 'insufficient_privilege';
  end if;
  delete from audit_log a using audit_chain c where c.audit_id = a.id and c.seq > v_state.base_seq and c.seq <= p_seq;
  get diagnostics v_deleted = row_count;
  delete from audit_chain where seq <= p_seq;
  update audit_chain_state set base_seq = p_seq, base_hash = p_hash;
  return v_deleted;
end $$;
revoke execute on function audit_prune(bigint, bytea) from public;
grant execute on function audit_prune(bigint, bytea) to codevector_console;
