#!/bin/bash
# smoke.sh: end-to-end check of the CRI-O test harness (install.sh + lib.bash)
# on this host.
#
#   test/crio/smoke.sh [ROOTFS_DIR_OR_TAR]
#
# Builds (or reuses) the pinned binaries, starts a private CRI-O, imports a
# busybox image (a throwaway busybox-static rootfs unless one is given) into
# its containers-storage, runs a user-namespace pod with pod network, a
# host-network pod without user namespace and a user-namespace pod sharing its
# PID namespace (so with a pause container), each with a `sleep 300` container,
# checks their state, uid maps and namespaces, checks that a bpf.token/
# annotation reaches config.json and triggers an OCI createRuntime hook from
# $CRIO_ROOT/hooks.d, checks that an external NRI plugin registers on
# $CRIO_ROOT/nri.sock (when bin/nri-bpftoken has been built), restarts crio,
# then stops everything and checks that nothing is left: no mounts, processes,
# bridge, cgroups or run dir. Exits non-zero on the first failed check; ends
# with "N passed, N failed". Run as root. The checks it shares with
# test/containerd/smoke.sh are in test/cri/smoke-common.bash.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

"$here/../containerd/install.sh"

# shellcheck source-path=SCRIPTDIR source=lib.bash
. "$here/lib.bash"
# shellcheck source-path=SCRIPTDIR source=../cri/smoke-common.bash
. "$here/../cri/smoke-common.bash"

image=localhost/crio-smoke:latest
export CRIO_PAUSE_IMAGE=$image

smoke_setup crio "${1:-}"

# Host paths crio or podman would use by default: none may appear or change.
host_paths="/run/crio /var/run/crio /var/lib/crio /etc/crio /etc/containers /var/lib/containers /run/libpod /run/containers /var/log/crio /opt/nri /etc/nri /var/run/nri"
fingerprint() {
  # shellcheck disable=SC2086
  { find $host_paths -maxdepth 3 -printf '%p %T@\n' 2>/dev/null || true; } | sort
}
before=$(fingerprint)

t0=$SECONDS
# Import before start: podman writes the storage directly, no crio needed.
check "crio_import_image (before crio_start)" crio_import_image "$rootfs" "$image"
check "crio_start" crio_start
echo "     CRIO_ROOT=$CRIO_ROOT ($((SECONDS - t0))s)"
root=$CRIO_ROOT
bin=$(_crio_bin)
"$bin/crio" --version 2>/dev/null | sed -n 1p | sed 's/^/     /'
"$bin/runc" --version | sed -n 1p | sed 's/^/     /'
"$(_crio_conmon)" --version | sed -n 1p | sed 's/^/     /'
crio_crictl images | sed 's/^/     /'
check "crictl sees $image" crio_crictl inspecti "$image" >/dev/null

# An OCI hook for containers with bpf.token/ annotations; it records the
# state JSON it gets on stdin. Written elsewhere and moved in: crio watches
# the dir and would read a half-written file.
mkdir -p "$root/hook-out"
cat >"$root/hook.sh" <<EOF
#!/bin/sh
cat >"$root/hook-out/state.\$\$.json"
EOF
chmod 0755 "$root/hook.sh"
jq -n --arg path "$root/hook.sh" '{
  version: "1.0.0",
  hook: {path: $path, args: ["hook.sh", "createRuntime"]},
  when: {annotations: {"^bpf\\.token/": ".*"}},
  stages: ["createRuntime"]
}' >"$root/bpftoken-hook.json"
mv "$root/bpftoken-hook.json" "$root/hooks.d/bpftoken-hook.json"

# --- user-namespace pod with pod network --------------------------------------
smoke_sleeper crio "$image" userns smoke-userns --userns --annotation smoke=userns -- --cap BPF
pod=$SMOKE_POD ctr=$SMOKE_CTR pid=$SMOKE_PID
smoke_check_userns "$pid"
bridge=$(_crio_bridge)
smoke_check_pod_net crio "$pod" "${CRIO_SUBNET:-10.88.78.0/24}" "$bridge"
check "pinned netns/userns under \$CRIO_ROOT/ns" \
  bash -c "grep -F ' $root/ns/' /proc/self/mountinfo | grep -q userns/"
conmons=$(pgrep -f "conmon .*$root" | wc -l)
check "conmon for the container ($conmons)" [ "$conmons" -ge 1 ]
bundle=$(crio_container_bundle "$ctr") || fail "container bundle"
check "bundle $bundle under \$CRIO_ROOT" [ "${bundle#"$root"/}" != "$bundle" ]
check "no hook for a container without bpf.token/ annotations" \
  bash -c "! ls '$root/hook-out' | grep -q ."

# --- annotation -> config.json, OCI hook ------------------------------------------
actr=$(crio_create_container "$pod" smoke-userns annotated "$image" \
  --annotation bpf.token/cmds=map_create -- sleep 300) || fail "crio_create_container (annotated)"
