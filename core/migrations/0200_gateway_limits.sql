-- Shared state for rate limits and budgets across gateway replicas (DESIGN §5.5, ADR 0102).
-- Replicas never take one round trip per request: each leases a slice of a window with one
-- atomic UPDATE, admits locally while the slice lasts and gives back what it did not use.
-- `last_grant` is written in the same UPDATE so the caller learns what it was granted
-- (RETURNING shows only new values before PostgreSQL 18).

-- Requests and tokens per fixed one-minute window per (RateLimit, subject).
create table gateway_rate_windows (
  limit_uid text not null,
  subject text not null,
  window_start timestamptz not null,
  -- Requests leased to replicas (a leased request slot is spent whether or not it was used,
  -- unless the replica returns it).
  requests bigint not null default 0,
  -- Tokens reported by replicas after the responses (rate limits on tokens are enforced on
  -- what was already consumed in the window, as the providers do).
  tokens bigint not null default 0,
  last_grant bigint not null default 0,
  primary key (limit_uid, subject, window_start)
);

-- Spend per (Budget, subject, calendar window). spent_usd is settled cost; leased_usd is what
-- replicas hold for requests in flight and soon-to-come. spent + leased never exceeds the limit
-- at lease time, which is what bounds overspend.
create table budget_windows (
  budget_uid text not null,
  subject text not null,
  window_start timestamptz not null,
  window_end timestamptz,
  limit_usd numeric(20, 10) not null,
  spent_usd numeric(20, 10) not null default 0,
  leased_usd numeric(20, 10) not null default 0,
  last_grant numeric(20, 10) not null default 0,
  updated_at timestamptz not null default now(),
  primary key (budget_uid, subject, window_start)
);
-- Budget status (current spend) reads the newest window of a budget.
create index budget_windows_budget_idx on budget_windows (budget_uid, window_start desc);

alter table usage add column endpoint text;
