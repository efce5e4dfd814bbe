#!/usr/bin/env bash
# The cluster e2e (docs/install.md, issue #11): builds or reuses the product and evaluation
# PostgreSQL images, starts the test bed's control plane and a real node, installs, upgrades, rolls
# back and uninstalls the chart with docs/install.md's commands and drives real clients through the
# Services. Writes bench/results/cluster.json. Needs root, dockerd (started here when not running),
# containerd, runc, the CNI plugins and debootstrap (Debian packages; .ci/run installs them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$(date +%s)
. scripts/provision-node.sh
. scripts/ensure-deps.sh
export KUBEBUILDER_ASSETS="$(bash scripts/control-plane-binaries.sh)"
. scripts/lib/start-dockerd.sh
start_dockerd e2e-cluster
status=0
CODEVECTOR_CLUSTER=1 npx vitest run --project cluster "$@" || status=$?
echo "e2e-cluster: $(( $(date +%s) - start )) s"
exit $status
