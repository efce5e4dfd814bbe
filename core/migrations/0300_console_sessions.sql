-- Console authentication (docs/adr/0300-console-auth.md).

-- Which identity provider vouches for a user: 'local' (password) today, an OIDC issuer later.
-- OIDC users are matched on (idp, idp_subject), never on e-mail alone.
alter table users add column idp text not null default 'local';
alter table users add column idp_subject text;
create unique index users_idp_subject_key on users (idp, idp_subject) where idp_subject is not null;

-- Server-side sessions. The cookie carries a random token; only its SHA-256 is stored, so a
-- leaked table does not hand out sessions. The CSRF token is per session (synchronizer token)
-- and must come back in the x-csrf-token header of every mutation.
create table sessions (
  token_hash bytea primary key,
  user_id uuid not null references users (id) on delete cascade,
  csrf_token text not null,
  idp text not null,
  created_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  expires_at timestamptz not null,
  user_agent text,
  ip text
);
create index sessions_user_idx on sessions (user_id);
create index sessions_expires_idx on sessions (expires_at);

-- Failed sign-ins per key ('email:<lower email>' or 'ip:<address>') in a sliding window.
-- In the database rather than in memory so every console replica sees the same count.
create table login_failures (
  key text primary key,
  failures integer not null,
  window_started_at timestamptz not null,
  locked_until timestamptz
);
