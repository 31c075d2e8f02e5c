#!/bin/bash
# install.sh: the pinned CRI test stack (containerd and CRI-O), built from the
# Go module proxy.
#
#   test/containerd/install.sh [--cache DIR] [--force] [--print-bindir]
#
# Builds into DIR/bin (DIR defaults to ${BPFTOKEN_CACHE:-/var/cache/nri-bpftoken-test}):
#   containerd, ctr, containerd-shim-runc-v2  containerd v2.4.2  (-tags no_btrfs)
#   runc                                       runc v1.3.6        (-tags seccomp)
#   crictl                                     cri-tools v1.37.0
#   crio                                       CRI-O v1.34.0      (go build in the module,
#                                              -tags containers_image_ostree_stub
#                                              containers_image_openpgp
#                                              exclude_graphdriver_btrfs btrfs_noversion seccomp)
#   pinns                                      CRI-O v1.34.0 pinns/ (C, gcc -static)
# and into DIR/cni/bin the CNI plugins loopback, bridge, host-local v1.9.1.
#
# Each binary has a stamp DIR/stamps/NAME holding "package@version tags"; a
# binary whose stamp matches is not rebuilt, so a warm run takes well under a
# second. Builds go to a temporary dir and are moved into place before the
# stamp is written, and a lock on DIR/.lock serialises concurrent runs.
# Debian packages the builds and the harnesses (test/containerd/lib.bash,
# test/crio/lib.bash) need are installed with apt-get when missing.
#
# --force          rebuild everything
# --print-bindir   print only DIR/bin on stdout at the end (logs go to stderr)
#
# Run as root (apt-get, and the default cache dir is under /var/cache).
set -euo pipefail

CONTAINERD_VERSION=v2.4.2
RUNC_VERSION=v1.3.6
CRICTL_VERSION=v1.37.0
CNI_PLUGINS_VERSION=v1.9.1
CRIO_VERSION=v1.34.0
CRIO_MODULE=github.com/cri-o/cri-o
CRIO_TAGS="containers_image_ostree_stub containers_image_openpgp exclude_graphdriver_btrfs btrfs_noversion seccomp"

cache=${BPFTOKEN_CACHE:-/var/cache/nri-bpftoken-test}
force=0
print_bindir=0
while [ $# -gt 0 ]; do
  case $1 in
  --cache) cache=$2; shift 2 ;;
  --force) force=1; shift ;;
  --print-bindir) print_bindir=1; shift ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

log() { echo "install.sh: $*" >&2; }
die() { log "$*"; exit 1; }
# Never exit without saying where: set -e alone ends the script silently.
trap 'log "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

command -v go >/dev/null || die "go not found in PATH"

# --- Debian packages ---------------------------------------------------------
pkgs="libseccomp-dev pkg-config gcc libc6-dev binutils jq iproute2 tar util-linux conmon podman"
# One dpkg-query for all: packages not installed are listed as missing.
# shellcheck disable=SC2086
# dpkg-query exits 1 when any of them is unknown to dpkg (never installed):
# that is the case this looks for, not a failure, so its status is ignored.
installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' $pkgs 2>/dev/null | awk '$1 == "ii" {print $2}' || true)
missing=
for p in $pkgs; do
  grep -qx -- "$p" <<<"$installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  log "apt-get install:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || die "apt-get update failed: the Debian mirrors must be reachable to install$missing"
  # shellcheck disable=SC2086
  apt-get install -y -qq $missing >&2 || die "apt-get install$missing failed (see above)"
fi

# --- Go builds -----------------------------------------------------------------
bindir=$cache/bin
cnidir=$cache/cni/bin
stamps=$cache/stamps
mkdir -p "$bindir" "$cnidir" "$stamps"

exec 9>"$cache/.lock"
flock 9

# Builds are independent of the module in the current directory.
export GOTOOLCHAIN=local
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"
export GO111MODULE=on
cd /

