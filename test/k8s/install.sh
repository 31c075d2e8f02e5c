#!/bin/bash
# install.sh: a single-node Kubernetes for the tests, built from the Go
# module proxy: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet and kubectl.
#
#   test/k8s/install.sh [--cache DIR] [--force]
#
# Builds into DIR/k8s/bin (DIR defaults to ${BPFTOKEN_CACHE:-/var/cache/nri-bpftoken-test}),
# next to the containerd that test/containerd/install.sh builds there:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kubectl
#                                   k8s.io/kubernetes v1.37.2
#   etcd                            go.etcd.io/etcd/server/v3 v3.7.3
#
# k8s.io/kubernetes's go.mod replaces its k8s.io/* staging modules with
# ./staging/... directories that its module zip does not hold, so it cannot
# be built with `go install pkg@version`. This builds it from a module of its
# own, written here, that requires k8s.io/kubernetes and every staging module
# at the matching published version (v0.37.2), read from those replace lines.
# etcd's server module holds its main package.
#
# Each binary has a stamp DIR/k8s/stamps/NAME ("package@version"); a binary
# whose stamp matches is not rebuilt. First build on 2 cores: about 7
# minutes (most of it kube-apiserver and kube-controller-manager); warm:
# under a second. A lock on DIR/.lock serialises concurrent runs.
set -euo pipefail

K8S_VERSION=v1.37.2
K8S_STAGING_VERSION=v0.37.2
ETCD_VERSION=v3.7.3

cache=${BPFTOKEN_CACHE:-/var/cache/nri-bpftoken-test}
force=0
while [ $# -gt 0 ]; do
  case $1 in
  --cache) cache=$2; shift 2 ;;
  --force) force=1; shift ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

log() { echo "k8s/install.sh: $*" >&2; }
die() { log "$*"; exit 1; }
trap 'log "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

command -v go >/dev/null || die "go not found in PATH"
# test/k8s/lib.bash makes the cluster's certificates with openssl, picks
# ports with ss and reads the modules' go.mod with jq.
missing=
for p in openssl iproute2 jq; do
  dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  log "apt-get install:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || die "apt-get update failed: the Debian mirrors must be reachable to install$missing"
  # shellcheck disable=SC2086
  apt-get install -y -qq $missing >&2 || die "apt-get install$missing failed (see above)"
fi

bindir=$cache/k8s/bin
stamps=$cache/k8s/stamps
mods=$cache/k8s/modules
mkdir -p "$bindir" "$stamps" "$mods"
exec 9>"$cache/.lock"
flock 9

export GOTOOLCHAIN=local GO111MODULE=on GOWORK=off
unset GOFLAGS

now() { echo "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
total_start=$(now)
built=0

fresh() { [ "$force" = 0 ] && [ -x "$bindir/$1" ] && [ "$(cat "$stamps/$1" 2>/dev/null)" = "$2" ]; }

# module DIR MODULE REQUIRES...: a module in DIR whose tools.go imports the
# packages to build, tidied against the proxy.
module() {
  local dir=$1 mod=$2
  shift 2
  mkdir -p "$dir"
  {
    printf 'module %s\n\ngo %s\n\nrequire (\n' "$mod" "$(go env GOVERSION | sed 's/^go//')"
    printf '\t%s\n' "$@"
    printf ')\n'
  } >"$dir/go.mod"
}

# build NAME DIR PACKAGE VERSION LDFLAGS: go build PACKAGE in module DIR.
build() {
  local name=$1 dir=$2 pkg=$3 version=$4 ldflags=$5 stamp start tmp
  stamp="$pkg@$version"
  start=$(now)
  if fresh "$name" "$stamp"; then
    log "$(printf '%-24s %-8s cached  %6ss' "$name" "$version" "$(elapsed "$start")")"
    return 0
  fi
  tmp=$(mktemp -d "$cache/.build.XXXXXX")
  if ! (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp/$name" "$pkg") >&2; then
    rm -rf "$tmp"
    die "building $pkg@$version failed"
  fi
  mv -f "$tmp/$name" "$bindir/$name"
  rm -rf "$tmp"
  echo "$stamp" >"$stamps/$name"
  built=$((built + 1))
  log "$(printf '%-24s %-8s built   %6ss' "$name" "$version" "$(elapsed "$start")")"
}

k8s_names="kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl"
need_k8s=0
for n in $k8s_names; do fresh "$n" "k8s.io/kubernetes/cmd/$n@$K8S_VERSION" || need_k8s=1; done
if [ "$need_k8s" = 1 ]; then
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | jq -r .GoMod) ||
    die "go mod download k8s.io/kubernetes@$K8S_VERSION failed: the Go module proxy must be reachable"
  # The staging modules it replaces; the sample-* ones are not published.
  mapfile -t staging < <(awk '$2 == "=>" && $3 ~ /^\.\/staging\// && $1 !~ /sample-/ {print $1}' "$gomod")
  [ "${#staging[@]}" -gt 20 ] || die "found only ${#staging[@]} staging modules in $gomod"
  reqs=("k8s.io/kubernetes $K8S_VERSION")
  for m in "${staging[@]}"; do reqs+=("$m $K8S_STAGING_VERSION"); done
  dir=$mods/kubernetes
  module "$dir" k8s-test-build "${reqs[@]}"
  {
    printf '//go:build tools\n\npackage build\n\nimport (\n'
    for n in $k8s_names; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$n"; done
    printf ')\n'
  } >"$dir/tools.go"
  (cd "$dir" && go mod tidy) >&2 || die "go mod tidy of $dir failed"
fi
# Version variables the binaries report (kubectl version, node info).
k8s_ldflags=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$(cut -d. -f2 <<<"$K8S_VERSION")"
done
for n in $k8s_names; do
  build "$n" "$mods/kubernetes" "k8s.io/kubernetes/cmd/$n" "$K8S_VERSION" "$k8s_ldflags"
done

if ! fresh etcd "go.etcd.io/etcd/server/v3@$ETCD_VERSION"; then
  dir=$mods/etcd
  module "$dir" etcd-test-build "go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  printf '//go:build tools\n\npackage build\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$dir/tools.go"
  (cd "$dir" && go mod tidy) >&2 || die "go mod tidy of $dir failed"
fi
build etcd "$mods/etcd" go.etcd.io/etcd/server/v3 "$ETCD_VERSION" ""

log "$(printf '%-24s %-8s built=%-3s %6ss' total "" "$built" "$(elapsed "$total_start")")"
