#!/bin/bash
# smoke.sh: end-to-end check of the containerd test harness (install.sh +
# lib.bash) on this host, without the NRI plugin.
#
#   test/containerd/smoke.sh [ROOTFS_DIR_OR_TAR]
#
# Builds (or reuses) the pinned binaries, starts a private containerd, imports
# a busybox image (a throwaway busybox-static rootfs unless one is given),
# runs a user-namespace pod with pod network and a host-network pod without
# user namespace, each with a `sleep 300` container, checks their state, uid
# maps and namespaces, restarts containerd, then stops everything and checks
# that nothing is left: no mounts, processes, bridge, cgroups or run dir.
# Exits non-zero on the first failed check; ends with "N passed, N failed".
# Run as root.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
fail() {
  failed=$((failed + 1))
  echo "FAIL $*"
  echo "smoke: $passed passed, $failed failed"
  exit 1
}
check() { # check DESCRIPTION CMD...
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

"$here/install.sh"

# shellcheck source-path=SCRIPTDIR source=lib.bash
. "$here/lib.bash"

image=localhost/ctd-smoke:latest
export CTD_SANDBOX_IMAGE=$image

work=$(mktemp -d "${TMPDIR:-/tmp}/ctd-smoke.XXXXXX")
rootfs=${1:-}
if [ -z "$rootfs" ]; then
  if ! file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
  fi
  rootfs=$work/rootfs
  mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp,run,root}
  cp /bin/busybox "$rootfs/bin/busybox"
  # Inside the rootfs, so that the links point at /bin/busybox (on a
  # merged-/usr host, --install outside would link to /usr/bin/busybox).
  chroot "$rootfs" /bin/busybox --install -s /bin
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
fi

on_exit() {
  local rc=$?
  if [ "$rc" != 0 ]; then
    ctd_logs 40 || true
    if [ -n "${CTD_ROOT:-}" ]; then ctd_stop || true; fi
  fi
  rm -rf "$work"
}
trap on_exit EXIT

run_before=$([ -e /run/containerd ] && echo yes || echo no)

t0=$SECONDS
check "ctd_start" ctd_start
echo "     CTD_ROOT=$CTD_ROOT ($((SECONDS - t0))s)"
root=$CTD_ROOT
bin=$(_ctd_bin)
"$bin/containerd" --version | sed 's/^/     /'
"$bin/runc" --version | sed -n 1p | sed 's/^/     /'

check "ctd_import_image" ctd_import_image "$rootfs" "$image"
ctd_crictl images | sed 's/^/     /'

# --- user-namespace pod with pod network --------------------------------------
pod=$(ctd_run_pod smoke-userns --userns --annotation smoke=userns) || fail "ctd_run_pod --userns"
ok "ctd_run_pod smoke-userns --userns: ${pod:0:13}"
ctr=$(ctd_create_container "$pod" smoke-userns sleeper "$image" --cap BPF -- sleep 300) ||
  fail "ctd_create_container (userns)"
ok "ctd_create_container: ${ctr:0:13}"
check "ctd_start_container" ctd_start_container "$ctr"
check "container running" ctd_wait_container "$ctr" RUNNING 20
ctd_crictl ps | sed 's/^/     /'
ps_line=$(ctd_crictl ps --id "$ctr" | tail -n +2)
check "crictl ps shows it Running" grep -q Running <<<"$ps_line"

