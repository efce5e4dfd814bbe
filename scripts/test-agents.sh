#!/usr/bin/env bash
# The agent conformance suite (docs/clients.md "Conformance"): Node 24 and dependencies (the
# Claude Code and Codex CLIs of the lockfile among them), then run-agents.ts, which runs the
# `agents` vitest project and writes bench/results/agents.json and the matrix in docs/clients.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/provision-node.sh
. scripts/ensure-deps.sh
exec node e2e/src/agents/run-agents.ts "$@"
