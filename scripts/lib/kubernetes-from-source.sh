# Sourced by scripts/control-plane-binaries.sh and scripts/node-binaries.sh: builds Kubernetes
# commands from the Go module proxy (no release downloads, no registry). k8s.io/kubernetes is not
# meant to be a dependency: it requires its staging modules at v0.0.0 with local replaces, so the
# module made here points each one at its published release (v0.<minor>.<patch>).

# k8s_prepare_module <dir> <version>: a Go module in <dir> that can build k8s.io/kubernetes/cmd/*.
k8s_prepare_module() {
  local dir="$1" version="$2" minor patch gomod m
  minor="${version#v1.}"; minor="${minor%%.*}"; patch="${version##*.}"
  mkdir -p "$dir"
  (
    cd "$dir"
    [ -f go.mod ] || go mod init codevector.local/kubernetes >/dev/null 2>&1
    gomod="$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    for m in $(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9.-]*\) => ./staging/.*#\1#p' "$gomod"); do
      go mod edit "-replace=$m=$m@v0.$minor.$patch"
    done
  )
}

# k8s_build <dir> <version> <output dir> <command>...: builds each k8s.io/kubernetes/cmd/<command>
# into <output dir>/<command>, static, version-stamped (so `--version` and the apiserver's
# /version report the real release, not v0.0.0-master).
k8s_build() {
  local dir="$1" version="$2" out="$3" minor cmd stamp
  shift 3
  minor="${version#v1.}"; minor="${minor%%.*}"
  stamp="-X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$version"
  (
    cd "$dir"
    for cmd in "$@"; do
      go get "k8s.io/kubernetes/cmd/$cmd@$version" >/dev/null 2>&1 || go get "k8s.io/kubernetes/cmd/$cmd@$version"
    done
    for cmd in "$@"; do
      CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $stamp" -o "$out/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
      mv "$out/$cmd.tmp" "$out/$cmd"
    done
  )
}
