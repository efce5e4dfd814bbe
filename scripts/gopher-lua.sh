#!/usr/bin/env bash
# gopher-lua's `glua`, the Lua 5.1 interpreter Argo CD embeds for resource health checks, built
# from the Go module proxy and cached in the tool cache by version. The Argo CD health scripts
# in docs/argocd are run with it by e2e/src/live-status.test.ts. Prints the binary's path.
set -euo pipefail

VERSION="${CODEVECTOR_GOPHER_LUA_VERSION:-v1.1.1}"
cache="${CODEVECTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codevector}"
dest="$cache/gopher-lua-$VERSION"

if [ -x "$dest/glua" ]; then echo "$dest/glua"; exit 0; fi
command -v go >/dev/null || { echo "gopher-lua: Go is required to build glua" >&2; exit 1; }
mkdir -p "$cache"
tmp="$(mktemp -d "$cache/gopher-lua.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
GOBIN="$tmp" CGO_ENABLED=0 go install "github.com/yuin/gopher-lua/cmd/glua@$VERSION" >&2
rm -rf "$dest"
mkdir -p "$dest"
mv "$tmp/glua" "$dest/glua"
echo "$dest/glua"
