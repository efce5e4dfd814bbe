-- Audit log: filter facets and the tamper-evident hash chain (docs/adr/0301-audit-log-at-scale.md,
-- docs/adr/0302-audit-hash-chain.md).

-- Every (action, target type, actor) combination ever written. The console's actor and target
-- dropdowns read this small table instead of a DISTINCT over millions of rows, and the audit
-- query resolves its filters against it first (an unseen combination answers "no rows" at once;
-- a handful of combinations becomes one short index range each).
create table audit_facets (
  action text not null,
  target_type text not null,
  actor text not null,
  actor_source text not null,
  first_seen_at timestamptz not null default now(),
  primary key (action, target_type, actor, actor_source)
);
create index audit_facets_actor_idx on audit_facets (actor, actor_source);
create index audit_facets_target_type_idx on audit_facets (target_type);

insert into audit_facets (action, target_type, actor, actor_source)
select distinct action, target_type, actor, actor_source from audit_log
on conflict do nothing;

-- Statement-level, so the gateway's group commit (many rows, one insert) costs one facet insert
-- per distinct combination, not one per row. Sorted so concurrent writers take the facet
-- index's locks in the same order and cannot deadlock.
create function audit_log_record_facets() returns trigger language plpgsql as $$
begin
  insert into audit_facets (action, target_type, actor, actor_source)
  select distinct action, target_type, actor, actor_source from audit_new_rows
  order by 1, 2, 3, 4
  on conflict do nothing;
  return null;
end $$;
create trigger audit_log_record_facets after insert on audit_log
  referencing new table as audit_new_rows for each statement execute function audit_log_record_facets();

-- One index range per facet combination, already in page order.
create index audit_log_facet_at_idx on audit_log (action, target_type, actor, at desc, id desc);

-- Hash chain. `txid` is the inserting transaction's id. The sealer only chains rows whose
-- transaction is older than every transaction still running (txid < pg_snapshot_xmin), so no row
-- can later commit "behind" the sealed head: ids are assigned at insert, commits land in any order.
-- Rows that predate this migration get txid 1 (settled long ago).
alter table audit_log add column txid xid8 not null default '1'::xid8;
alter table audit_log alter column txid set default pg_current_xact_id();
create index audit_log_txid_idx on audit_log (txid, id);

-- The chain lives beside the log, so sealing never updates audit_log rows (no second write of
-- every row, no lock on what writers touch). hash = sha256(previous hash || canonical row).
create table audit_chain (
  seq bigint primary key,
  audit_id bigint not null unique,
  hash bytea not null,
  sealed_at timestamptz not null default now()
);

-- Where the sealer stopped: the (txid, id) of the last sealed row and the chain head.
create table audit_chain_state (
  id boolean primary key default true check (id),
  last_txid xid8 not null default '0'::xid8,
  last_audit_id bigint not null default 0,
  head_seq bigint not null default 0,
  head_hash bytea not null default '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
);
insert into audit_chain_state default values;

-- Audit rows are append-only. (A superuser can still disable this; the chain is what detects it.)
create function audit_log_forbid_update() returns trigger language plpgsql as $$
begin
  raise exception 'audit_log rows are append-only' using errcode = 'insufficient_privilege';
end $$;
create trigger audit_log_forbid_update before update on audit_log
  for each row execute function audit_log_forbid_update();
