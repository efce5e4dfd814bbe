#!/usr/bin/env bash
# promql-check: Prometheus' own PromQL parser (github.com/prometheus/prometheus/promql/parser)
# in a ten-line program, built from the Go module proxy and cached in the tool cache by version,
# for the test of the chart's Grafana dashboard (e2e/src/metrics-dashboard.test.ts). It reads a
# JSON array of PromQL expressions on stdin and writes, for each, the parse error or the metric
# names its selectors name. Prints the binary's path.
set -euo pipefail

VERSION="${CODEVECTOR_PROMETHEUS_VERSION:-v0.316.0}"
cache="${CODEVECTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codevector}"
dest="$cache/promql-check-prometheus-$VERSION"

if [ -x "$dest/promql-check" ]; then echo "$dest/promql-check"; exit 0; fi
command -v go >/dev/null || { echo "promql-check: Go is required to build it" >&2; exit 1; }
mkdir -p "$cache"
work="$(mktemp -d "$cache/promql-check.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cat >"$work/main.go" <<'GO'
package main

import (
	"encoding/json"
	"os"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

type result struct {
	Error   string   `json:"error,omitempty"`
	Metrics []string `json:"metrics"`
}

func main() {
	var exprs []string
	if err := json.NewDecoder(os.Stdin).Decode(&exprs); err != nil {
		panic(err)
	}
	promql := parser.NewParser(parser.Options{})
	out := make([]result, 0, len(exprs))
	for _, text := range exprs {
		r := result{Metrics: []string{}}
		expr, err := promql.ParseExpr(text)
		if err != nil {
			r.Error = err.Error()
		} else {
			parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
				if vs, ok := node.(*parser.VectorSelector); ok {
					name := vs.Name
					for _, m := range vs.LabelMatchers {
						if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
							name = m.Value
						}
					}
					r.Metrics = append(r.Metrics, name)
				}
				return nil
			})
		}
		out = append(out, r)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}
}
GO
(
  cd "$work"
  go mod init codevector.dev/promql-check >/dev/null 2>&1
  go get "github.com/prometheus/prometheus@$VERSION" >&2
  go mod tidy >&2
  CGO_ENABLED=0 go build -o promql-check . >&2
)
rm -rf "$dest"
mkdir -p "$dest"
mv "$work/promql-check" "$dest/promql-check"
echo "$dest/promql-check"
