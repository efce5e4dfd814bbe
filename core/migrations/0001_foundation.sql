-- Foundation schema (DESIGN §4). Declared-config tables are written only by the operator,
-- console tables only by the console, recording tables by the gateway; every writer audits
-- through core's audit writer.

-- Declared config: one table per kind, keyed by Kubernetes UID (or a stable id from the file
-- source). `spec` is the normalized spec as validated by the crds package.
create table providers (
  uid text primary key,
  namespace text not null,
  name text not null,
  generation bigint not null,
  spec jsonb not null,
  -- AES-256-GCM ciphertext of the provider key (nonce || tag || ciphertext) and a short
  -- fingerprint that audit diffs may show; the key itself is never stored in clear.
  api_key_ciphertext bytea,
  api_key_fingerprint text,
  updated_at timestamptz not null default now(),
  unique (namespace, name)
);

create table models (
  uid text primary key,
  namespace text not null,
  name text not null,
  generation bigint not null,
  spec jsonb not null,
  updated_at timestamptz not null default now(),
  unique (namespace, name)
);

create table budgets (
  uid text primary key,
  namespace text not null,
  name text not null,
  generation bigint not null,
  spec jsonb not null,
  updated_at timestamptz not null default now(),
  unique (namespace, name)
);

create table rate_limits (
  uid text primary key,
  namespace text not null,
  name text not null,
  generation bigint not null,
  spec jsonb not null,
  updated_at timestamptz not null default now(),
  unique (namespace, name)
);

create table secret_rules (
  uid text primary key,
  namespace text not null,
  name text not null,
  generation bigint not null,
  spec jsonb not null,
  updated_at timestamptz not null default now(),
  unique (namespace, name)
);

-- One row: the version of the declared config. Every operator transaction that changes a
-- declared table bumps it and sends NOTIFY config_changed with the new version, so gateways
-- reload a consistent snapshot and can tell a stale one.
create table config_state (
  id boolean primary key default true check (id),
  version bigint not null default 0,
  changed_at timestamptz not null default now()
);
insert into config_state (id, version) values (true, 0);

-- Console-managed identities.
create table users (
  id uuid primary key default gen_random_uuid(),
  email text not null,
  display_name text not null default '',
  role text not null check (role in ('admin', 'auditor', 'member')),
  password_hash text,
  disabled_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index users_email_key on users (lower(email));

create table groups (
  id uuid primary key default gen_random_uuid(),
  name text not null unique,
  description text not null default '',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table group_members (
  group_id uuid not null references groups (id) on delete cascade,
  user_id uuid not null references users (id) on delete cascade,
  added_at timestamptz not null default now(),
  primary key (group_id, user_id)
);
create index group_members_user_idx on group_members (user_id);

-- Virtual keys: only a display prefix and a SHA-256 hash of the whole key are stored.
create table api_keys (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  name text not null,
  prefix text not null,
  hash bytea not null unique,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  expires_at timestamptz,
  revoked_at timestamptz
);
create index api_keys_user_idx on api_keys (user_id);

-- One row per proxied request.
create table usage (
  id bigint generated always as identity primary key,
  at timestamptz not null default now(),
  request_id text not null,
  api_key_id uuid,
  user_id uuid,
  model text not null,
  provider text,
  input_tokens bigint not null default 0,
  output_tokens bigint not null default 0,
  cache_read_tokens bigint not null default 0,
  cache_write_tokens bigint not null default 0,
  cost_usd numeric(20, 10) not null default 0,
  status integer not null,
  outcome text not null,
  latency_ms integer not null,
  ttfb_ms integer,
  session_id text
);
create index usage_at_idx on usage (at);
create index usage_user_at_idx on usage (user_id, at);
create index usage_model_at_idx on usage (model, at);

-- The audit log: admin mutations ({before, after} diffs) and gateway rejections.
create table audit_log (
  id bigint generated always as identity primary key,
  at timestamptz not null default clock_timestamp(),
  action text not null,
  target_type text not null,
  target_id text,
  target_name text,
  actor text not null,
  actor_source text not null check (actor_source in ('console', 'kubernetes', 'gateway', 'system')),
  detail jsonb not null default '{}'::jsonb,
  request_id text
);
-- Keyset pagination runs newest first on (at, id); each console filter has an index that
-- serves it in that order.
create index audit_log_at_idx on audit_log (at desc, id desc);
create index audit_log_actor_at_idx on audit_log (actor, at desc, id desc);
create index audit_log_target_type_at_idx on audit_log (target_type, at desc, id desc);
create index audit_log_action_at_idx on audit_log (action, at desc, id desc);
