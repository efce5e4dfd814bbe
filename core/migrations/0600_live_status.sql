-- Live state in status (issue #13 §5): what the operator shows in Provider and RateLimit status,
-- read from what the gateways already record, never from usage (one row per request: a scan of
-- the last minute would cost the operator as much as the traffic).
--
-- One row per Provider and gateway replica, replaced by that replica's periodic push: its
-- upstream answers of the last minute as a histogram of time to response headers (bounds in
-- `latency_bounds_ms`, the same on every replica, so rows add up), how many attempts failed, and
-- its latest failure. The failure is the gateway's own wording (a status and an outcome word such
-- as upstream_timeout), never the upstream's body, which may quote the credential it refused.
-- Each gateway process is a new replica; rows nobody pushed for a day are deleted by the gateways.
create table gateway_provider_health (
  provider_ref text not null,
  replica_id text not null,
  updated_at timestamptz not null default now(),
  latency_bounds_ms integer[] not null,
  -- latency_counts[i] answers took at most latency_bounds_ms[i] (and more than the bound before);
  -- the last element counts those slower than every bound.
  latency_counts bigint[] not null,
  requests bigint not null default 0,
  errors bigint not null default 0,
  last_error_at timestamptz,
  last_error_status integer,
  last_error_outcome text,
  primary key (provider_ref, replica_id)
);

grant select, insert, update, delete on gateway_provider_health to codevector_gateway;
-- Provider status (latency, last error) and RateLimit status (usage in the sliding minute).
grant select on gateway_provider_health, gateway_rate_buckets to codevector_operator;
