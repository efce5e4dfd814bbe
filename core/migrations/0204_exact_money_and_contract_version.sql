-- Money is exact picodollars end to end (ADR 0004): a price per token is a whole number of
-- picodollars (1e-12 USD), so every cost, spend and lease needs 12 decimals; numeric(20,10)
-- rounded a token at $0.075 per million to 0. Unconstrained numeric holds any exact decimal,
-- and dropping a typmod is binary-coercible: no table rewrite, so a large usage table is not
-- locked for long. The gateway writes only whole picodollars.
alter table usage alter column cost_usd type numeric;
alter table budget_windows
  alter column limit_usd type numeric,
  alter column spent_usd type numeric,
  alter column leased_usd type numeric,
  alter column last_grant type numeric;
alter table gateway_leases alter column amount_usd type numeric;

-- The snapshot contract's version (core/src/config-snapshot.ts) the last writer of declared
-- config used; a gateway refuses a snapshot stamped newer than it understands. 1 is the
-- contract before this column existed.
alter table config_state add column contract_version integer not null default 1;
