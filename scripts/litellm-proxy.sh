#!/usr/bin/env bash
# Provides the LiteLLM proxy (`litellm[proxy]` from PyPI), the second peer of the gateway bench
# (bench/src/gateway.ts, ADR 0116), installed once into a virtualenv in the tool cache
# (${CODEVECTOR_CACHE:-~/.cache/codevector}/litellm-<version>, outside the clone, keyed by version so
# fresh clones and CI reuse it). LITELLM_BIN points at a `litellm` executable to use instead.
# Prints the path of the `litellm` executable.
set -euo pipefail

# Pinned: the newest release whose `proxy` extra resolves on the registry reached here (1.107 and
# later pin litellm-proxy / litellm-proxy-extras / litellm-enterprise builds that are not served).
LITELLM_VERSION="${CODEVECTOR_LITELLM_VERSION:-1.106.12}"
cache="${CODEVECTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codevector}"
dest="$cache/litellm-$LITELLM_VERSION"
log() { echo "litellm: $*" >&2; }

if [ -n "${LITELLM_BIN:-}" ] && [ -x "$LITELLM_BIN" ]; then
  echo "$LITELLM_BIN"; exit 0
fi
# A venv's scripts name their interpreter by absolute path, so it is built in place; `.complete`
# marks an install that finished (an interrupted one is started over).
if [ ! -f "$dest/.complete" ]; then
  # LiteLLM supports Python 3.9-3.13; take the newest interpreter of those that is installed.
  python=""
  for candidate in python3.13 python3.12 python3.11 python3.10 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys, venv; sys.exit(0 if (3, 9) <= sys.version_info[:2] <= (3, 13) else 1)' 2>/dev/null; then
      python="$(command -v "$candidate")"; break
    fi
  done
  [ -n "$python" ] || { log "needs Python 3.9-3.13 with venv (apt-get install python3-venv)"; exit 1; }
  log "installing litellm[proxy] $LITELLM_VERSION into $dest with $("$python" --version) (once, a few minutes)"
  rm -rf "$dest"
  "$python" -m venv "$dest"
  "$dest/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "litellm[proxy]==$LITELLM_VERSION"
  touch "$dest/.complete"
fi
echo "$dest/bin/litellm"
