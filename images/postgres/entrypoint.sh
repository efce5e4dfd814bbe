#!/bin/bash
# First start: initdb into $PGDATA (a subfolder of the volume, so its owner and mode are initdb's),
# the superuser's password from POSTGRES_PASSWORD, password logins over TCP, and POSTGRES_DB.
# Every start: postgres in the foreground with its socket in /tmp (the root file system is read-only).
set -euo pipefail
: "${POSTGRES_USER:=postgres}" "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  parent="$(dirname "$PGDATA")"
  [ -w "$parent" ] || { echo "postgres-entrypoint: $parent is not writable by uid $(id -u) (volume owner: $(stat -c %u:%g "$parent"))" >&2; exit 1; }
  pwfile="$(mktemp)"
  printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo 'host all all all scram-sha-256' >>"$PGDATA/pg_hba.conf"
  if [ -n "${POSTGRES_DB:-}" ] && [ "$POSTGRES_DB" != postgres ]; then
    echo "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\"" | postgres --single -D "$PGDATA" -c unix_socket_directories=/tmp postgres >/dev/null
  fi
  echo "postgres-entrypoint: initialised $PGDATA" >&2
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp -c jit=off "$@"
