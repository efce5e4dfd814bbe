-- Revocation reaches every gateway replica at once (issue #13 §2: a user deactivated over SCIM
-- loses their keys within 1 s across replicas). The gateways LISTEN on api_keys_changed and drop
-- the named user's cached keys; their 1 s cache TTL is then only the bound for a lost notification.
-- Triggers rather than calls in each writer: the console, SCIM and SSO all revoke, disable or
-- change memberships, and a writer added later cannot forget. NOTIFY is sent at commit, and
-- PostgreSQL folds identical payloads of one transaction into one.
create function notify_api_keys_changed() returns trigger language plpgsql as $$
declare
  row_ record;
begin
  if tg_op = 'DELETE' then
    row_ := old;
  else
    row_ := new;
  end if;
  if tg_table_name = 'users' then
    perform pg_notify('api_keys_changed', row_.id::text);
  else
    perform pg_notify('api_keys_changed', row_.user_id::text);
  end if;
  return null;
end
$$;

create trigger api_keys_changed_notify after update of revoked_at, expires_at, user_id or delete on api_keys
  for each row execute function notify_api_keys_changed();
create trigger users_access_changed_notify after update of disabled_at or delete on users
  for each row execute function notify_api_keys_changed();
create trigger group_members_changed_notify after insert or delete on group_members
  for each row execute function notify_api_keys_changed();