now() { echo "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

total_start=$(now)
built=0

# fresh NAME DESTDIR STAMP: true when DESTDIR/NAME exists with a matching stamp.
fresh() {
  [ "$force" = 0 ] && [ -x "$2/$1" ] && [ -f "$stamps/$1" ] &&
    [ "$(cat "$stamps/$1")" = "$3" ]
}

# cached NAME VERSION START: log a binary that was not rebuilt.
cached() {
  log "$(printf '%-24s %-8s cached  %6ss' "$1" "$2" "$(elapsed "$3")")"
}

# finish NAME DESTDIR VERSION STAMP TMPDIR START: move TMPDIR/NAME into place
# and write its stamp.
finish() {
  local name=$1 dest=$2 version=$3 stamp=$4 tmp=$5 start=$6
  [ -x "$tmp/$name" ] || { rm -rf "$tmp"; die "$stamp did not produce $name"; }
  mv -f "$tmp/$name" "$dest/$name"
  rm -rf "$tmp"
  echo "$stamp" >"$stamps/$name.tmp"
  mv -f "$stamps/$name.tmp" "$stamps/$name"
  built=$((built + 1))
  log "$(printf '%-24s %-8s built   %6ss' "$name" "$version" "$(elapsed "$start")")"
}

# build NAME DESTDIR PACKAGE VERSION TAGS [CGO]: go install PACKAGE@VERSION.
build() {
  local name=$1 dest=$2 pkg=$3 version=$4 tags=$5 cgo=${6:-1}
  local stamp="$pkg@$version tags=$tags"
  local start tmp
  start=$(now)
  if fresh "$name" "$dest" "$stamp"; then
    cached "$name" "$version" "$start"
    return 0
  fi
  tmp=$(mktemp -d "$cache/.build.XXXXXX")
  local -a args=(install -trimpath)
  [ -n "$tags" ] && args+=(-tags "$tags")
  # containerd reports its version from a linker variable.
  case $pkg in
  github.com/containerd/containerd/v2/*)
    args+=(-ldflags "-X github.com/containerd/containerd/v2/version.Version=$version") ;;
  github.com/opencontainers/runc)
    args+=(-ldflags "-X main.version=${version#v}") ;;
  sigs.k8s.io/cri-tools/*)
    args+=(-ldflags "-X sigs.k8s.io/cri-tools/pkg/version.Version=$version") ;;
  esac
  if ! GOBIN=$tmp CGO_ENABLED=$cgo go "${args[@]}" "$pkg@$version" >&2; then
    rm -rf "$tmp"
    die "building $pkg@$version failed"
  fi
  finish "$name" "$dest" "$version" "$stamp" "$tmp" "$start"
}

ctd=github.com/containerd/containerd/v2/cmd
build containerd "$bindir" "$ctd/containerd" "$CONTAINERD_VERSION" no_btrfs
build ctr "$bindir" "$ctd/ctr" "$CONTAINERD_VERSION" no_btrfs
build containerd-shim-runc-v2 "$bindir" "$ctd/containerd-shim-runc-v2" "$CONTAINERD_VERSION" no_btrfs
build runc "$bindir" github.com/opencontainers/runc "$RUNC_VERSION" seccomp
build crictl "$bindir" sigs.k8s.io/cri-tools/cmd/crictl "$CRICTL_VERSION" "" 0
cni=github.com/containernetworking/plugins/plugins
build loopback "$cnidir" "$cni/main/loopback" "$CNI_PLUGINS_VERSION" "" 0
build bridge "$cnidir" "$cni/main/bridge" "$CNI_PLUGINS_VERSION" "" 0
build host-local "$cnidir" "$cni/ipam/host-local" "$CNI_PLUGINS_VERSION" "" 0

# CRI-O's source tree, from the module cache (read-only there). A plain
# `go install $CRIO_MODULE/cmd/crio@$CRIO_VERSION` fails: it reads the
# module's version list for deprecation notices, and the proxy answers
# .../@v/list with 403 for cri-o. `go mod download` fetches only .info/.zip.
crio_src() {
  [ -n "${src:-}" ] && return 0
  src=$(go mod download -json "$CRIO_MODULE@$CRIO_VERSION" | jq -r .Dir) ||
    die "go mod download $CRIO_MODULE@$CRIO_VERSION failed"
  [ -f "$src/go.mod" ] || die "no go.mod in '$src'"
}
src=

# crio: go build inside the module (its go.mod and go.sum, no replaces). Its
# version is a constant in the source, so no -ldflags.
start=$(now)
stamp="$CRIO_MODULE/cmd/crio@$CRIO_VERSION tags=$CRIO_TAGS"
if fresh crio "$bindir" "$stamp"; then
  cached crio "$CRIO_VERSION" "$start"
else
  crio_src
  tmp=$(mktemp -d "$cache/.build.XXXXXX")
  if ! (cd "$src" && GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=1 \
    go build -trimpath -buildvcs=false -tags "$CRIO_TAGS" -o "$tmp/crio" ./cmd/crio) >&2; then
    rm -rf "$tmp"
    die "building $CRIO_MODULE/cmd/crio@$CRIO_VERSION failed"
  fi
  finish crio "$bindir" "$CRIO_VERSION" "$stamp" "$tmp" "$start"
fi

# pinns: C, compiled straight into a temporary dir with the flags of
# pinns/Makefile (the source tree is read-only).
start=$(now)
stamp="$CRIO_MODULE/pinns@$CRIO_VERSION cflags=-std=c99 -O3 -Wall -Wextra -static"
if fresh pinns "$bindir" "$stamp"; then
  cached pinns "$CRIO_VERSION" "$start"
else
  crio_src
  [ -d "$src/pinns/src" ] || die "$src/pinns/src missing"
  tmp=$(mktemp -d "$cache/.build.XXXXXX")
  if ! gcc -std=c99 -O3 -Wall -Wextra -static -o "$tmp/pinns" "$src"/pinns/src/*.c >&2; then
    rm -rf "$tmp"
    die "building pinns failed"
  fi
  strip -s "$tmp/pinns"
  finish pinns "$bindir" "$CRIO_VERSION" "$stamp" "$tmp" "$start"
fi

log "$(printf '%-24s %-8s %-7s %6ss' total "" "built=$built" "$(elapsed "$total_start")")"
if [ "$print_bindir" = 1 ]; then
  echo "$bindir"
fi
