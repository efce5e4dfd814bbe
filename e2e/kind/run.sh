#!/usr/bin/env bash
# Full-cluster smoke run on kind (needs Docker). See README.md beside this file.
#   bash e2e/kind/run.sh [--offline | --online]   # cluster, images, docs/install.md's install, examples/
#   bash e2e/kind/run.sh --down                    # delete the cluster and its files
# --online uses kind's default node image (pulled from its registry); --offline builds the node
# image locally (scripts/kind-node-image.sh) and runs without any registry; the default picks
# --online when that image can be pulled. Tools: kind, kubectl and helm from PATH, else built or
# unpacked into the tool cache (scripts/kind-node-image.sh --kind-only, control-plane-binaries.sh).
set -euo pipefail
cluster="${KIND_CLUSTER:-codevector-e2e}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/e2e/kind"
cache="${CODEVECTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codevector}"
work="$cache/kind-clusters/$cluster"
mode=auto
case "${1:-}" in
  --offline) mode=offline ;;
  --online) mode=online ;;
  --down | "") ;;
  *) echo "usage: $0 [--offline | --online | --down]" >&2; exit 2 ;;
esac
log() { echo "kind-e2e: $*" >&2; }
t0=$(date +%s)
mark() { log "$1 ($(($(date +%s) - t0)) s since start)"; }

kind="$(command -v kind || bash "$root/scripts/kind-node-image.sh" --kind-only)"
if ! command -v kubectl >/dev/null || ! command -v helm >/dev/null; then
  PATH="$PATH:$(bash "$root/scripts/control-plane-binaries.sh")"
fi
for tool in docker kubectl helm; do command -v "$tool" >/dev/null || { log "missing $tool"; exit 1; }; done
docker info >/dev/null 2>&1 || { log "dockerd is not reachable"; exit 1; }

# This machine's kind workaround (README.md, scripts/lib/kind-docker.sh).
# shellcheck source=../../scripts/lib/kind-docker.sh
. "$root/scripts/lib/kind-docker.sh"
no_sys_resource=$kind_no_sys_resource
kind_() { kind_with_docker "$kind" "$@"; }

if [ "${1:-}" = "--down" ]; then
  kind_ delete cluster --name "$cluster"
  rm -rf "$work"
  exit 0
fi

kind_prepare_docker

# --- The node image ---------------------------------------------------------------------------
node_image=""
mkdir -p "$work"
if [ "$mode" = auto ]; then
  mode=online
  kind_version="$("$kind" version | awk '{print $2}')"
  src="$(go mod download -json "sigs.k8s.io/kind@$kind_version" 2>/dev/null | sed -n 's/.*"Dir": "\(.*\)".*/\1/p' || true)"
  default_image="$(sed -n 's/^const Image = "\(.*\)"/\1/p' "$src/pkg/apis/config/defaults/image.go" 2>/dev/null || true)"
  if [ -n "$default_image" ] && ! docker image inspect "$default_image" >/dev/null 2>&1 &&
    ! docker pull "$default_image" >/dev/null 2>"$work.pull.log"; then
    log "kind's node image cannot be pulled ($(tail -1 "$work.pull.log")): building it locally"
    mode=offline
  fi
  rm -f "$work.pull.log"
fi
if [ "$mode" = offline ]; then
  node_image="$(bash "$root/scripts/kind-node-image.sh")"
  mark "node image $node_image"
fi

# --- The cluster --------------------------------------------------------------------------------
# The apiserver presents a client certificate to admission webhooks, as the test bed's does
# (ADR 0121), so docs/install.md's install block runs as written: WEBHOOK_CLIENT_CA is its CA.
adm="$work/webhook-admission"
if [ ! -f "$adm/client.crt" ]; then
  mkdir -p "$adm"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=codevector-kind-webhook-client-ca" \
    -keyout "$adm/ca.key" -out "$adm/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=kube-apiserver-webhook-client" \
    -keyout "$adm/client.key" -out "$adm/client.csr" 2>/dev/null
  openssl x509 -req -in "$adm/client.csr" -CA "$adm/ca.crt" -CAkey "$adm/ca.key" -CAcreateserial -days 30 -out "$adm/client.crt" 2>/dev/null
  chmod 0644 "$adm/client.key"   # read by the apiserver in the node, from this read-only mount
  d=/etc/kubernetes/webhook-admission
  printf 'apiVersion: v1\nkind: Config\nusers:\n  - name: "*"\n    user: { client-certificate: %s/client.crt, client-key: %s/client.key }\n' "$d" "$d" >"$adm/kubeconfig"
  cat >"$adm/admission.yaml" <<YAML
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
  - name: ValidatingAdmissionWebhook
    configuration: { apiVersion: apiserver.config.k8s.io/v1, kind: WebhookAdmissionConfiguration, kubeConfigFile: $d/kubeconfig }
  - name: MutatingAdmissionWebhook
    configuration: { apiVersion: apiserver.config.k8s.io/v1, kind: WebhookAdmissionConfiguration, kubeConfigFile: $d/kubeconfig }
