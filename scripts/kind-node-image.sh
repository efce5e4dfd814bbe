#!/usr/bin/env bash
# A kind node image made without a container registry (e2e/kind/README.md). kind's own builder
# (`kind build node-image --type file <server tarball> --base-image <base>`) does the work; what
# it would download is made here:
#  - kind itself, `go install sigs.k8s.io/kind@<version>` from the Go module proxy;
#  - the base image (what kindest/base holds): a debootstrap minbase of Debian bookworm with
#    kind's package list, runc and the CNI plugins from Debian (as the test bed's node, ADR 0007),
#    containerd at kind's version from the Go module proxy, crictl from scripts/node-binaries.sh
#    and kind's images/base/files from the kind module; bookworm, not kind's trixie, because
#    trixie's systemd no longer boots on cgroup v1, which these machines have;
#  - a Kubernetes server tarball laid out like the release one: kubeadm, kubelet, kubectl and the
#    kube-apiserver/-controller-manager/-scheduler/-proxy image archives, from the binaries the test
#    bed builds (control-plane-binaries.sh, node-binaries.sh) plus kubeadm built here the same way;
#  - every other image the builder would pull, inside kube-apiserver.tar (the builder pulls only
#    images it does not find in the side-loaded archives): etcd and CoreDNS at the versions
#    `kubeadm config images list` names (built from the Go module proxy), the test bed's pause,
#    local-path-provisioner (Go module proxy) and its helper (sh, rm, mkdir from the base), and a
#    placeholder under kindnetd's name (see below).
# kindnetd, kind's CNI, is not a published Go module and its image is only in a registry: the
# placeholder satisfies the builder and fails if run; clusters from this image set
# networking.disableDefaultCNI and mount a bridge CNI configuration (e2e/kind/run.sh does).
# Everything is cached in the tool cache (~/.cache/codevector or $CODEVECTOR_CACHE) under
# kind-<version>/, keyed by version and content. Needs root, Go, debootstrap and a running dockerd.
# Options: --kind-only (build kind, print its path). Prints the node image's name last.
set -euo pipefail

KIND_VERSION="${CODEVECTOR_KIND_VERSION:-v0.33.0}"
K8S_VERSION="${CODEVECTOR_K8S_VERSION:-v1.34.4}"
# The newest release the Go module proxy serves here (kind's own image builds v0.0.34 from git).
LOCAL_PATH_VERSION="${CODEVECTOR_LOCAL_PATH_VERSION:-v0.0.30}"
SUITE=bookworm
# Bump when the base steps below change.
BASE_REVISION=2
BASE_PACKAGES=systemd,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,fuse-overlayfs,e2fsprogs,bash,ca-certificates,curl,jq,procps,runc,containernetworking-plugins
PAUSE_REF=docker.io/local/pause:1

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${CODEVECTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codevector}"
kdir="$cache/kind-$KIND_VERSION"
log() { echo "kind-node-image: $*" >&2; }
seconds() { echo $(($(date +%s) - $1)); }
mkdir -p "$kdir/bin"

gobin() { # <output> <go install target>: a static binary from the Go module proxy, once
  [ -x "$1" ] && return 0
  local w; w="$(mktemp -d)"
  log "building $2 from the Go module proxy"
  GOBIN="$w" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "$2"
  mv "$w/$(basename "${2%@*}")" "$1"; rm -rf "$w"
}

kind="$kdir/kind"
gobin "$kind" "sigs.k8s.io/kind@$KIND_VERSION"
[ "${1:-}" = "--kind-only" ] && { echo "$kind"; exit 0; }

docker info >/dev/null 2>&1 || { log "dockerd is not reachable (start it: dockerd >/var/log/dockerd.log 2>&1 &)"; exit 1; }
kind_src="$(go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
[ -d "$kind_src/images/base/files" ] || { log "kind's source is not in the module cache: $kind_src"; exit 1; }

