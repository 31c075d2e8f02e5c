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
# Run as root. The checks it shares with test/crio/smoke.sh are in
# test/cri/smoke-common.bash.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

"$here/install.sh"

# shellcheck source-path=SCRIPTDIR source=lib.bash
. "$here/lib.bash"
# shellcheck source-path=SCRIPTDIR source=../cri/smoke-common.bash
. "$here/../cri/smoke-common.bash"

image=localhost/ctd-smoke:latest
export CTD_SANDBOX_IMAGE=$image

smoke_setup ctd "${1:-}"

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
smoke_sleeper ctd "$image" userns smoke-userns --userns --annotation smoke=userns -- --cap BPF
pod=$SMOKE_POD ctr=$SMOKE_CTR pid=$SMOKE_PID
smoke_check_userns "$pid"
bridge=$(_ctd_bridge)
smoke_check_pod_net ctd "$pod" "${CTD_SUBNET:-10.88.77.0/24}" "$bridge"
netns=$(ctd_crictl inspectp -o json "$pod" | jq -r '.info.runtimeSpec.linux.namespaces[] | select(.type == "network") | .path')
check "netns $netns under \$CTD_ROOT" grep -qF " $netns " <(grep -F " $root/" /proc/self/mountinfo)
check "shim socket under socket_dir" test -n "$(find "$(_ctd_socket_dir)" -type s | head -n 1)"

# --- host-network pod without user namespace ------------------------------------
smoke_sleeper ctd "$image" hostnet smoke-host --hostnet
hpod=$SMOKE_POD hpid=$SMOKE_PID
smoke_check_hostnet "$hpid"

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
smoke_check_gone "$root" "$bridge" "$(CTD_ROOT=$root _ctd_cgroup_parent)" "$pid $hpid" "$pod $hpod"
check "/run/containerd untouched" [ "$([ -e /run/containerd ] && echo yes || echo no)" = "$run_before" ]
check "ctd_stop again is a no-op" ctd_stop

smoke_report