pid=$(ctd_container_pid "$ctr") || fail "container pid"
ok "container pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline")"
uidmap=$(awk '{$1=$1; print}' "/proc/$pid/uid_map")
gidmap=$(awk '{$1=$1; print}' "/proc/$pid/gid_map")
echo "     uid_map: $uidmap; gid_map: $gidmap"
check "uid_map is 0 100000 65536" [ "$uidmap" = "0 100000 65536" ]
check "gid_map is 0 100000 65536" [ "$gidmap" = "0 100000 65536" ]
check "own user namespace" [ "$(readlink "/proc/$pid/ns/user")" != "$(readlink /proc/self/ns/user)" ]
check "own network namespace" [ "$(readlink "/proc/$pid/ns/net")" != "$(readlink /proc/self/ns/net)" ]
hostuid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
check "runs as host uid 100000 (is $hostuid)" [ "$hostuid" = 100000 ]
capeff=$(awk '/^CapEff:/ {print $2}' "/proc/$pid/status")
check "CAP_BPF (39) in CapEff $capeff" [ $(((16#$capeff >> 39) & 1)) = 1 ]
podip=$(ctd_crictl inspectp -o json "$pod" | jq -r .status.network.ip)
check "pod IP $podip in ${CTD_SUBNET:-10.88.77.0/24}" [ "${podip%.*}" = "10.88.77" ]
bridge=$(_ctd_bridge)
check "bridge $bridge exists" ip link show dev "$bridge" >/dev/null
netns=$(ctd_crictl inspectp -o json "$pod" | jq -r '.info.runtimeSpec.linux.namespaces[] | select(.type == "network") | .path')
check "netns $netns under \$CTD_ROOT" grep -qF " $netns " <(grep -F " $root/" /proc/self/mountinfo)
check "shim socket under socket_dir" test -n "$(find "$(_ctd_socket_dir)" -type s | head -n 1)"

# --- host-network pod without user namespace ------------------------------------
hpod=$(ctd_run_pod smoke-host --hostnet) || fail "ctd_run_pod --hostnet"
ok "ctd_run_pod smoke-host --hostnet: ${hpod:0:13}"
hctr=$(ctd_create_container "$hpod" smoke-host sleeper "$image" -- sleep 300) ||
  fail "ctd_create_container (hostnet)"
check "ctd_start_container (hostnet)" ctd_start_container "$hctr"
check "hostnet container running" ctd_wait_container "$hctr" RUNNING 20
hpid=$(ctd_container_pid "$hctr") || fail "hostnet container pid"
huidmap=$(awk '{$1=$1; print}' "/proc/$hpid/uid_map")
check "hostnet: no user namespace (uid_map $huidmap)" [ "$(readlink "/proc/$hpid/ns/user")" = "$(readlink /proc/self/ns/user)" ]
check "hostnet: host network namespace" [ "$(readlink "/proc/$hpid/ns/net")" = "$(readlink /proc/self/ns/net)" ]

# --- restart: pods and containers survive ---------------------------------------
check "ctd_restart" ctd_restart
check "userns container still running after restart" ctd_wait_container "$ctr" RUNNING 10
check "same process after restart" [ "$(ctd_container_pid "$ctr")" = "$pid" ]

# --- stop and look for leftovers ------------------------------------------------
shim_pids=$(pgrep -f "containerd-shim-runc-v2 .*$root" || true)
echo "     shims before stop: $(echo "$shim_pids" | wc -w)"
t0=$SECONDS
# A plain call, as bats' teardown_file makes it: must be safe under set -e.
ctd_stop
ok "ctd_stop"
echo "     ctd_stop took $((SECONDS - t0))s"
check "run dir removed" [ ! -e "$root" ]
check "no mounts under the run dir" bash -c "! grep -qF ' $root/' /proc/self/mountinfo"
# Other runs may use the same binaries at the same time: ours are those whose
# command line names the run dir (containerd --config, shim -address, runc --root).
leftover=$(for p in /proc/[0-9]*; do
  exe=$(readlink "$p/exe" 2>/dev/null) || continue
  case $exe in "$bin"/*) ;; *) continue ;; esac
  pcmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
  case $pcmd in *"$root"*) echo "${p#/proc/}:$pcmd" ;; esac
done)
check "no containerd/shim/runc processes of this run left ${leftover}" [ -z "$leftover" ]
check "container processes gone" bash -c "! kill -0 $pid 2>/dev/null && ! kill -0 $hpid 2>/dev/null"
check "bridge $bridge deleted" bash -c "! ip link show dev $bridge >/dev/null 2>&1"
cg=$(CTD_ROOT=$root _ctd_cgroup_parent)
check "cgroups $cg removed" bash -c "! ls -d /sys/fs/cgroup/*$cg /sys/fs/cgroup$cg 2>/dev/null | grep -q ."
check "/run/containerd untouched" [ "$([ -e /run/containerd ] && echo yes || echo no)" = "$run_before" ]
check "no CNI result cache entries of the pods left" \
  bash -c "! ls /var/lib/cni/results/ 2>/dev/null | grep -qE -- '-($pod|$hpod)-'"
check "ctd_stop again is a no-op" ctd_stop

echo "smoke: $passed passed, $failed failed"
