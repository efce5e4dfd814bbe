#!/usr/bin/env bash
# Smoke check of the product image: bash scripts/smoke-image.sh [image]   (ADR 0005)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/provision-node.sh"
exec node --disable-warning=ExperimentalWarning "$root/scripts/smoke-image.ts" "$@"
