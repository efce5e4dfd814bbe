#!/usr/bin/env bash
# Provides toxiproxy-server, the fault-injection TCP proxy of the fault suite (docs/reliability.md),
# built once from the Go module proxy and cached by version in the tool cache
# (${CODEVECTOR_CACHE:-~/.cache/codevector}, outside the clone so fresh clones and CI reuse it).
# TOXIPROXY_SERVER points at a binary to use instead. Prints the binary's path.
set -euo pipefail

# v2.12.0 is the newest release the module proxy serves (its version list stops at v2.5.0, so
# `@latest` would pick an older one; the version is pinned here).
TOXIPROXY_VERSION="${CODEVECTOR_TOXIPROXY_VERSION:-v2.12.0}"
cache="${CODEVECTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codevector}"
dest="$cache/toxiproxy-$TOXIPROXY_VERSION"
log() { echo "toxiproxy: $*" >&2; }

if [ -n "${TOXIPROXY_SERVER:-}" ] && [ -x "$TOXIPROXY_SERVER" ]; then
  echo "$TOXIPROXY_SERVER"; exit 0
fi
if [ ! -x "$dest/toxiproxy-server" ]; then
  command -v go >/dev/null || { log "Go is required to build toxiproxy (or set TOXIPROXY_SERVER)"; exit 1; }
  log "building toxiproxy $TOXIPROXY_VERSION from the Go module proxy (once)"
  mkdir -p "$dest"
  work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
  GOBIN="$work/bin" CGO_ENABLED=0 GOFLAGS=-mod=mod go install -trimpath -ldflags "-s -w" \
    "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
  mv "$work/bin/server" "$dest/toxiproxy-server.tmp" && mv "$dest/toxiproxy-server.tmp" "$dest/toxiproxy-server"
fi
echo "$dest/toxiproxy-server"
