#!/usr/bin/env bash
# Sourced: start_dockerd <caller> starts dockerd when it is not reachable (PID 1 is not systemd
# here, so nothing else does) and waits for it. State left by a dockerd or containerd that died
# makes the next one hang, so it is cleared first when neither runs:
# - /run/containerd/containerd.sock of an earlier containerd: dockerd loops on "connection refused";
# - /var/run/docker/containerd/containerd.pid: dockerd's own containerd is taken to be running
#   whenever that pid was reused by any process, and dockerd fails after a minute with
#   "timeout waiting for containerd to start";
# - /var/run/docker.pid: dockerd refuses to start ("process with PID … is still running").
start_dockerd() {
  local caller="$1"
  docker info >/dev/null 2>&1 && return 0
  if ! pgrep -x dockerd >/dev/null; then
    pgrep -x containerd >/dev/null || rm -f /run/containerd/containerd.sock
    rm -f /var/run/docker/containerd/containerd.pid /var/run/docker/containerd/containerd.sock /var/run/docker.pid
    echo "$caller: starting dockerd" >&2
    (dockerd >/var/log/dockerd.log 2>&1 &)
  fi
  for _ in $(seq 90); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
  echo "$caller: dockerd did not start" >&2
  tail -20 /var/log/dockerd.log >&2
  return 1
}
