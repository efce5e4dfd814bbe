-- Each service may write audit rows only under its own actor_source (docs/adr/0400): a
-- compromised gateway cannot insert a row that reads as an admin's console change or a
-- Kubernetes user's edit, nor the operator one that reads as a console change. Row-level
-- security, so PostgreSQL checks it on every inserted row; the owner (migrator, audit_prune) and
-- the superuser are not subject to it.
alter table audit_log enable row level security;
create policy audit_log_insert_gateway on audit_log for insert to codevector_gateway
  with check (actor_source = 'gateway');
create policy audit_log_insert_operator on audit_log for insert to codevector_operator
  with check (actor_source in ('kubernetes', 'system'));
create policy audit_log_insert_console on audit_log for insert to codevector_console
  with check (actor_source in ('console', 'system'));
-- Reading back `insert … returning id` passes through SELECT policies too; what each role may
-- read is still limited by its column grants (operator and gateway: id only).
create policy audit_log_read on audit_log for select to codevector_operator, codevector_gateway, codevector_console
  using (true);
