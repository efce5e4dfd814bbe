-- Sign-in backoff per (account, source), per source, per account from unknown devices, and per
-- known device (docs/adr/0402-console-sign-in-hardening.md). A bucket starts over after a window
-- without failures, so the time of the last failure is kept.
alter table login_failures add column last_failed_at timestamptz;
update login_failures set last_failed_at = window_started_at;
create index login_failures_last_failed_idx on login_failures (last_failed_at);
-- The old keys ('email:<address>') locked an account for everyone; they no longer mean anything.
delete from login_failures where key like 'email:%';

-- The bootstrap admin is created from configuration once; afterwards its password belongs to the
-- console (a reset there is not undone by the next restart). The row remembers which account it was.
create table bootstrap_admin (
  id boolean primary key default true check (id),
  user_id uuid not null references users (id) on delete cascade,
  created_at timestamptz not null default now()
);
grant select, insert on bootstrap_admin to codevector_console;
