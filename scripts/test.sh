#!/usr/bin/env bash
# The whole suite (README "Test"): Node 24, dependencies, control-plane binaries, then
# generated-file checks, types, lint and every vitest project against real PostgreSQL,
# a real kube-apiserver + etcd and a real browser.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/provision-node.sh
. scripts/ensure-deps.sh
bins="$(bash scripts/control-plane-binaries.sh)"
export KUBEBUILDER_ASSETS="$bins"

echo "== typecheck"
npx tsc -p tsconfig.json
if [ -f console/web/tsconfig.json ]; then npx tsc -p console/web/tsconfig.json; fi
echo "== lint"
npx biome ci .
echo "== tests"
npx vitest run "$@"
