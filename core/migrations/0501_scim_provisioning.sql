-- SCIM 2.0 provisioning (console/api/src/scim/, ADR 0304). An identity provider creates, updates
-- and deactivates the accounts and groups it manages; the IdP is the actor of those audit rows.
alter table audit_log drop constraint audit_log_actor_source_check;
alter table audit_log add constraint audit_log_actor_source_check
  check (actor_source in ('console', 'kubernetes', 'gateway', 'system', 'idp'));

-- users.idp names the IdP that manages a SCIM account; external_id is the IdP's own id for it,
-- and scim keeps the attributes CodeVector does not model (name parts, emails), so a GET returns
-- what the IdP wrote and its comparisons see no drift.
alter table users add column external_id text;
alter table users add column scim jsonb;
-- A group an IdP created (and so may change and delete); console groups have none.
alter table groups add column managed_by text;
alter table groups add column external_id text;