YAML
fi
config="$work/kind.yaml"
{
  cat <<YAML
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
YAML
  # Not kind's defaults (10.244.0.0/16, 10.96.0.0/16): the test bed's nodes on the same host route
  # 10.244.<slot>.0/24 and 10.96.<slot>.0/24 to themselves (ADR 0007), and a kind pod's packet to a
  # ClusterIP that kube-proxy did not translate reached one of them (an HTTP server answered
  # PostgreSQL's SSL request with "H").
  if [ "$mode" = offline ]; then
    # kindnetd is not available without a registry (scripts/kind-node-image.sh): a bridge instead,
    # on the one node's pod range (the controller-manager gives the first node the first /24).
    cat >"$work/10-bridge.conflist" <<'JSON'
{"cniVersion": "0.4.0", "name": "kind-bridge", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.250.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
JSON
    echo "networking: { podSubnet: 10.250.0.0/16, serviceSubnet: 10.251.0.0/16, disableDefaultCNI: true }"
  else
    echo "networking: { podSubnet: 10.250.0.0/16, serviceSubnet: 10.251.0.0/16 }"
  fi
  if $no_sys_resource; then
    cat <<'YAML'
containerdConfigPatches:
  - |-
    [plugins."io.containerd.grpc.v1.cri"]
      restrict_oom_score_adj = true
YAML
  fi
  cat <<YAML
# kind writes kubeadm's v1beta3 config for Kubernetes < 1.36 (extraArgs a map) and v1beta4 from
# 1.36 (a list); each patch applies only to its version.
kubeadmConfigPatchesJSON6902:
  - group: kubeadm.k8s.io
    version: v1beta3
    kind: ClusterConfiguration
    patch: |
      - op: add
        path: /apiServer/extraArgs/admission-control-config-file
        value: /etc/kubernetes/webhook-admission/admission.yaml
      - op: add
        path: /apiServer/extraVolumes
        value: [{ name: webhook-admission, hostPath: /etc/kubernetes/webhook-admission, mountPath: /etc/kubernetes/webhook-admission, readOnly: true, pathType: Directory }]
  - group: kubeadm.k8s.io
    version: v1beta4
    kind: ClusterConfiguration
    patch: |
      - op: add
        path: /apiServer/extraArgs/-
        value: { name: admission-control-config-file, value: /etc/kubernetes/webhook-admission/admission.yaml }
      - op: add
        path: /apiServer/extraVolumes
        value: [{ name: webhook-admission, hostPath: /etc/kubernetes/webhook-admission, mountPath: /etc/kubernetes/webhook-admission, readOnly: true, pathType: Directory }]
nodes:
  - role: control-plane
    extraMounts:
      - { hostPath: $adm, containerPath: /etc/kubernetes/webhook-admission, readOnly: true }
YAML
  [ "$mode" = offline ] && echo "      - { hostPath: $work/10-bridge.conflist, containerPath: /etc/cni/net.d/10-bridge.conflist, readOnly: true }"
  true
} >"$config"

if ! kind_ get clusters 2>/dev/null | grep -qx "$cluster"; then
  kind_ create cluster --name "$cluster" --config "$config" ${node_image:+--image "$node_image"} --wait 180s
fi
kubectl config use-context "kind-$cluster" >/dev/null
mark "cluster Ready"

# --- Images, then docs/install.md's install block as written ----------------------------------
tag=kind-e2e   # and kind-e2e-upgrade: one pair of tags, whatever the commit
if [ "$mode" = offline ]; then
  IMAGE="codevector:$tag" bash "$root/scripts/build-image.sh" >&2
  bash "$root/scripts/build-postgres-image.sh" >&2
else
  IMAGE="codevector:$tag" BASE=node:24-bookworm-slim bash "$root/scripts/build-image.sh" >&2
  BASE=debian:bookworm-slim bash "$root/scripts/build-postgres-image.sh" >&2
fi
mark "images built"
kind_ load docker-image "codevector:$tag" codevector-postgres:15 --name "$cluster"
mark "images loaded"

values="$work/values.yaml"
# The e2e reaches nothing through an ingress controller; the apiserver listens on 6443.
printf 'networkPolicy:\n  consoleFrom: []\n' >"$values"
doc_step() { # <step> [VAR=value...]: docs/install.md's `e2e:<step>` block, as written
  local step="$1" block; shift
  block="$(awk -v s="$step" '$0 == "```sh e2e:" s {f = 1; next} /^```/ {f = 0} f' "$root/docs/install.md")"
  [ -n "$block" ] || { log "docs/install.md has no e2e:$step block"; exit 1; }
  log "docs/install.md e2e:$step"
  (cd "$root" && env "$@" bash -euo pipefail -c "$block")
}
if ! helm -n codevector status codevector >/dev/null 2>&1; then
  doc_step install TAG="$tag" WEBHOOK_CLIENT_CA="$adm/ca.crt" VALUES="$values"
fi
mark "helm install --wait done"

kubectl apply -f "$root/examples/"
kubectl wait --for=condition=Ready --timeout=180s -n codevector providers,models,budgets,ratelimits,secretrules --all
kubectl get codevector -A
kubectl -n codevector get pods -o wide
mark "examples Ready"

# The rest of the evaluation steps the cluster e2e runs (without its load, user or browser checks).
doc_step rbac
doc_step backup BACKUP="$work/backup.dump"
mark "backup restored into restore_check"
docker tag "codevector:$tag" "codevector:$tag-upgrade"
kind_ load docker-image "codevector:$tag-upgrade" --name "$cluster"
doc_step upgrade NEW_TAG="$tag-upgrade"
kubectl -n codevector get deploy -o custom-columns=NAME:.metadata.name,IMAGE:.spec.template.spec.containers[0].image,READY:.status.readyReplicas
mark "helm upgrade done"
doc_step rollback
kubectl -n codevector get deploy -o custom-columns=NAME:.metadata.name,IMAGE:.spec.template.spec.containers[0].image,READY:.status.readyReplicas
mark "helm rollback done"
image_ref="${node_image:-kindest/node}"
log "disk: node /var $(docker exec "$cluster-control-plane" du -sh /var 2>/dev/null | cut -f1), node image $image_ref $(docker image inspect -f '{{.Size}}' "$image_ref" 2>/dev/null | awk '{printf "%d MB", $1 / 1e6}')"
