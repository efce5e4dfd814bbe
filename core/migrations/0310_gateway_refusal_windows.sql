-- Aggregated refusals (docs/adr/0113-hostile-input.md, issue #14 §5): refused keys and repeated
-- identical refusals write one audit row per subject and minute; how many times it happened is
-- counted here, beside the append-only audit_log (rows there are never updated, ADR 0302).
-- first_request_id is the request_id of that audit row.
create table gateway_refusal_windows (
  window_start timestamptz not null,
  action text not null,
  subject text not null,
  signature text not null,
  first_request_id text,
  count bigint not null,
  last_at timestamptz not null default now(),
  primary key (window_start, action, subject, signature)
);
create index gateway_refusal_windows_request_idx on gateway_refusal_windows (first_request_id);
