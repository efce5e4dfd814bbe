-- Separate database roles (docs/adr/0400-database-roles.md). The migrator (whoever runs
-- `codevector migrate`) owns every table and function; each service connects as a login role
-- that is a member of one NOLOGIN group role created here, with the least privilege its code
-- needs. None of them may UPDATE, DELETE or TRUNCATE audit rows, and none owns a table, so none
-- can ALTER TABLE ... DISABLE TRIGGER. Roles are cluster-wide in PostgreSQL: creating them is
-- idempotent and tolerates another database of the same server (or a concurrent migrator)
-- having created them first. A migrator without CREATEROLE needs a DBA to create the three
-- roles (NOLOGIN) beforehand; the grants below need only table ownership.
do $$
declare
  role_name text;
begin
  foreach role_name in array array['codevector_operator', 'codevector_gateway', 'codevector_console'] loop
    if not exists (select 1 from pg_roles where rolname = role_name) then
      begin
        execute format('create role %I nologin', role_name);
      exception
        when duplicate_object or unique_violation then null; -- created meanwhile by another migrator
        when insufficient_privilege then
          raise exception 'role % is missing and the migrator may not create roles', role_name
            using hint = format('Ask the database administrator to run: create role %I nologin;', role_name);
      end;
    end if;
  end loop;
end $$;

-- Nothing reaches the schema by default: PUBLIC could create objects in `public` before
-- PostgreSQL 15, and functions are executable by PUBLIC unless revoked.
revoke create on schema public from public;
grant usage on schema public to codevector_operator, codevector_gateway, codevector_console;
revoke execute on all functions in schema public from public;
-- Functions the migrator creates later are not executable by everyone either. (Tables are never
-- granted by default: a migration that adds one grants it to the services that use it, and
-- core/src/service-roles.db.test.ts fails until it does.)
alter default privileges in schema public revoke execute on functions from public;

-- The audit log: every service inserts (mutations and rejections) and nothing else writes it.
-- Identity columns take their values without sequence privileges.
grant insert on audit_log to codevector_operator, codevector_gateway, codevector_console;
-- `insert … returning id` needs SELECT on the returned column; the console reads the whole log.
grant select (id) on audit_log to codevector_operator, codevector_gateway;
grant select on audit_log to codevector_console;
-- The facet trigger writes audit_facets on the inserter's behalf, so writers need no grant on it.
alter function audit_log_record_facets() security definer set search_path = public, pg_temp;

-- Declared config: the operator is the only writer (DESIGN §1).
grant select, insert, update, delete on providers, models, budgets, rate_limits, secret_rules to codevector_operator;
grant select, update on config_state to codevector_operator;
grant select, insert, update, delete on operator_delete_intents to codevector_operator;
grant select on budget_windows to codevector_operator;
-- The gateway and the console read declared config (snapshot; resources page).
grant select on providers, models, budgets, rate_limits, secret_rules, config_state to codevector_gateway, codevector_console;

-- Identities: written by the console only; the gateway resolves keys and stamps last use.
grant select, insert, update, delete on users, groups, group_members, api_keys, sessions, login_failures to codevector_console;
grant select on users, groups, group_members, api_keys to codevector_gateway;
grant update (last_used_at) on api_keys to codevector_gateway;

-- Recording: usage and shared limits are the gateway's; the console charts them.
grant select, insert on usage to codevector_gateway;
grant select on usage, budget_windows to codevector_console;
grant select, insert, update, delete on gateway_rate_windows, budget_windows, gateway_leases, gateway_rate_buckets,
  gateway_rate_leases to codevector_gateway;
grant execute on function gateway_budget_sync, gateway_rate_sync to codevector_gateway;

-- The chain: the console's sealer appends to it; nobody but the owner may rewrite it.
grant select on audit_facets to codevector_console;
grant select, insert on audit_chain to codevector_console;
-- The sealer moves the head; the retention base (0401) moves only through audit_prune.
grant select, update (last_txid, last_audit_id, head_seq, head_hash) on audit_chain_state to codevector_console;
grant select on schema_migrations to codevector_operator, codevector_gateway, codevector_console;
