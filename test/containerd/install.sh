#!/bin/bash
# install.sh: the pinned containerd test stack, built from the Go module proxy.
#
#   test/containerd/install.sh [--cache DIR] [--force] [--print-bindir]
#
# Builds into DIR/bin (DIR defaults to ${BPFTOKEN_CACHE:-/var/cache/nri-bpftoken-test}):
#   containerd, ctr, containerd-shim-runc-v2  containerd v2.4.2  (-tags no_btrfs)
#   runc                                       runc v1.3.6        (-tags seccomp)
#   crictl                                     cri-tools v1.37.0
# and into DIR/cni/bin the CNI plugins loopback, bridge, host-local v1.9.1.
#
# Each binary has a stamp DIR/stamps/NAME holding "package@version tags"; a
# binary whose stamp matches is not rebuilt, so a warm run takes well under a
# second. Builds go to a temporary GOBIN and are moved into place before the
# stamp is written, and a lock on DIR/.lock serialises concurrent runs.
# Debian packages the builds and test/containerd/lib.bash need (libseccomp-dev,
# pkg-config, gcc, jq, iproute2) are installed with apt-get when missing.
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

command -v go >/dev/null || die "go not found in PATH"

# --- Debian packages ---------------------------------------------------------
pkgs="libseccomp-dev pkg-config gcc libc6-dev jq iproute2 tar"
# One dpkg-query for all: packages not installed are listed as missing.
# shellcheck disable=SC2086
installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' $pkgs 2>/dev/null | awk '$1 == "ii" {print $2}')
missing=
for p in $pkgs; do
  grep -qx -- "$p" <<<"$installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  log "apt-get install:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # shellcheck disable=SC2086
  apt-get install -y -qq $missing >&2
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

# build NAME DESTDIR PACKAGE VERSION TAGS [CGO]
build() {
  local name=$1 dest=$2 pkg=$3 version=$4 tags=$5 cgo=${6:-1}
  local stamp="$pkg@$version tags=$tags"
  local start tmp
  start=$(now)
  if [ "$force" = 0 ] && [ -x "$dest/$name" ] && [ -f "$stamps/$name" ] &&
    [ "$(cat "$stamps/$name")" = "$stamp" ]; then
    log "$(printf '%-24s %-8s cached  %6ss' "$name" "$version" "$(elapsed "$start")")"
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
  [ -x "$tmp/$name" ] || { rm -rf "$tmp"; die "$pkg@$version did not produce $name"; }
  mv -f "$tmp/$name" "$dest/$name"
  rm -rf "$tmp"
  echo "$stamp" >"$stamps/$name.tmp"
  mv -f "$stamps/$name.tmp" "$stamps/$name"
  built=$((built + 1))
  log "$(printf '%-24s %-8s built   %6ss' "$name" "$version" "$(elapsed "$start")")"
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

log "$(printf '%-24s %-8s %-7s %6ss' total "" "built=$built" "$(elapsed "$total_start")")"
if [ "$print_bindir" = 1 ]; then
  echo "$bindir"
fi
