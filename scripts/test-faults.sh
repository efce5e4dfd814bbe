#!/usr/bin/env bash
# The fault suite (docs/reliability.md): Node 24, dependencies, control-plane binaries and
# toxiproxy (each built once and cached), then run-faults.ts, which runs the `faults` vitest
# project (`--soak` adds the 10-minute soak) and writes bench/results/reliability.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/provision-node.sh
. scripts/ensure-deps.sh
export KUBEBUILDER_ASSETS="$(bash scripts/control-plane-binaries.sh)"
export TOXIPROXY_SERVER="$(bash scripts/toxiproxy-binary.sh)"
exec node e2e/src/faults/run-faults.ts "$@"
