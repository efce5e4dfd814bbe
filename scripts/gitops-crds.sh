#!/usr/bin/env bash
# The real CustomResourceDefinitions of Argo CD (Application) and Flux (Kustomization and the
# source kinds), for the tests of GitOps attribution (issue #13 §4): taken from the projects'
# own Go modules (their zips carry the manifests), cached in the tool cache by version. Prints
# the folder holding the YAML files.
set -euo pipefail

ARGOCD_VERSION="${CODEVECTOR_ARGOCD_VERSION:-v3.3.0}"
FLUX_KUSTOMIZE_VERSION="${CODEVECTOR_FLUX_KUSTOMIZE_VERSION:-v1.9.6}"
FLUX_SOURCE_VERSION="${CODEVECTOR_FLUX_SOURCE_VERSION:-v1.9.6}"
cache="${CODEVECTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codevector}"
dest="$cache/gitops-crds/argocd-$ARGOCD_VERSION-kustomize-$FLUX_KUSTOMIZE_VERSION-source-$FLUX_SOURCE_VERSION"

if [ -f "$dest/.complete" ]; then echo "$dest"; exit 0; fi
command -v go >/dev/null || { echo "gitops-crds: Go is required to fetch the Argo CD and Flux modules" >&2; exit 1; }
moddir() { go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'; }
mkdir -p "$dest"
argo="$(moddir "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION")"
kustomize="$(moddir "github.com/fluxcd/kustomize-controller@$FLUX_KUSTOMIZE_VERSION")"
source="$(moddir "github.com/fluxcd/source-controller@$FLUX_SOURCE_VERSION")"
cp "$argo/manifests/crds/application-crd.yaml" "$dest/argocd-application.yaml"
cp "$kustomize/config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml" "$dest/flux-kustomization.yaml"
cp "$source/config/crd/bases/source.toolkit.fluxcd.io_gitrepositories.yaml" "$dest/flux-gitrepository.yaml"
cp "$source/config/crd/bases/source.toolkit.fluxcd.io_ocirepositories.yaml" "$dest/flux-ocirepository.yaml"
chmod -R u+w "$dest"
touch "$dest/.complete"
echo "$dest"
