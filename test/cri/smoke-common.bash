# shellcheck shell=bash
# smoke-common.bash: what the smoke checks test/containerd/smoke.sh and
# test/crio/smoke.sh share. Source it after the runtime lib; it runs nothing
# when sourced. RT is the lib's function prefix (ctd or crio). Checks count
# into the globals passed and failed, and the first failed one ends the
# script (exit 1) after printing the totals.
#
#   ok MESSAGE                    count a passed check, print "ok   MESSAGE"
#   fail MESSAGE                  count a failed check, print "FAIL MESSAGE" and
#                                 the totals, exit 1
#   check DESCRIPTION CMD...      run CMD: ok DESCRIPTION if it succeeds, else fail
#   smoke_report                  print "smoke: N passed, N failed"
#   smoke_setup RT [ROOTFS]       set work to a scratch dir ${TMPDIR:-/tmp}/RT-smoke.*
#                                 and rootfs to ROOTFS, or else to a smoke_rootfs
#                                 in it; trap EXIT with smoke_on_exit RT "$work"
#   smoke_on_exit RT WORK         after a failure, the daemon log's tail (RT_logs)
#                                 and RT_stop; then remove the scratch dir WORK
#   smoke_rootfs DIR              a throwaway busybox rootfs in DIR (installs
#                                 busybox-static when /bin/busybox is not static)
#   smoke_sleeper RT IMAGE TAG POD [RUN_POD_ARG...] [-- CREATE_ARG...]
#                                 RT_run_pod POD RUN_POD_ARG..., a container
#                                 "sleeper" of IMAGE in it running `sleep 300`
#                                 (RT_create_container ... CREATE_ARG...), started
#                                 and running; sets SMOKE_POD, SMOKE_CTR (ids) and
#                                 SMOKE_PID (its host pid). TAG names it in messages
#   smoke_check_userns PID        uid/gid maps 0 100000 65536, own user and network
#                                 namespaces, host uid 100000, CAP_BPF effective
#   smoke_check_pod_net RT POD SUBNET BRIDGE
#                                 the pod's IP is in SUBNET (a /24), BRIDGE exists
#   smoke_check_hostnet PID       host user and network namespaces
#   smoke_check_gone ROOT BRIDGE CGROUP "PID..." "POD_ID..."
#                                 after RT_stop: the run dir ROOT, mounts under
#                                 it, processes naming it, the container processes
#                                 PID..., BRIDGE, the cgroup parent CGROUP and
#                                 libcni's cached results of POD_ID... are gone

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
smoke_report() { echo "smoke: $passed passed, $failed failed"; }
fail() {
  failed=$((failed + 1))
  echo "FAIL $*"
  smoke_report
  exit 1
}
check() { # check DESCRIPTION CMD...
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

smoke_setup() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/$1-smoke.XXXXXX")
  # shellcheck disable=SC2064 # RT now, $work when it runs
  trap "smoke_on_exit $1 \"\$work\"" EXIT
  rootfs=${2:-}
  if [ -z "$rootfs" ]; then
    rootfs=$work/rootfs
    smoke_rootfs "$rootfs"
  fi
}

smoke_on_exit() {
  local rc=$? rt=$1 work=$2
  if [ "$rc" != 0 ]; then
    "${rt}_logs" 40 || true
    "${rt}_stop" || true
  fi
  rm -rf "$work"
}

smoke_rootfs() {
  local rootfs=$1
  if ! file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
  fi
  mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp,run,root}
  cp /bin/busybox "$rootfs/bin/busybox"
  # Inside the rootfs, so that the links point at /bin/busybox (on a
  # merged-/usr host, --install outside would link to /usr/bin/busybox).
  chroot "$rootfs" /bin/busybox --install -s /bin
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
}

smoke_sleeper() {
  local rt=$1 image=$2 tag=$3 name=$4 ps_line
  local -a podargs=() ctrargs=()
  shift 4
  while [ $# -gt 0 ]; do
    if [ "$1" = -- ]; then
      shift
      ctrargs=("$@")
      break
    fi
    podargs+=("$1")
    shift
  done
  SMOKE_POD=$("${rt}_run_pod" "$name" "${podargs[@]}") || fail "${rt}_run_pod $name ${podargs[*]}"
  ok "${rt}_run_pod $name ${podargs[*]}: ${SMOKE_POD:0:13}"
  SMOKE_CTR=$("${rt}_create_container" "$SMOKE_POD" "$name" sleeper "$image" "${ctrargs[@]}" -- sleep 300) ||
    fail "${rt}_create_container ($tag)"
  ok "${rt}_create_container ($tag): ${SMOKE_CTR:0:13}"
  check "${rt}_start_container ($tag)" "${rt}_start_container" "$SMOKE_CTR"
  check "$tag container running" "${rt}_wait_container" "$SMOKE_CTR" RUNNING 20
  ps_line=$("${rt}_crictl" ps --id "$SMOKE_CTR" | tail -n +2)
  echo "     $ps_line"
  check "crictl ps shows it Running" grep -q Running <<<"$ps_line"
  SMOKE_PID=$("${rt}_container_pid" "$SMOKE_CTR") || fail "$tag container pid"
  ok "$tag container pid $SMOKE_PID: $(tr '\0' ' ' <"/proc/$SMOKE_PID/cmdline")"
}

smoke_check_userns() {
  local pid=$1 uidmap gidmap hostuid capeff
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
}

smoke_check_pod_net() {
  local rt=$1 pod=$2 subnet=$3 bridge=$4 podip
  podip=$("${rt}_crictl" inspectp -o json "$pod" | jq -r .status.network.ip)
  check "pod IP $podip in $subnet" [ "${podip%.*}" = "${subnet%.*}" ]
  check "bridge $bridge exists" ip link show dev "$bridge" >/dev/null
}

smoke_check_hostnet() {
  local pid=$1 uidmap
  uidmap=$(awk '{$1=$1; print}' "/proc/$pid/uid_map")
  check "hostnet: no user namespace (uid_map $uidmap)" [ "$(readlink "/proc/$pid/ns/user")" = "$(readlink /proc/self/ns/user)" ]
  check "hostnet: host network namespace" [ "$(readlink "/proc/$pid/ns/net")" = "$(readlink /proc/self/ns/net)" ]
}

smoke_check_gone() {
  local root=$1 bridge=$2 cg=$3 pids=$4 pods=$5 leftover p pcmd alive=
  check "run dir removed" [ ! -e "$root" ]
  check "no mounts under the run dir" bash -c "! grep -qF ' $root' /proc/self/mountinfo"
  # Other runs may use the same binaries at the same time: ours are those
  # whose command line names the run dir (the daemon's --config, shim
  # -address, conmon -b, runc --root).
  leftover=$(for p in /proc/[0-9]*; do
    pcmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    case $pcmd in *"$root"*) echo "${p#/proc/}:$pcmd" ;; esac
  done)
  check "no processes of this run left ${leftover}" [ -z "$leftover" ]
  for p in $pids; do
    if kill -0 "$p" 2>/dev/null; then alive+=" $p"; fi
  done
  check "container processes gone${alive}" [ -z "$alive" ]
  check "bridge $bridge deleted" bash -c "! ip link show dev $bridge >/dev/null 2>&1"
  check "cgroups $cg removed" bash -c "! ls -d /sys/fs/cgroup/*$cg /sys/fs/cgroup$cg 2>/dev/null | grep -q ."
  check "no CNI result cache entries of the pods left" \
    bash -c "! ls /var/lib/cni/results/ 2>/dev/null | grep -qE -- '-(${pods// /|})-'"
}
