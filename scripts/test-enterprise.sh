#!/usr/bin/env bash
# The enterprise suite (docs/enterprise.md): Node 24, dependencies, control-plane binaries, the
# real components it runs against (an OpenTelemetry Collector from the collector builder, Argo
# CD's and Flux's CRDs, each built once and cached; rsyslog and Chromium from Debian packages),
# then run-enterprise.ts, which runs the `enterprise` vitest project and writes
# bench/results/enterprise.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/provision-node.sh
. scripts/ensure-deps.sh
need=()
command -v rsyslogd >/dev/null || need+=(rsyslog)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "test:enterprise: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
export KUBEBUILDER_ASSETS="$(bash scripts/control-plane-binaries.sh)"
bash scripts/otel-collector.sh >/dev/null
bash scripts/gitops-crds.sh >/dev/null
exec node e2e/src/enterprise/run-enterprise.ts "$@"
