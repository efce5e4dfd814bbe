# Sourced by scripts/kind-node-image.sh and e2e/kind/run.sh: runs kind so that its containers
# start on machines whose root lacks CAP_SYS_RESOURCE (these VMs; e2e/kind/README.md). There runc
# refuses every container or exec that asks for all capabilities (`docker run --privileged`,
# `docker exec --privileged`, both of which kind uses) with "unable to apply caps: operation not
# permitted". kind then runs docker through e2e/kind/bin/docker, which starts kind's containers
# on an extra dockerd runtime (registered here, never the default) that drops that capability
# from the request (e2e/kind/bin/runc-without-sys-resource). Elsewhere: nothing changes.

kind_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
kind_cap_bnd="$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)"
kind_no_sys_resource=false
(((0x$kind_cap_bnd >> 24) & 1)) || kind_no_sys_resource=true

# kind_prepare_docker: registers the runtime with dockerd when this machine needs it.
kind_prepare_docker() {
  $kind_no_sys_resource || return 0
  local cache runtime f
  cache="${CODEVECTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codevector}"
  runtime="$cache/kind-runtime/runc-without-sys-resource"
  mkdir -p "$(dirname "$runtime")"
  cmp -s "$kind_root/e2e/kind/bin/runc-without-sys-resource" "$runtime" ||
    install -m 0755 "$kind_root/e2e/kind/bin/runc-without-sys-resource" "$runtime"
  f=/etc/docker/daemon.json
  if [ "$(jq -r '.runtimes["codevector-kind"].path // ""' "$f" 2>/dev/null)" = "$runtime" ] &&
    docker info --format '{{json .Runtimes}}' | grep -q '"codevector-kind"'; then
    return 0
  fi
  echo "kind: registering the dockerd runtime codevector-kind (root lacks CAP_SYS_RESOURCE: CapBnd $kind_cap_bnd)" >&2
  mkdir -p /etc/docker
  [ -s "$f" ] || echo '{}' >"$f"
  jq --arg p "$runtime" '.runtimes["codevector-kind"] = {path: $p}' "$f" >"$f.tmp" && mv "$f.tmp" "$f"
  # SIGHUP reloads the runtimes; no container restarts.
  kill -HUP "$(cat /var/run/docker.pid 2>/dev/null || pgrep -xo dockerd)"
  for _ in $(seq 20); do docker info --format '{{json .Runtimes}}' | grep -q '"codevector-kind"' && return 0; sleep 0.5; done
  echo "kind: dockerd did not load the runtime codevector-kind" >&2
  return 1
}

# kind_with_docker <kind binary> <args>...
kind_with_docker() {
  if $kind_no_sys_resource; then PATH="$kind_root/e2e/kind/bin:$PATH" "$@"; else "$@"; fi
}
