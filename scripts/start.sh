#!/usr/bin/env bash
# Set up and run (README): Node 24, dependencies, the web console build, then every service on
# embedded PostgreSQL (scripts/start.ts). No cluster needed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/provision-node.sh
. scripts/ensure-deps.sh
if [ -f console/web/package.json ] && grep -q '"build"' console/web/package.json; then
  if [ ! -f console/web/dist/index.html ] || [ -n "$(find console/web/src console/web/index.html -newer console/web/dist/index.html 2>/dev/null | head -1)" ]; then
    echo "setup: building the web console" >&2
    npm run --silent -w console/web build
  fi
fi
exec node --disable-warning=ExperimentalWarning scripts/start.ts "$@"
