#!/usr/bin/env bash
# Provides what a real node in the test bed runs: containerd, runc and the CNI plugins (Debian
# packages, installed when missing), and kubelet, kube-proxy, kube-scheduler and kube-controller-manager (the
# apiserver's Kubernetes version, built from the Go module proxy like scripts/control-plane-binaries.sh
# builds kube-apiserver), CoreDNS (Go module proxy), a tiny pause binary, and two images made from
# those static binaries (images/pause.tar, images/coredns.tar, docker-archive format for
# `ctr images import`): there is no registry to pull them from (ADR 0007).
# Cached in the tool cache (~/.cache/codevector or $CODEVECTOR_CACHE), keyed by version. Prints the
# folder.
set -euo pipefail

K8S_VERSION="${CODEVECTOR_K8S_VERSION:-v1.34.4}"
COREDNS_VERSION="${CODEVECTOR_COREDNS_VERSION:-v1.14.7}"
# crictl talks CRI to the node's containerd: teardown removes every pod sandbox through it, so
# containerd unmounts and deletes what it made (network namespaces, shm, rootfs).
CRICTL_VERSION="${CODEVECTOR_CRICTL_VERSION:-v1.34.0}"
# Bump when pause.go below changes.
PAUSE_VERSION=1

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${CODEVECTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codevector}"
dest="$cache/node/k8s-$K8S_VERSION-coredns-$COREDNS_VERSION-crictl-$CRICTL_VERSION-pause-$PAUSE_VERSION"
log() { echo "node-binaries: $*" >&2; }
# shellcheck source=lib/kubernetes-from-source.sh
. "$root/scripts/lib/kubernetes-from-source.sh"

# containerd, runc and the CNI plugins come from the distribution: installed here when missing
# (Debian/Ubuntu, as root; the node needs root anyway).
packages=()
command -v containerd >/dev/null || packages+=(containerd)
command -v runc >/dev/null || packages+=(runc)
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/firewall ] || packages+=(containernetworking-plugins)
command -v iptables >/dev/null || packages+=(iptables)
command -v nsenter >/dev/null || packages+=(util-linux)
if [ "${#packages[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing ${packages[*]} (Debian packages)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}" >&2 ||
      { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}" >&2; }
  else
    log "missing ${packages[*]}: install them (as root) to run a node"
  fi
fi

components=(kubelet kube-proxy kube-scheduler kube-controller-manager)
mkdir -p "$dest/images"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

missing=()
for c in "${components[@]}"; do [ -x "$dest/$c" ] || missing+=("$c"); done
if [ "${#missing[@]}" -gt 0 ]; then
  command -v go >/dev/null || { log "Go is required to build ${missing[*]}"; exit 1; }
  log "building ${missing[*]} $K8S_VERSION from the Go module proxy (minutes when the Go cache is cold, once)"
  k8s_prepare_module "$work/k8s" "$K8S_VERSION"
  k8s_build "$work/k8s" "$K8S_VERSION" "$dest" "${missing[@]}"
fi

if [ ! -x "$dest/coredns" ]; then
  log "building CoreDNS $COREDNS_VERSION from the Go module proxy"
  GOBIN="$work/bin" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
  mv "$work/bin/coredns" "$dest/coredns"
fi

if [ ! -x "$dest/crictl" ]; then
  log "building crictl $CRICTL_VERSION from the Go module proxy"
  GOBIN="$work/bin" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
  mv "$work/bin/crictl" "$dest/crictl"
fi

if [ ! -x "$dest/pause" ]; then
  log "building pause"
  mkdir -p "$work/pause" && cd "$work/pause"
  go mod init codevector.local/pause >/dev/null 2>&1
  cat > pause.go <<'GO'
// The sandbox process of every pod: holds the pod's namespaces, reaps orphaned children (it is
// PID 1 when the pod shares its PID namespace) and exits on SIGTERM or SIGINT.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
GO
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dest/pause.tmp" . && mv "$dest/pause.tmp" "$dest/pause"
  cd "$root"
fi

# The node tests' image (testbed/probe/probe.go): keyed by the source's hash, so an edit rebuilds it.
probe_src="$root/testbed/probe/probe.go"
probe="$dest/probe-$(sha256sum "$probe_src" | cut -c1-12)"
if [ ! -x "$probe" ]; then
  log "building the probe test image"
  mkdir -p "$work/probe" && cp "$probe_src" "$work/probe/" && cd "$work/probe"
  go mod init codevector.local/probe >/dev/null 2>&1
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$probe.tmp" . && mv "$probe.tmp" "$probe"
  cd "$root"
fi

# image <tar> <name:tag> <binary> <name in image>: a one-layer image holding /<name>, its
# entrypoint, written the way `docker save` writes it (ctr, docker and podman all import that).
image() {
  [ -s "$1" ] && [ "$1" -nt "$3" ] && return 0
  python3 - "$@" <<'PY'
import hashlib, io, json, os, sys, tarfile
out, ref, binary, name = sys.argv[1:]
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as t:
    for d in ("etc", "tmp"):
        info = tarfile.TarInfo(d); info.type = tarfile.DIRTYPE; info.mode = 0o1777 if d == "tmp" else 0o755
        t.addfile(info)
    info = t.gettarinfo(binary, arcname=name); info.uid = info.gid = 0; info.uname = info.gname = ""; info.mtime = 0
    with open(binary, "rb") as f:
        t.addfile(info, f)
layer_bytes = layer.getvalue()
diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
config = {
    "architecture": "amd64", "os": "linux",
    "config": {"Entrypoint": ["/" + name], "Env": ["PATH=/"], "WorkingDir": "/"},
    "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    "history": [{"created_by": "scripts/node-binaries.sh"}],
}
config_bytes = json.dumps(config, sort_keys=True).encode()
config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
layer_dir = diff_id[7:]
manifest = [{"Config": config_name, "RepoTags": [ref], "Layers": [layer_dir + "/layer.tar"]}]
with tarfile.open(out + ".tmp", mode="w") as t:
    def add(path, data):
        info = tarfile.TarInfo(path); info.size = len(data); info.mode = 0o644
        t.addfile(info, io.BytesIO(data))
    add(config_name, config_bytes)
    add(layer_dir + "/layer.tar", layer_bytes)
    add("manifest.json", json.dumps(manifest).encode())
os.replace(out + ".tmp", out)
PY
}
image "$dest/images/pause.tar" "local/pause:$PAUSE_VERSION" "$dest/pause" pause
image "$dest/images/coredns.tar" "local/coredns:$COREDNS_VERSION" "$dest/coredns" coredns
image "$dest/images/probe.tar" "local/probe:1" "$probe" probe

for b in "${components[@]}" coredns crictl pause; do
  [ -x "$dest/$b" ] || { log "missing $dest/$b"; exit 1; }
done
echo "$dest"
