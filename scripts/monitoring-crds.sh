#!/usr/bin/env bash
# The Prometheus Operator's ServiceMonitor CustomResourceDefinition, for the chart test that
# dry-runs the chart's ServiceMonitor against a real apiserver (issue #13 §6): taken from the
# project's own Go module (its zip carries the manifests), cached in the tool cache by version.
# Prints the folder holding the YAML file.
set -euo pipefail

VERSION="${CODEVECTOR_PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
cache="${CODEVECTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codevector}"
dest="$cache/monitoring-crds/prometheus-operator-$VERSION"

if [ -f "$dest/.complete" ]; then echo "$dest"; exit 0; fi
command -v go >/dev/null || { echo "monitoring-crds: Go is required to fetch the Prometheus Operator module" >&2; exit 1; }
dir="$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
mkdir -p "$dest"
cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" "$dest/servicemonitors.yaml"
chmod -R u+w "$dest"
touch "$dest/.complete"
echo "$dest"