# --- Kubernetes binaries: the test bed's, plus kubeadm built the same way ----------------------
cp_dir="$(bash "$root/scripts/control-plane-binaries.sh")"
node_dir="$(bash "$root/scripts/node-binaries.sh")"
k8s_dir="$kdir/k8s-$K8S_VERSION"
mkdir -p "$k8s_dir"
if [ ! -x "$k8s_dir/kubeadm" ]; then
  # shellcheck source=lib/kubernetes-from-source.sh
  . "$root/scripts/lib/kubernetes-from-source.sh"
  log "building kubeadm $K8S_VERSION from the Go module proxy"
  w="$(mktemp -d)"
  k8s_prepare_module "$w/k8s" "$K8S_VERSION"
  k8s_build "$w/k8s" "$K8S_VERSION" "$k8s_dir" kubeadm
  rm -rf "$w"
fi

# The images kubeadm runs, at the versions this kubeadm names.
mapfile -t kubeadm_images < <("$k8s_dir/kubeadm" config images list --kubernetes-version "$K8S_VERSION")
etcd_ref="$(printf '%s\n' "${kubeadm_images[@]}" | grep '/etcd:')"
coredns_ref="$(printf '%s\n' "${kubeadm_images[@]}" | grep '/coredns:')"
etcd_tag="${etcd_ref##*:}"; etcd_version="v${etcd_tag%-*}"   # 3.6.5-0 -> v3.6.5
coredns_version="${coredns_ref##*:}"
etcd="$kdir/bin/etcd-$etcd_version"
if [ ! -x "$etcd" ]; then
  log "building etcd $etcd_version (kubeadm's) from the Go module proxy"
  w="$(mktemp -d)"
  (cd "$w" && go mod init codevector.local/etcd >/dev/null 2>&1 && go get "go.etcd.io/etcd/server/v3@$etcd_version" >/dev/null 2>&1 &&
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$etcd.tmp" go.etcd.io/etcd/server/v3) && mv "$etcd.tmp" "$etcd"
  rm -rf "$w"
fi
coredns="$kdir/bin/coredns-$coredns_version"
gobin "$coredns" "github.com/coredns/coredns@$coredns_version"
local_path="$kdir/bin/local-path-provisioner-$LOCAL_PATH_VERSION"
gobin "$local_path" "github.com/rancher/local-path-provisioner@$LOCAL_PATH_VERSION"

# containerd at the version kind's base image builds (its builder needs containerd 2's `ctr info`;
# Debian bookworm has 1.6), from the Go module proxy with kind's build tags.
containerd_version="$(sed -n 's/^ARG CONTAINERD_VERSION="\(.*\)"/\1/p' "$kind_src/images/base/Dockerfile")"
[ -n "$containerd_version" ] || { log "could not read CONTAINERD_VERSION from kind's images/base/Dockerfile"; exit 1; }
containerd_dir="$kdir/containerd-$containerd_version"
if [ ! -x "$containerd_dir/containerd" ] || [ ! -x "$containerd_dir/ctr" ] || [ ! -x "$containerd_dir/containerd-shim-runc-v2" ]; then
  log "building containerd $containerd_version (kind's) from the Go module proxy"
  w="$(mktemp -d)"; mkdir -p "$containerd_dir"
  GOBIN="$w" CGO_ENABLED=0 go install -trimpath -tags "no_aufs no_zfs no_btrfs no_devmapper" \
    -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$containerd_version" \
    "github.com/containerd/containerd/v2/cmd/containerd@$containerd_version" \
    "github.com/containerd/containerd/v2/cmd/ctr@$containerd_version" \
    "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$containerd_version"
  mv "$w"/* "$containerd_dir/"; rm -rf "$w"
fi

# The names kind's builder and manifests use for its add-ons.
cni_ref="$(sed -n 's/^const kindnetdImage = "\(.*\)"/\1/p' "$kind_src/pkg/build/nodeimage/const_cni.go")"
lpp_ref="$(sed -n 's/^const storageProvisionerImage = "\(.*\)"/\1/p' "$kind_src/pkg/build/nodeimage/const_storage.go")"
helper_ref="$(sed -n 's/^const storageHelperImage = "\(.*\)"/\1/p' "$kind_src/pkg/build/nodeimage/const_storage.go")"
[ -n "$cni_ref" ] && [ -n "$lpp_ref" ] && [ -n "$helper_ref" ] || { log "could not read kind's add-on image names from $kind_src"; exit 1; }

# --- The base image -----------------------------------------------------------------------------
base_key="$( (echo "$SUITE $BASE_PACKAGES $BASE_REVISION $PAUSE_REF"; sha256sum "$node_dir/crictl" "$containerd_dir"/*;
  cd "$kind_src/images/base/files" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-12)"
base_tar="$kdir/base-$SUITE-$base_key.tar"
base_image="local/kind-base:$KIND_VERSION-$SUITE-$base_key"

build_base_rootfs() {
  local started r f w
  started=$(date +%s)
  command -v debootstrap >/dev/null || { log "debootstrap is required (apt-get install debootstrap)"; exit 1; }
  w="$(mktemp -d)"; r="$w/rootfs"
  log "debootstrap --variant=minbase $SUITE with kind's packages (a few minutes)"
  debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$r" >"$w/debootstrap.log" 2>&1 || { tail -20 "$w/debootstrap.log" >&2; exit 1; }
  f="$kind_src/images/base/files"
  # What kind's images/base/Dockerfile copies and runs, on this root.
  mkdir -p "$r/kind/bin" "$r/LICENSES" "$r/etc/containerd" "$r/etc/default" "$r/etc/sysctl.d" "$r/etc/systemd/system/kubelet.service.d" "$r/opt/cni/bin"
  install -m 0755 "$f"/usr/local/bin/* "$r/usr/local/bin/"
  install -m 0644 "$f/kind/README.txt" "$r/kind/"; install -m 0755 "$f"/kind/bin/* "$r/kind/bin/"
  install -m 0644 "$f"/LICENSES/* "$r/LICENSES/"
  install -m 0644 "$f/etc/crictl.yaml" "$r/etc/"
  install -m 0644 "$f/etc/containerd/config.toml" "$r/etc/containerd/"
  install -m 0644 "$f/etc/default/kubelet" "$r/etc/default/"
  install -m 0644 "$f"/etc/sysctl.d/* "$r/etc/sysctl.d/"
  install -m 0644 "$f"/etc/systemd/system/*.service "$f"/etc/systemd/system/*.slice "$r/etc/systemd/system/"
  install -m 0644 "$f"/etc/systemd/system/kubelet.service.d/* "$r/etc/systemd/system/kubelet.service.d/"
  install -m 0755 "$containerd_dir"/{containerd,ctr,containerd-shim-runc-v2} "$r/usr/local/bin/"
  install -m 0755 "$node_dir/crictl" "$r/usr/local/bin/crictl"
  for p in host-local loopback ptp portmap bridge firewall; do install -m 0755 "$r/usr/lib/cni/$p" "$r/opt/cni/bin/$p"; done
  # The sandbox image is the test bed's pause (shipped in the node image below).
  sed -i "s#^\(\s*sandbox_image = \).*#\1\"$PAUSE_REF\"#" "$r/etc/containerd/config.toml"
  grep -q "sandbox_image = \"$PAUSE_REF\"" "$r/etc/containerd/config.toml" || { log "could not set sandbox_image"; exit 1; }
  chroot "$r" bash -euc '
    find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete
    rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* /lib/systemd/system/local-fs.target.wants/* \
      /lib/systemd/system/sockets.target.wants/*udev* /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
    echo ReadKMsg=no >> /etc/systemd/journald.conf
    ln -sf /usr/lib/systemd/systemd /sbin/init
    systemctl enable kubelet.service containerd.service undo-mount-hacks.service
    systemctl mask systemd-binfmt.service
    mkdir -p /etc/kubernetes/manifests
    ctr oci spec | jq ".hooks.createContainer[.hooks.createContainer | length] |= . + {\"path\": \"/kind/bin/mount-product-files.sh\"}" \
      | jq "del(.process.rlimits)" > /etc/containerd/cri-base.json
    apt-get clean
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/*
  ' >&2
  tar -C "$r" --numeric-owner -cf "$base_tar.tmp" . && mv "$base_tar.tmp" "$base_tar"
  rm -rf "$w"
  log "base root file system cached in $base_tar ($(seconds "$started") s)"
}

if ! docker image inspect "$base_image" >/dev/null 2>&1; then
  [ -f "$base_tar" ] || build_base_rootfs
  started=$(date +%s)
  docker import "$base_tar" "$base_image-rootfs" >/dev/null
  # docker import cannot set STOPSIGNAL; the rest of kind's final stage.
  printf 'FROM %s\nENV container=docker\nSTOPSIGNAL SIGRTMIN+3\nENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]\n' "$base_image-rootfs" |
    DOCKER_BUILDKIT=0 docker build -q -t "$base_image" - >/dev/null 2>&1
  docker rmi "$base_image-rootfs" >/dev/null
  log "imported $base_image ($(seconds "$started") s)"
fi

# --- Image archives and the server tarball --------------------------------------------------------
ar_key="$( (echo "$K8S_VERSION $etcd_ref $coredns_ref $cni_ref $lpp_ref $helper_ref $PAUSE_REF $base_key";
  sha256sum "$cp_dir/kube-apiserver" "$cp_dir/kubectl" "$node_dir"/{kubelet,kube-proxy,kube-scheduler,kube-controller-manager,pause} \
    "$k8s_dir/kubeadm" "$etcd" "$coredns" "$local_path" "$root/scripts/lib/write-image-archive.py" "${BASH_SOURCE[0]}" | cut -d' ' -f1) |
  sha256sum | cut -c1-12)"
node_image="local/kind-node:$K8S_VERSION-$ar_key"
if docker image inspect "$node_image" >/dev/null 2>&1; then
  log "cached $node_image"; echo "$node_image"; exit 0
fi

started=$(date +%s)
w="$(mktemp -d)"; trap 'rm -rf "$w"' EXIT
bin="$w/kubernetes/server/bin"
mkdir -p "$bin"
echo "$K8S_VERSION" >"$w/kubernetes/version"
install -m 0755 "$k8s_dir/kubeadm" "$bin/kubeadm"
install -m 0755 "$node_dir/kubelet" "$bin/kubelet"
install -m 0755 "$cp_dir/kubectl" "$bin/kubectl"

# Files for the images that need more than one static binary, staged from the base root: the
# binaries, what they load (ldd) and their dpkg copyright files.
stage="$w/stage"; mkdir -p "$stage/root"
tar -C "$stage/root" -xf "$base_tar"
stage_binaries() { # <dest> <binary in the base>...: each with the libraries it loads (ldd), merged-/usr
  local dest="$1" p; shift
  mkdir -p "$dest/usr/bin" "$dest/usr/sbin" "$dest/usr/lib" "$dest/usr/lib64"
  for p in bin sbin lib lib64; do ln -sfn "usr/$p" "$dest/$p"; done
  chroot "$stage/root" /bin/bash -c '
    for b in "$@"; do
      for f in "$b" $(ldd "$b" 2>/dev/null | sed -E "s#.* => ##" | awk "\$1 ~ /^\// {print \$1}"); do
        echo "$(realpath "$(dirname "$f")")/$(basename "$f")"
        realpath "$f"
      done
    done' _ "$@" | sort -u | while read -r p; do
    mkdir -p "$dest$(dirname "$p")"; cp -a "$stage/root$p" "$dest$p"
  done
}
# local-path-helper: sh, rm and mkdir (kind's image: the same three from Debian).
stage_binaries "$stage/helper" /usr/bin/dash /usr/bin/rm /usr/bin/mkdir
ln -sf dash "$stage/helper/usr/bin/sh"
# kube-proxy: iptables (legacy and nft, chosen on first use like the node's entrypoint does), nft
# and conntrack.
# The xtables extensions are loaded at run time (libxt_statistic.so needs libm, for one): staged
# with their libraries too.
mapfile -t xtables < <(cd "$stage/root" && ls usr/lib/x86_64-linux-gnu/xtables/*.so | sed 's#^#/#')
stage_binaries "$stage/proxy" /usr/sbin/xtables-legacy-multi /usr/sbin/xtables-nft-multi /usr/sbin/nft /usr/sbin/conntrack \
  /usr/bin/dash /usr/bin/grep /usr/bin/ln /usr/bin/timeout "${xtables[@]}"
ln -sf dash "$stage/proxy/usr/bin/sh"
cat >"$stage/proxy/usr/sbin/iptables-wrapper" <<'SH'
#!/bin/sh
# Points iptables* at the legacy or the nft backend, whichever holds more rules in this network
# namespace (ties: legacy), the rule kind's node entrypoint uses, then runs the command.
legacy=$( (xtables-legacy-multi iptables-save; xtables-legacy-multi ip6tables-save) 2>/dev/null | grep -c '^-')
nft=$( (timeout 5 xtables-nft-multi iptables-save; timeout 5 xtables-nft-multi ip6tables-save) 2>/dev/null | grep -c '^-')
if [ "${legacy:-0}" -ge "${nft:-0}" ]; then mode=legacy; else mode=nft; fi
for c in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
  ln -sf "xtables-$mode-multi" "/usr/sbin/$c"
done
exec "$0" "$@"
SH
chmod 0755 "$stage/proxy/usr/sbin/iptables-wrapper"
proxy_links=""
for c in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
  proxy_links="$proxy_links[\"/usr/sbin/$c\", \"iptables-wrapper\"],"
done
printf 'This image only fills the name kind'"'"'s node-image builder pulls for kindnetd: kindnetd is not a\npublished Go module and its image is only in a registry. Clusters from this node image disable\nkind'"'"'s default CNI (networking.disableDefaultCNI) and mount a bridge CNI configuration instead.\n' >"$w/KINDNETD-NOT-AVAILABLE.txt"

k8s_image() { # <component> <binary>: a spec entry for registry.k8s.io/<component>:<version>
  printf '{"ref": "registry.k8s.io/%s:%s", "files": [["%s", "/usr/local/bin/%s"]]}' "$1" "$K8S_VERSION" "$2" "$1"
}
for c in kube-controller-manager kube-scheduler; do
  echo "[$(k8s_image "$c" "$node_dir/$c")]" >"$w/$c.json"
done
cat >"$w/kube-proxy.json" <<JSON
[{"ref": "registry.k8s.io/kube-proxy:$K8S_VERSION",
  "files": [["$node_dir/kube-proxy", "/usr/local/bin/kube-proxy"], ["$stage/proxy", "/"]],
  "symlinks": [${proxy_links%,}]}]
JSON
cat >"$w/kube-apiserver.json" <<JSON
[$(k8s_image kube-apiserver "$cp_dir/kube-apiserver"),
 {"ref": "$etcd_ref", "files": [["$etcd", "/usr/local/bin/etcd"]]},
 {"ref": "$coredns_ref", "files": [["$coredns", "/coredns"]], "entrypoint": ["/coredns"]},
 {"ref": "$PAUSE_REF", "files": [["$node_dir/pause", "/pause"]], "entrypoint": ["/pause"]},
 {"ref": "$lpp_ref", "files": [["$local_path", "/usr/local/bin/local-path-provisioner"]], "entrypoint": ["/usr/local/bin/local-path-provisioner"]},
 {"ref": "$helper_ref", "files": [["$stage/helper", "/"]]},
 {"ref": "$cni_ref", "files": [["$w/KINDNETD-NOT-AVAILABLE.txt", "/KINDNETD-NOT-AVAILABLE.txt"]],
  "entrypoint": ["/kindnetd-is-not-available-offline"],
  "labels": {"org.opencontainers.image.description": "placeholder: kindnetd is not available without a registry"}}]
JSON
for c in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
  python3 "$root/scripts/lib/write-image-archive.py" "$bin/$c.tar" "$w/$c.json"
  echo "$K8S_VERSION" >"$bin/$c.docker_tag"
done
tarball="$w/kubernetes-server-linux-amd64.tar.gz"
tar -C "$w" -cf - kubernetes | gzip -1 >"$tarball"
log "server tarball $(du -m "$tarball" | cut -f1) MB ($(seconds "$started") s)"

started=$(date +%s)
log "kind build node-image --type file ... --base-image $base_image"
# shellcheck source=lib/kind-docker.sh
. "$root/scripts/lib/kind-docker.sh"
kind_prepare_docker
kind_with_docker "$kind" build node-image --type file "$tarball" --base-image "$base_image" --image "$node_image" >&2
log "built $node_image ($(seconds "$started") s, $(($(docker image inspect -f '{{.Size}}' "$node_image") / 1000000)) MB)"
# Earlier node and base images (about 1 GB and 0.3 GB each) go, unless a cluster still runs on one.
for old in $(docker images --format '{{.Repository}}:{{.Tag}}' local/kind-node; docker images --format '{{.Repository}}:{{.Tag}}' local/kind-base); do
  [ "$old" = "$node_image" ] || [ "$old" = "$base_image" ] || docker rmi "$old" >/dev/null 2>&1 || true
done
echo "$node_image"
