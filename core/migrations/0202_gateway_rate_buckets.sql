-- Rate limits over a sliding minute, with per-replica request leases that expire (ADR 0111).
--
-- Fixed one-minute windows (gateway_rate_windows, 0200) let a client send a full minute's
-- allowance just before a boundary and another just after it. Counts now go into one-second
-- buckets and a limit is checked against every bucket that can still hold a request of the last
-- minute, i.e. the current bucket and the 60 before it: no rolling minute can hold more than the
-- limit. Request slots are still leased in slices. A slice is good for a few seconds and is
-- counted, while it is out, in the bucket of its deadline (no slot of it can be used later than
-- that); when its holder reports where it used the slots they move to those buckets. Each
-- replica's slice is a row here, so the slots a dead replica leased and never used go back
-- instead of staying counted for a minute.
--
-- gateway_rate_windows stays for replicas older than this migration during a rolling upgrade;
-- nothing new reads or writes it.

create table gateway_rate_buckets (
  limit_uid text not null,
  subject text not null,
  bucket_start timestamptz not null,
  -- Request slots used in this bucket, plus those of leases whose deadline falls in it that
  -- their replicas have not reported yet (used or not).
  requests bigint not null default 0,
  -- Tokens reported by replicas in this bucket (token limits count what was consumed).
  tokens bigint not null default 0,
  primary key (limit_uid, subject, bucket_start)
);

-- One lease per replica and (RateLimit, subject): `amount` slots counted in `bucket_start` (the
-- bucket of the lease's deadline) that its replica has not reported as used. A row whose
-- expires_at (deadline plus a grace) has passed belongs to a replica that stopped pushing, and
-- the next call on that key takes `amount` out of the bucket.
create table gateway_rate_leases (
  limit_uid text not null,
  subject text not null,
  replica_id text not null,
  bucket_start timestamptz not null,
  amount bigint not null,
  expires_at timestamptz not null,
  primary key (limit_uid, subject, replica_id)
);

-- Everything a replica does to one (RateLimit, subject) in one round trip, serialised per key by
-- a transaction-scoped advisory lock (a grant reads the sum of many bucket rows, so no single row
-- lock would do; the lock is taken before any row is touched, so callers never deadlock):
--   1. take back expired leases of other replicas (their unreported slots leave their bucket);
--   2. count the caller's used slots in the buckets they were used in (p_used_buckets,
--      p_used_counts) and take them out of its lease's bucket (if the lease was reclaimed
--      meanwhile they are simply counted again: used slots stay counted);
--   3. end the caller's lease when asked, when it wants a new one, or when it is empty: the
--      unused rest leaves its bucket;
--   4. add p_tokens to the current bucket and grant up to p_want slots counted in
--      p_grant_bucket, never more than p_rpm − (slots of every bucket from p_from on);
--   5. drop buckets older than p_from.
-- Returns the grant, what the caller's lease now holds, the window's totals, and when the
-- window will have room again (null when it has room now): the start of the newest bucket
-- that must leave the window, plus the window's span.
create function gateway_rate_sync(
  p_limit_uid text,
  p_subject text,
  p_replica text,
  p_bucket_start timestamptz,
  p_from timestamptz,
  p_bucket_ms integer,
  p_lease_bucket timestamptz,
  p_used_buckets timestamptz[],
  p_used_counts bigint[],
  p_release boolean,
  p_tokens bigint,
  p_rpm bigint,
  p_tpm bigint,
  p_want bigint,
  p_grant_bucket timestamptz,
  p_lease_ms integer,
  p_grace_ms integer
)
returns table (
  granted bigint,
  lease bigint,
  requests bigint,
  tokens bigint,
  requests_free_at timestamptz,
  tokens_free_at timestamptz,
  reclaimed bigint
)
language plpgsql
as $$
declare
  v_lease gateway_rate_leases%rowtype;
  v_has boolean;
  v_reclaimed bigint := 0;
  v_used bigint := 0;
  v_moved bigint;
  v_tokens bigint := greatest(coalesce(p_tokens, 0), 0);
  v_grant bigint := 0;
  v_held bigint := 0;
  v_requests bigint;
  v_total_tokens bigint;
  v_span interval := (p_bucket_start - p_from) + make_interval(secs => p_bucket_ms / 1000.0);
  v_requests_free_at timestamptz;
  v_tokens_free_at timestamptz;
