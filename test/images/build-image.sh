#!/bin/bash
# build-image.sh: a tiny local test image, no registry needed.
#
#   test/images/build-image.sh [--out TARBALL] [--tokencount BINARY]
#                              [--bpfworkload BINARY] [--core-obj OBJECT]
#                              [--podman [--base DIR]]
#
# Rootfs: busybox-static (/bin/busybox and its applet symlinks), /etc/passwd,
# /etc/group, empty /proc /sys /dev /tmp /run /root, the static tokencount
# example at /usr/local/bin/tokencount and the static workloads binary
# (examples/workloads) at /usr/local/bin/bpfworkload, with its CO-RE object
# (examples/workloads/bpf/core.bpf.c, compiled by clang) at
# /usr/local/lib/bpfworkload/core.bpf.o. There is deliberately NO
# /run/bpf (a test needs an image without it); /sys/fs/bpf comes from the
# container's sysfs.
#
# --out TARBALL      where to write the rootfs tarball
#                    (default ${TMPDIR:-/tmp}/bpftoken-test-rootfs.tar)
# --tokencount BIN   use this static binary instead of building
#                    examples/tokencount (CGO_ENABLED=0 go build, cached)
# --bpfworkload BIN  likewise for examples/workloads
# --core-obj OBJ     use this object instead of compiling core.bpf.c with
#                    clang (make bin/core.bpf.o)
# --podman           also import it as localhost/bpftoken-test:latest into the
#                    isolated podman of test/podman/env.sh; base dir from --base
#                    or $TPODMAN_BASE
#
# The tarball is reproducible (sorted, owner 0:0, mtime 0), so it is rewritten
# only when its content changes, and the image is re-imported only when the
# tarball's sha256 differs from the image's bpftoken.rootfs.sha256 label.
# Prints the tarball path (and the image) on stdout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
image=localhost/bpftoken-test:latest

out=${TMPDIR:-/tmp}/bpftoken-test-rootfs.tar
tokencount=
bpfworkload=
core_obj=
do_podman=0
base=${TPODMAN_BASE:-}
while [ $# -gt 0 ]; do
  case $1 in
  --out) out=$2; shift 2 ;;
  --tokencount) tokencount=$2; shift 2 ;;
  --bpfworkload) bpfworkload=$2; shift 2 ;;
  --core-obj) core_obj=$2; shift 2 ;;
  --podman) do_podman=1; shift ;;
  --base) base=$2; shift 2 ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "build-image.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

die() { echo "build-image.sh: $*" >&2; exit 1; }

busybox=/bin/busybox
[ -x "$busybox" ] || die "$busybox is missing (apt-get install busybox-static)"
if command -v file >/dev/null && file -L "$busybox" | grep -q 'dynamically linked'; then
  die "$busybox is not static (apt-get install busybox-static)"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bpftoken-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ -z "$tokencount" ]; then
  tokencount=$work/tokencount
  (cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$tokencount" ./examples/tokencount) ||
    die "go build ./examples/tokencount failed"
fi
[ -x "$tokencount" ] || die "$tokencount is not executable"
if [ -z "$bpfworkload" ]; then
  bpfworkload=$work/bpfworkload
  (cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$bpfworkload" ./examples/workloads) ||
    die "go build ./examples/workloads failed"
fi
[ -x "$bpfworkload" ] || die "$bpfworkload is not executable"
if [ -z "$core_obj" ]; then
  core_obj=$work/core.bpf.o
  command -v clang >/dev/null || die "clang is missing: it compiles examples/workloads/bpf/core.bpf.c (apt-get install clang, or make deps)"
  (cd "$repo" && make -s CORE_OBJ="$core_obj" "$core_obj") || die "compiling examples/workloads/bpf/core.bpf.c failed"
fi
[ -f "$core_obj" ] || die "$core_obj is missing"

root=$work/rootfs
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/local/lib/bpfworkload,etc,proc,sys,dev,tmp,run,root,var/tmp}
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 0700 "$root/root"
install -m 0755 "$busybox" "$root/bin/busybox"
"$busybox" --list-full | while read -r applet; do
  [ "$applet" = bin/busybox ] && continue
  ln -sf /bin/busybox "$root/$applet"
done
install -m 0755 "$tokencount" "$root/usr/local/bin/tokencount"
install -m 0755 "$bpfworkload" "$root/usr/local/bin/bpfworkload"
install -m 0644 "$core_obj" "$root/usr/local/lib/bpfworkload/core.bpf.o"
cat >"$root/etc/passwd" <<'EOT'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOT
cat >"$root/etc/group" <<'EOT'
root:x:0:
nogroup:x:65534:
EOT
chmod 0644 "$root/etc/passwd" "$root/etc/group"

mkdir -p "$(dirname "$out")"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=gnu \
  -C "$root" -cf "$work/rootfs.tar" .
if [ -f "$out" ] && cmp -s "$work/rootfs.tar" "$out"; then
  : # unchanged
else
  mv -f "$work/rootfs.tar" "$out"
fi
echo "$out"

[ "$do_podman" = 1 ] || exit 0

[ -n "$base" ] || die "--podman needs --base DIR or TPODMAN_BASE (see test/podman/env.sh)"
# shellcheck source=SCRIPTDIR/../podman/env.sh
. "$repo/test/podman/env.sh" "$base"

sum=$(sha256sum "$out" | cut -d' ' -f1)
old=$(tpodman image inspect --format '{{.Id}} {{index .Labels "bpftoken.rootfs.sha256"}}' "$image" 2>/dev/null || true)
if [ "${old#* }" = "$sum" ]; then
  echo "$image (up to date)"
  exit 0
fi
tpodman import --quiet \
  --change 'CMD ["/bin/sh"]' \
  --change "LABEL bpftoken.rootfs.sha256=$sum" \
  "$out" "$image" >/dev/null
# Drop the image this one replaced, unless something still uses it.
if [ -n "$old" ]; then
  tpodman rmi "${old%% *}" >/dev/null 2>&1 || true
fi
echo "$image"
