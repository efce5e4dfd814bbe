-- Budget leases per replica, so a replica that dies holding one does not strand it (ADR 0111).
-- budget_windows.leased_usd is the sum of the live rows here for its window; a row whose
-- expires_at has passed belongs to a replica that stopped renewing, and the next grant on that
-- window returns it to the pool. A live replica renews its rows on its periodic push and admits
-- only while its own (earlier) deadline for the lease holds, so a reclaimed lease is never spent
-- by its old owner without leasing again.
create table gateway_leases (
  replica_id text not null,
  budget_uid text not null,
  subject text not null,
  window_start timestamptz not null,
  amount_usd numeric(20, 10) not null default 0,
  expires_at timestamptz not null,
  primary key (budget_uid, subject, window_start, replica_id)
);
create index gateway_leases_replica_idx on gateway_leases (replica_id);

-- One round trip for everything a replica does to a budget window: settle spend, give back
-- `release`, take back expired leases of other replicas, grant up to `want` (never more than
-- limit − spent − leased) and renew its own lease for `ttl_ms`. Locks the window row first and
-- the lease rows after, always in that order, so concurrent replicas never deadlock. Returns the
-- grant, the window's totals and what this replica's lease now holds (0 when it was reclaimed).
create function gateway_budget_sync(
  p_budget_uid text,
  p_subject text,
  p_window_start timestamptz,
  p_window_end timestamptz,
  p_limit numeric,
  p_replica text,
  p_want numeric,
  p_spent numeric,
  p_release numeric,
  p_ttl_ms integer
)
returns table (granted numeric, spent_usd numeric, leased_usd numeric, lease_usd numeric, reclaimed_usd numeric)
language plpgsql
as $$
declare
  v_window budget_windows%rowtype;
  v_reclaimed numeric := 0;
  v_held numeric;
  v_release numeric := 0;
  v_grant numeric := 0;
begin
  insert into budget_windows as w (budget_uid, subject, window_start, window_end, limit_usd)
  values (p_budget_uid, p_subject, p_window_start, p_window_end, p_limit)
  on conflict (budget_uid, subject, window_start) do nothing;
  select * into v_window from budget_windows w
  where w.budget_uid = p_budget_uid and w.subject = p_subject and w.window_start = p_window_start
  for update;

  with expired as (
    delete from gateway_leases l
    where l.budget_uid = p_budget_uid and l.subject = p_subject and l.window_start = p_window_start
      and l.replica_id <> p_replica and l.expires_at < now()
    returning l.amount_usd
  )
  select coalesce(sum(expired.amount_usd), 0) into v_reclaimed from expired;

  select l.amount_usd into v_held from gateway_leases l
  where l.budget_uid = p_budget_uid and l.subject = p_subject and l.window_start = p_window_start
    and l.replica_id = p_replica
  for update;
  -- A replica can only give back what its lease still holds (nothing, once it was reclaimed).
  v_release := least(coalesce(v_held, 0), greatest(p_release, 0));
  v_window.leased_usd := greatest(0, v_window.leased_usd - v_reclaimed - v_release);
  v_window.spent_usd := v_window.spent_usd + greatest(p_spent, 0);
  v_grant := least(greatest(p_want, 0), greatest(0, p_limit - v_window.spent_usd - v_window.leased_usd));
  v_window.leased_usd := v_window.leased_usd + v_grant;

  update budget_windows w set
    limit_usd = p_limit,
    spent_usd = v_window.spent_usd,
    leased_usd = v_window.leased_usd,
    last_grant = v_grant,
    updated_at = now()
  where w.budget_uid = p_budget_uid and w.subject = p_subject and w.window_start = p_window_start;

  if v_held is not null then
    v_held := v_held - v_release + v_grant;
    if v_held > 0 then
      update gateway_leases l set amount_usd = v_held, expires_at = now() + make_interval(secs => p_ttl_ms / 1000.0)
      where l.budget_uid = p_budget_uid and l.subject = p_subject and l.window_start = p_window_start
        and l.replica_id = p_replica;
    else
      delete from gateway_leases l
      where l.budget_uid = p_budget_uid and l.subject = p_subject and l.window_start = p_window_start
        and l.replica_id = p_replica;
    end if;
  elsif v_grant > 0 then
    v_held := v_grant;
    insert into gateway_leases (replica_id, budget_uid, subject, window_start, amount_usd, expires_at)
    values (p_replica, p_budget_uid, p_subject, p_window_start, v_grant, now() + make_interval(secs => p_ttl_ms / 1000.0));
  end if;

  return query select v_grant, v_window.spent_usd, v_window.leased_usd, coalesce(v_held, 0), v_reclaimed;
end;
$$;