begin
  perform pg_advisory_xact_lock(hashtextextended('gateway_rate/' || p_limit_uid || '/' || p_subject, 0));

  -- 1. Leases of replicas that stopped pushing.
  with expired as (
    delete from gateway_rate_leases l
    where l.limit_uid = p_limit_uid and l.subject = p_subject and l.replica_id <> p_replica and l.expires_at < now()
    returning l.bucket_start, l.amount
  ),
  per_bucket as (
    select e.bucket_start, sum(e.amount)::bigint as amount from expired e group by e.bucket_start
  ),
  returned as (
    update gateway_rate_buckets b set requests = greatest(0, b.requests - pb.amount)
    from per_bucket pb
    where b.limit_uid = p_limit_uid and b.subject = p_subject and b.bucket_start = pb.bucket_start
    returning b.bucket_start
  )
  select coalesce(sum(pb.amount), 0)::bigint into v_reclaimed from per_bucket pb;

  -- 2. The caller's used slots, where they were used.
  select * into v_lease from gateway_rate_leases l
  where l.limit_uid = p_limit_uid and l.subject = p_subject and l.replica_id = p_replica;
  v_has := found;
  if coalesce(cardinality(p_used_counts), 0) > 0 then
    with used as (
      select u.bucket_start, sum(greatest(u.n, 0))::bigint as n
      from unnest(p_used_buckets, p_used_counts) as u(bucket_start, n)
      group by u.bucket_start
    ),
    counted as (
      insert into gateway_rate_buckets as b (limit_uid, subject, bucket_start, requests)
      select p_limit_uid, p_subject, used.bucket_start, used.n from used
      where used.bucket_start >= p_from and used.n > 0
      on conflict (limit_uid, subject, bucket_start) do update set requests = b.requests + excluded.requests
      returning 1
    )
    select coalesce(sum(used.n), 0)::bigint into v_used from used;
    if v_has and v_lease.bucket_start = p_lease_bucket and v_used > 0 then
      -- They were counted in the lease's bucket until now.
      v_moved := least(v_used, v_lease.amount);
      update gateway_rate_buckets b set requests = greatest(0, b.requests - v_moved)
      where b.limit_uid = p_limit_uid and b.subject = p_subject and b.bucket_start = p_lease_bucket;
      v_lease.amount := v_lease.amount - v_moved;
    end if;
  end if;

  -- 3. End the lease: its unused rest leaves its bucket. A row the caller does not know as its
  -- lease (an answer lost after commit) is ended too.
  if v_has and (p_release or p_want > 0 or v_lease.amount <= 0 or v_lease.bucket_start is distinct from p_lease_bucket) then
    if v_lease.amount > 0 then
      update gateway_rate_buckets b set requests = greatest(0, b.requests - v_lease.amount)
      where b.limit_uid = p_limit_uid and b.subject = p_subject and b.bucket_start = v_lease.bucket_start;
    end if;
    delete from gateway_rate_leases l
    where l.limit_uid = p_limit_uid and l.subject = p_subject and l.replica_id = p_replica;
    v_has := false;
  end if;

  -- 4. Tokens in the current bucket; the grant in the bucket of the new lease's deadline.
  select coalesce(sum(b.requests), 0)::bigint, coalesce(sum(b.tokens), 0)::bigint into v_requests, v_total_tokens
  from gateway_rate_buckets b
  where b.limit_uid = p_limit_uid and b.subject = p_subject and b.bucket_start >= p_from;
  if p_rpm is not null and p_want > 0 then
    v_grant := least(p_want, greatest(0, p_rpm - v_requests));
  end if;
  if v_tokens > 0 then
    insert into gateway_rate_buckets as b (limit_uid, subject, bucket_start, tokens)
    values (p_limit_uid, p_subject, p_bucket_start, v_tokens)
    on conflict (limit_uid, subject, bucket_start) do update set tokens = b.tokens + excluded.tokens;
    v_total_tokens := v_total_tokens + v_tokens;
  end if;
  if v_grant > 0 then
    insert into gateway_rate_buckets as b (limit_uid, subject, bucket_start, requests)
    values (p_limit_uid, p_subject, p_grant_bucket, v_grant)
    on conflict (limit_uid, subject, bucket_start) do update set requests = b.requests + excluded.requests;
    v_requests := v_requests + v_grant;
    v_held := v_grant;
    insert into gateway_rate_leases (limit_uid, subject, replica_id, bucket_start, amount, expires_at)
    values (p_limit_uid, p_subject, p_replica, p_grant_bucket, v_grant,
            now() + make_interval(secs => (p_lease_ms + p_grace_ms) / 1000.0));
  elsif v_has then
    v_held := v_lease.amount;
    update gateway_rate_leases l set amount = v_held
    where l.limit_uid = p_limit_uid and l.subject = p_subject and l.replica_id = p_replica;
  end if;

  -- 5. Buckets that left the window.
  delete from gateway_rate_buckets b
  where b.limit_uid = p_limit_uid and b.subject = p_subject and b.bucket_start < p_from;

  -- When enough of the oldest buckets have left for the total to fall below the limit.
  if p_rpm is not null and v_requests >= p_rpm then
    select c.bucket_start + v_span into v_requests_free_at from (
      select b.bucket_start, sum(b.requests) over (order by b.bucket_start) as through
      from gateway_rate_buckets b
      where b.limit_uid = p_limit_uid and b.subject = p_subject and b.bucket_start >= p_from
    ) c
    where v_requests - c.through < p_rpm
    order by c.bucket_start
    limit 1;
  end if;
  if p_tpm is not null and v_total_tokens >= p_tpm then
    select c.bucket_start + v_span into v_tokens_free_at from (
      select b.bucket_start, sum(b.tokens) over (order by b.bucket_start) as through
      from gateway_rate_buckets b
      where b.limit_uid = p_limit_uid and b.subject = p_subject and b.bucket_start >= p_from
    ) c
    where v_total_tokens - c.through < p_tpm
    order by c.bucket_start
    limit 1;
  end if;

  return query select v_grant, v_held, v_requests, v_total_tokens, v_requests_free_at, v_tokens_free_at, v_reclaimed;
end;
$$;
