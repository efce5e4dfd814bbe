#!/usr/bin/env bash
# An OpenTelemetry Collector for the audit-streaming tests (issue #13 §3): built with the
# collector builder (ocb) from the Go module proxy with exactly the components the tests use —
# the OTLP receiver (audit rows over OTLP/HTTP) and the file exporter (what arrived, for the
# test to read). The collector's syslog receiver is not buildable from the module proxy here
# (its pkg/stanza dependency is not served), so syslog is tested against rsyslog. Cached in the tool cache by
# version; prints the binary's path.
set -euo pipefail

OTEL_VERSION="${CODEVECTOR_OTEL_VERSION:-0.161.0}"
cache="${CODEVECTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codevector}"
dest="$cache/otel-collector-v$OTEL_VERSION"
bin="$dest/otelcol-codevector"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
command -v go >/dev/null || { echo "otel-collector: Go is required to build the collector once" >&2; exit 1; }
echo "otel-collector: building v$OTEL_VERSION with the collector builder (a few minutes, once)" >&2
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
GOBIN="$work/bin" go install "go.opentelemetry.io/collector/cmd/builder@v$OTEL_VERSION" >&2
cat > "$work/builder.yaml" <<YAML
dist:
  name: otelcol-codevector
  description: OpenTelemetry Collector for CodeVector's audit-streaming tests
  output_path: $work/build
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver v$OTEL_VERSION
exporters:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter v$OTEL_VERSION
YAML
(cd "$work" && CGO_ENABLED=0 "$work/bin/builder" --config "$work/builder.yaml" >&2)
mkdir -p "$dest"
mv "$work/build/otelcol-codevector" "$bin.tmp" && mv "$bin.tmp" "$bin"
echo "$bin"
