#!/usr/bin/env bash
# Builds the evaluation PostgreSQL image (default codevector-postgres:15) from Debian's postgresql
# package on the locally made base of scripts/build-image.sh (ADR 0008), without a registry.
# Cached: the image is tagged with a hash of the PostgreSQL major, the base and images/postgres/,
# and rebuilt only when one of them changes. Options: PG_MAJOR=15 (bookworm's), BASE=<image>
# (e.g. debian:bookworm-slim where a registry is reachable), IMAGE=<name:tag>.
# Needs a running dockerd. Prints "<image> <size> MB <postgres --version>" last.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_MAJOR="${PG_MAJOR:-15}"
IMAGE="${IMAGE:-codevector-postgres:$PG_MAJOR}"
log() { echo "build-postgres-image: $*" >&2; }

docker info >/dev/null 2>&1 || { log "dockerd is not reachable (start it: dockerd >/var/log/dockerd.log 2>&1 &)"; exit 1; }
BASE="${BASE:-$(bash "$root/scripts/build-image.sh" --base-only)}"
base_id="$(docker image inspect -f '{{.Id}}' "$BASE")"
key="$( (echo "$PG_MAJOR $base_id"; cat "$root/images/postgres/Dockerfile" "$root/images/postgres/entrypoint.sh") | sha256sum | cut -c1-12)"
keyed="${IMAGE%:*}:$PG_MAJOR-$key"
if docker image inspect "$keyed" >/dev/null 2>&1; then
  log "cached $keyed"
else
  started=$(date +%s)
  log "building $keyed from $BASE"
  DOCKER_BUILDKIT=0 docker build --build-arg "BASE=$BASE" --build-arg "PG_MAJOR=$PG_MAJOR" -t "$keyed" "$root/images/postgres" >&2
  log "built in $(($(date +%s) - started)) s"
fi
docker tag "$keyed" "$IMAGE"
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
echo "$IMAGE $((size / 1000000)) MB $(docker run --rm --entrypoint postgres "$IMAGE" --version)"