ok "crio_create_container --annotation bpf.token/cmds=map_create: ${actr:0:13}"
abundle=$(crio_container_bundle "$actr") || fail "bundle of the annotated container"
check "config.json has bpf.token/cmds=map_create" \
  [ "$(jq -r '.annotations["bpf.token/cmds"]' "$abundle/config.json")" = map_create ]
check "config.json has the createRuntime hook" \
  [ "$(jq -r '.hooks.createRuntime[0].path' "$abundle/config.json")" = "$root/hook.sh" ]
state=$(cat "$root"/hook-out/state.*.json 2>/dev/null) || state=
check "createRuntime hook ran" [ -n "$state" ]
echo "     hook state: $(jq -c '{ociVersion, id: .id[0:13], status, pid, bundle, annotations: (.annotations | with_entries(select(.key | startswith("bpf.token/"))))}' <<<"$state")"
check "hook state: status creating, our id and bundle" \
  [ "$(jq -r '[.status, .id, .bundle] | join(" ")' <<<"$state")" = "creating $actr $abundle" ]
check "crio_start_container (annotated)" crio_start_container "$actr"
check "annotated container running" crio_wait_container "$actr" RUNNING 20

# --- external NRI plugin ----------------------------------------------------------
plugin=$here/../../bin/nri-bpftoken
if [ -x "$plugin" ]; then
  "$plugin" -socket-path "$root/nri.sock" -log-level debug >"$root/nri-plugin.log" 2>&1 </dev/null &
  nripid=$!
  registered=0
  for _ in $(seq 50); do
    if grep -q 'registered as \\"10-nri-bpftoken\\"' "$root/crio.log"; then registered=1; break; fi
    sleep 0.1
  done
  check "NRI plugin registered on \$CRIO_ROOT/nri.sock" [ "$registered" = 1 ]
  grep -F 'registered as' "$root/crio.log" | tail -n 1 | sed 's/^.*msg=/     crio.log: /; s/ file=.*//'
  # Without a policy it refuses containers that ask for delegation.
  if crio_create_container "$pod" smoke-userns refused "$image" \
    --annotation bpf.token/cmds=map_create -- sleep 300 >/dev/null 2>"$root/refused.err"; then
    fail "NRI plugin without policy let a bpf.token/ container through"
  fi
  ok "NRI plugin without policy refuses a bpf.token/ container"
  grep -o 'desc = .*policy' "$root/refused.err" | head -n 1 | cut -c1-120 | sed 's/^/     /'
else
  nripid=
  echo "skip NRI plugin check: $plugin not built (make bin/nri-bpftoken)"
fi

# --- host-network pod without user namespace ------------------------------------
smoke_sleeper crio "$image" hostnet smoke-host --hostnet
hpod=$SMOKE_POD hctr=$SMOKE_CTR hpid=$SMOKE_PID
smoke_check_hostnet "$hpid"

# --- shared PID namespace: crio runs the pause (infra) container ----------------
smoke_sleeper crio "$image" pid-pod smoke-pidpod --userns --pid-pod
ppod=$SMOKE_POD ppid=$SMOKE_PID
pause=$(nsenter -t "$ppid" -p -m cat /proc/1/cmdline | tr '\0' ' ')
check "pid 1 of the pod is the pause image's command: $pause" [ "${pause#/bin/sh -c trap}" != "$pause" ]

# --- restart: pods and containers survive ---------------------------------------
check "crio_restart" crio_restart
check "userns container still running after restart" crio_wait_container "$ctr" RUNNING 10
check "same process after restart" [ "$(crio_container_pid "$ctr")" = "$pid" ]
check "hostnet container still running after restart" crio_wait_container "$hctr" RUNNING 10
check "pods still ready after restart" \
  [ "$(crio_crictl pods -q --state ready | wc -l)" = 3 ]

# --- stop and look for leftovers ------------------------------------------------
echo "     conmons before stop: $(pgrep -f "conmon .*$root" | wc -l)"
# The test's own plugin: stop it here (crio_stop would SIGKILL it).
if [ -n "$nripid" ]; then kill "$nripid" 2>/dev/null || true; wait "$nripid" 2>/dev/null || true; fi
t0=$SECONDS
# A plain call, as bats' teardown_file makes it: must be safe under set -e.
crio_stop
ok "crio_stop"
echo "     crio_stop took $((SECONDS - t0))s"
smoke_check_gone "$root" "$bridge" "$(CRIO_ROOT=$root _crio_cgroup_parent)" "$pid $hpid $ppid" "$pod $hpod $ppod"
changed=$(diff <(echo "$before") <(fingerprint) | grep '^[<>]' | tr '\n' ' ' || true)
check "host crio/containers/nri paths untouched ${changed}" [ -z "$changed" ]
check "crio_stop again is a no-op" crio_stop

smoke_report
