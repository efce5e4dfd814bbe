#!/usr/bin/env bash
# Source after provision-node.sh: runs `npm ci` when node_modules is missing or was installed
# from another package-lock.json or Node version, so a fresh clone needs no separate step.
_cv_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_cv_stamp="$_cv_root/node_modules/.codevector-deps"
_cv_want="$(cat "$_cv_root/package-lock.json" | sha256sum | cut -c1-16)-$(node --version)"
if [ ! -f "$_cv_stamp" ] || [ "$(cat "$_cv_stamp")" != "$_cv_want" ]; then
  echo "setup: installing dependencies (npm ci)" >&2
  (cd "$_cv_root" && npm ci --no-audit --no-fund) || { echo "setup: npm ci failed" >&2; return 1 2>/dev/null || exit 1; }
  echo "$_cv_want" > "$_cv_stamp"
fi
unset _cv_stamp _cv_want
