-- Grants for the tables of 0500–0502 (docs/adr/0400: nothing is granted by default).
-- The operator streams the audit chain to AuditSinks (ADR 0306), so it reads whole audit rows
-- and the chain, and keeps the sinks' cursors.
grant select, insert, update, delete on audit_sinks to codevector_operator;
grant select on audit_sinks to codevector_gateway, codevector_console;
grant select, insert, update on audit_sink_cursors to codevector_operator;
grant select on audit_sink_cursors to codevector_console;
grant select on audit_log, audit_chain to codevector_operator;

-- SCIM and SSO changes (ADR 0304, 0305) are the identity provider's: the console writes them
-- under actor source `idp`, and only the console may.
drop policy audit_log_insert_console on audit_log;
create policy audit_log_insert_console on audit_log for insert to codevector_console
  with check (actor_source in ('console', 'system', 'idp'));
