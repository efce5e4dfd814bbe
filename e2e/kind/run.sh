#!/usr/bin/env bash
# Full-cluster smoke run on kind (needs Docker). See README.md beside this file.
set -euo pipefail
cluster=codevector-e2e
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ "${1:-}" = "--down" ]; then kind delete cluster --name "$cluster"; exit 0; fi
for tool in docker kind kubectl helm; do command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }; done

kind get clusters | grep -qx "$cluster" || kind create cluster --name "$cluster" --wait 120s
docker build -t codevector:e2e "$root"
kind load docker-image codevector:e2e --name "$cluster"

kubectl create namespace codevector --dry-run=client -o yaml | kubectl apply -f -
kubectl -n codevector apply -f - <<'YAML'
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: postgres }
spec:
  serviceName: postgres
  selector: { matchLabels: { app: postgres } }
  template:
    metadata: { labels: { app: postgres } }
    spec:
      containers:
        - name: postgres
          image: postgres:17
          env:
            - { name: POSTGRES_PASSWORD, value: codevector }
            - { name: POSTGRES_DB, value: codevector }
          ports: [{ containerPort: 5432 }]
---
apiVersion: v1
kind: Service
metadata: { name: postgres }
spec: { selector: { app: postgres }, ports: [{ port: 5432 }] }
YAML
kubectl -n codevector rollout status statefulset/postgres --timeout=180s

helm upgrade --install codevector "$root/helm/codevector" -n codevector \
  --set image.repository=codevector --set image.tag=e2e --set image.pullPolicy=Never \
  --set database.url=postgres://postgres:codevector@postgres:5432/codevector \
  --wait --timeout 5m
kubectl apply -f "$root/examples/"
kubectl wait --for=condition=Ready --timeout=120s -n codevector providers,models,budgets,ratelimits,secretrules --all
kubectl get codevector -A
