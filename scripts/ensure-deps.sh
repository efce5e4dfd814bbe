#!/usr/bin/env bash
# Source after provision-node.sh: runs `npm ci` when node_modules is missing or was installed
# from another package-lock.json or Node version, so a fresh clone needs no separate step.
_cv_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_cv_stamp="$_cv_root/node_modules/.codevector-deps"
_cv_want="$(cat "$_cv_root/package-lock.json" | sha256sum | cut -c1-16)-$(node --version)"
if [ ! -f "$_cv_stamp" ] || [ "$(cat "$_cv_stamp")" != "$_cv_want" ]; then
  # A fresh tree gets the exact lock with `npm ci`; an existing one is brought up to date
  # incrementally, which keeps native builds (re2 takes minutes) that did not change.
  if [ -d "$_cv_root/node_modules" ]; then _cv_cmd=install; else _cv_cmd=ci; fi
  echo "setup: installing dependencies (npm $_cv_cmd)" >&2
  (cd "$_cv_root" && npm "$_cv_cmd" --no-audit --no-fund) || { echo "setup: npm $_cv_cmd failed" >&2; return 1 2>/dev/null || exit 1; }
  echo "$_cv_want" > "$_cv_stamp"
fi
unset _cv_stamp _cv_want _cv_cmd
