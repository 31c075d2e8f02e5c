# shellcheck shell=bash
# lib.bash: a private CRI-O (CRI + NRI + OCI hooks) for tests. Source it (bats:
# `load ../crio/lib`) after test/containerd/install.sh has built the binaries (it builds CRI-O too).
# Everything lives under one run dir, $CRIO_ROOT (a fresh mktemp dir unless
# set): crio.conf and an empty drop-in dir, containers-storage (storage/,
# storage-run/), crio's socket and state, runc's state, conmon exit files and
# attach sockets, pinned namespaces (ns/), CNI config and IPAM state, NRI
# socket and plugin dirs, the OCI hooks dir, a private signature policy,
# registries.conf and storage.conf, the generated pod/container JSON, and
# crio.log. Nothing under /etc/crio or /etc/containers is read or written.
#
#   crio_init                     create $CRIO_ROOT, its dirs and the private
#                                 image configs (crio_start does it); lets a test
#                                 drop plugins into $CRIO_ROOT/nri-plugins, configs
#                                 into $CRIO_ROOT/nri-conf.d and OCI hooks JSON into
#                                 $CRIO_ROOT/hooks.d first
#   crio_start [ARG...]           write crio.conf and start crio. An ARG starting
#                                 with - is a crio command-line flag; any other ARG
#                                 is a TOML line of the drop-in crio.conf.d/90-args.conf,
#                                 best as a dotted key, e.g.
#                                 'crio.nri.nri_plugin_request_timeout = "5s"'
#   crio_stop                     remove pods, stop crio, kill what is left (conmon,
#                                 containers, NRI plugins), unmount, delete the bridge
#                                 and cgroups, remove $CRIO_ROOT; safe after a
#                                 half-done crio_start and when repeated
#   crio_restart                  restart crio only (pods and conmons stay)
#   crio_import_image DIR|TAR NAME [CMD...]
#                                 rootfs dir (or a rootfs tarball) -> image NAME in
#                                 crio's containers-storage (podman import); CMD
#                                 defaults to a shell that sleeps and exits 0 on
#                                 SIGTERM, so the image also serves as the pause
#                                 image. Works before or after crio_start.
#   crio_run_pod NAME [--userns] [--hostnet] [--namespace NS] [--annotation K=V]...
#                 [--label K=V]... [--pid-pod]
#                                 run a pod sandbox, echo its id; the config is
#                                 $CRIO_ROOT/pods/NAME.json (see crio_pod_config).
#                                 --userns: uids/gids 0 -> 100000, 65536 (mode POD);
#                                 --hostnet: host network, no hostname. Pod network
#                                 otherwise (bridge + host-local). PID namespace per
#                                 container, so no infra container; --pid-pod shares
#                                 it, which makes crio run the pause image.
#   crio_create_container POD_ID POD_CONFIG NAME IMAGE [--annotation K=V]...
#                 [--label K=V]... [--cap CAP]... [--env K=V]... [--mount HOST:CTR[:ro]]...
#                 [--privileged] [-- CMD ARG...]
#                                 create a container, echo its id; POD_CONFIG is the
#                                 pod's JSON file (or the pod NAME)
#   crio_start_container ID
#   crio_crictl ARGS...           crictl talking to this crio
#   crio_podman ARGS...           podman on this crio's storage (crio may run), in a
#                                 private mount namespace with a tmpfs on /var/lib
#   crio_container_pid ID         host pid of a running container's init
#   crio_container_bundle ID      the container's OCI bundle dir (config.json)
#   crio_pod_config NAME          path of the pod's JSON config
#   crio_wait_container ID STATE [SECONDS]
#                                 wait until crictl reports CONTAINER_STATE
#   crio_logs [LINES]             tail of crio.log (for failure output)
#
# Settings (environment, read when the functions run):
#   BPFTOKEN_CACHE      install.sh's cache (default /var/cache/nri-bpftoken-test)
#   CRIO_BIN            crio, pinns, runc, crictl (default $BPFTOKEN_CACHE/bin)
#   CRIO_CNI_BIN        CNI plugins (default $BPFTOKEN_CACHE/cni/bin)
#   CRIO_CONMON         conmon (default /usr/bin/conmon, Debian's)
#   CRIO_PAUSE_IMAGE    pause image (default localhost/bpftoken-test:latest); only
#                       used by --pid-pod pods, and never pulled
#   CRIO_BRIDGE         CNI bridge (default crbtk<9 hex of the run id>, one per run)
#   CRIO_SUBNET         pod subnet (default 10.88.78.0/24; the bridge has no host
#                       address and there is no route, so runs may share it)
#   CRIO_LOG_LEVEL      crio log level (default debug)
#   CRIO_START_TIMEOUT  seconds to wait for CRI to answer (default 30)
#   CRIO_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 10)
#   CRIO_EXTRA_CONFIG   TOML written to the drop-in crio.conf.d/95-extra.conf
#
# Functions print errors on stderr and return non-zero; they do not exit.
# Runs in parallel (each with its own CRIO_ROOT) do not share processes, mounts,
# cgroups, sockets or bridges.

: "${BPFTOKEN_CACHE:=/var/cache/nri-bpftoken-test}"

_crio_bin() { echo "${CRIO_BIN:-$BPFTOKEN_CACHE/bin}"; }
_crio_cni_bin() { echo "${CRIO_CNI_BIN:-$BPFTOKEN_CACHE/cni/bin}"; }
_crio_conmon() { echo "${CRIO_CONMON:-/usr/bin/conmon}"; }
_crio_pause_image() { echo "${CRIO_PAUSE_IMAGE:-localhost/bpftoken-test:latest}"; }
_crio_bridge() { echo "${CRIO_BRIDGE:-crbtk$(_crio_runid | cut -c1-9)}"; }
_crio_err() { echo "crio: $*" >&2; }

# A short id derived from the run dir: names the cgroup parent and the CNI
# network, so leftovers of this run can be found without any state file.
_crio_runid() { printf '%s' "$CRIO_ROOT" | sha256sum | cut -c1-10; }
_crio_cgroup_parent() { echo "/crio-$(_crio_runid)"; }
_crio_cni_net() { echo "crbtk-$(_crio_runid)"; }

# Refuse run dirs whose removal would hurt.
_crio_root_ok() {
  case ${CRIO_ROOT:-} in
  '' | / | /tmp | /tmp/ | /var | /var/* | /run | /run/* | /home | /root | /usr | /usr/* | /etc | /etc/* | *..*)
    case ${CRIO_ROOT:-} in /var/tmp/?* | /run/user/*/?*) return 0 ;; esac
    return 1 ;;
  /*/*) return 0 ;;
  *) return 1 ;;
  esac
}

# The environment of crio and podman: containers/image and containers/storage
# read these instead of /etc/containers/{registries,storage,containers}.conf.
_crio_env() {
  echo "CONTAINERS_REGISTRIES_CONF=$CRIO_ROOT/registries.conf"
  echo "CONTAINERS_STORAGE_CONF=$CRIO_ROOT/storage.conf"
  echo "CONTAINERS_CONF=$CRIO_ROOT/containers.conf"
  echo "XDG_RUNTIME_DIR=$CRIO_ROOT/xdg-run"
}

crio_init() {
  if [ -z "${CRIO_ROOT:-}" ]; then
    CRIO_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/crio.XXXXXX") || return 1
  fi
  export CRIO_ROOT
  _crio_root_ok || { _crio_err "refusing CRIO_ROOT=$CRIO_ROOT"; return 1; }
  if [ ${#CRIO_ROOT} -gt 80 ]; then
    _crio_err "CRIO_ROOT too long for unix sockets: $CRIO_ROOT"
    return 1
  fi
  mkdir -p "$CRIO_ROOT" &&
    mkdir -p "$CRIO_ROOT"/{storage,storage-run,run,exits,a,ns,runc,crio.conf.d,hooks.d,nri-plugins,nri-conf.d,cni/conf,cni/ipam,pods,containers,logs,images,podman-tmp,xdg-run,policies} ||
    return 1
  # Processes of user-namespaced containers (host uid 100000+) must be able
  # to traverse the run dir on their way to the bundle and rootfs.
  chmod 0711 "$CRIO_ROOT" "$CRIO_ROOT/storage" "$CRIO_ROOT/storage-run" || return 1
  chmod 0700 "$CRIO_ROOT/xdg-run" || return 1
  export CONTAINER_RUNTIME_ENDPOINT="unix://$CRIO_ROOT/crio.sock"
  export IMAGE_SERVICE_ENDPOINT="$CONTAINER_RUNTIME_ENDPOINT"
  export CRI_CONFIG_FILE="$CRIO_ROOT/crictl.yaml"
  [ -f "$CRIO_ROOT/crictl.yaml" ] && return 0
  cat >"$CRIO_ROOT/crictl.yaml" <<EOF
runtime-endpoint: unix://$CRIO_ROOT/crio.sock
image-endpoint: unix://$CRIO_ROOT/crio.sock
timeout: 30
debug: false
pull-image-on-create: false
EOF
  # No registries: short names are not resolved, nothing is pulled.
  cat >"$CRIO_ROOT/registries.conf" <<'EOF'
unqualified-search-registries = []
short-name-mode = "disabled"
EOF
  echo '{"default": [{"type": "insecureAcceptAnything"}]}' >"$CRIO_ROOT/policy.json"
  cat >"$CRIO_ROOT/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$CRIO_ROOT/storage"
runroot = "$CRIO_ROOT/storage-run"

[storage.options]
additionalimagestores = []

[storage.options.overlay]
mountopt = "nodev"
EOF
  # For podman (crio does not read it).
  cat >"$CRIO_ROOT/containers.conf" <<EOF
[engine]
cgroup_manager = "cgroupfs"
events_logger = "none"
tmp_dir = "$CRIO_ROOT/podman-tmp"
volume_path = "$CRIO_ROOT/storage/volumes"
EOF
  : >"$CRIO_ROOT/mounts.conf"
}

crio_crictl() {
  "$(_crio_bin)/crictl" --config "$CRIO_ROOT/crictl.yaml" "$@"
}

# podman 4.3 writes containers/image's blob info cache to
# /var/lib/containers/cache whatever its --root (no option moves it): run it
# in a private mount namespace with a scratch tmpfs on /var/lib. Its mounts
# (containers-storage's private bind of storage/overlay) go with it.
crio_podman() {
  # shellcheck disable=SC2016,SC2046
  env $(_crio_env) TMPDIR="$CRIO_ROOT/podman-tmp" unshare --mount --propagation private \
    sh -c 'mount -t tmpfs -o mode=0755,size=64m crio-podman-scratch /var/lib && exec "$@"' sh \
    podman --root "$CRIO_ROOT/storage" --runroot "$CRIO_ROOT/storage-run" \
    --storage-driver overlay --tmpdir "$CRIO_ROOT/podman-tmp" --events-backend none \
    --cgroup-manager cgroupfs "$@"
}

crio_logs() {
  [ -n "${CRIO_ROOT:-}" ] && [ -f "$CRIO_ROOT/crio.log" ] || return 0
  echo "--- tail of $CRIO_ROOT/crio.log" >&2
  tail -n "${1:-50}" "$CRIO_ROOT/crio.log" >&2
}

# crio gives the infra (pause) container of a pod that shares its PID
# namespace oom_score_adj -998 (not configurable). Lowering the inherited
# value needs CAP_SYS_RESOURCE in the initial user namespace, which runc lacks
# inside a pod's user namespace (and which this host may not grant at all):
# "nsexec: failed to update /proc/self/oom_score_adj: Permission denied".
# runc is called through this wrapper, which raises process.oomScoreAdj in the
# bundle's config.json to the value it inherited when it is lower (what
# containerd's restrict_oom_score_adj does); otherwise it only execs runc.
_crio_write_runc_wrapper() {
  mkdir -p "$CRIO_ROOT/bin" || return 1
  cat >"$CRIO_ROOT/bin/runc" <<WRAPPER
#!/bin/sh
prev= bundle=
for a in "\$@"; do
  case \$prev in --bundle | -b) bundle=\$a ;; esac
  case \$a in --bundle=*) bundle=\${a#--bundle=} ;; esac
  prev=\$a
done
if [ -n "\$bundle" ] && [ -f "\$bundle/config.json" ]; then
  min=\$(cat /proc/self/oom_score_adj)
  if jq -e --argjson min "\$min" '(.process.oomScoreAdj // \$min) < \$min' "\$bundle/config.json" >/dev/null 2>&1; then
    jq --argjson min "\$min" '.process.oomScoreAdj = \$min' "\$bundle/config.json" >"\$bundle/config.json.oom" &&
      mv -f "\$bundle/config.json.oom" "\$bundle/config.json"
  fi
fi
exec "$(_crio_bin)/runc" "\$@"
WRAPPER
  chmod 0755 "$CRIO_ROOT/bin/runc"
}

_crio_write_config() {
  local bin cnibin conmon f
  bin=$(_crio_bin)
  cnibin=$(_crio_cni_bin)
  conmon=$(_crio_conmon)
  for f in crio pinns runc crictl; do
    [ -x "$bin/$f" ] || { _crio_err "$bin/$f missing: run test/containerd/install.sh"; return 1; }
  done
  for f in loopback bridge host-local; do
    [ -x "$cnibin/$f" ] || { _crio_err "$cnibin/$f missing: run test/containerd/install.sh"; return 1; }
  done
  [ -x "$conmon" ] || { _crio_err "$conmon missing: apt-get install conmon"; return 1; }
  command -v podman >/dev/null || { _crio_err "podman missing: apt-get install podman"; return 1; }
  _crio_write_runc_wrapper || return 1

  cat >"$CRIO_ROOT/crio.conf" <<EOF
[crio]
root = "$CRIO_ROOT/storage"
runroot = "$CRIO_ROOT/storage-run"
storage_driver = "overlay"
storage_option = []
log_dir = "$CRIO_ROOT/logs"
version_file = "$CRIO_ROOT/run/version"
version_file_persist = ""
clean_shutdown_file = "$CRIO_ROOT/run/clean.shutdown"
internal_wipe = false
internal_repair = false

[crio.api]
listen = "$CRIO_ROOT/crio.sock"
stream_address = "127.0.0.1"
stream_port = "0"

[crio.runtime]
default_runtime = "runc"
cgroup_manager = "cgroupfs"
conmon_cgroup = ""
selinux = false
seccomp_profile = ""
apparmor_profile = "unconfined"
hooks_dir = ["$CRIO_ROOT/hooks.d"]
default_mounts_file = "$CRIO_ROOT/mounts.conf"
container_exits_dir = "$CRIO_ROOT/exits"
container_attach_socket_dir = "$CRIO_ROOT/a"
namespaces_dir = "$CRIO_ROOT/ns"
pinns_path = "$bin/pinns"
drop_infra_ctr = true
log_level = "${CRIO_LOG_LEVEL:-debug}"
enable_criu_support = false
irqbalance_config_file = "$CRIO_ROOT/run/irqbalance"
irqbalance_config_restore_file = "disable"
cdi_spec_dirs = ["$CRIO_ROOT/cdi"]

[crio.runtime.runtimes.runc]
runtime_path = "$CRIO_ROOT/bin/runc"
runtime_type = "oci"
runtime_root = "$CRIO_ROOT/runc"
monitor_path = "$conmon"
monitor_cgroup = "pod"
monitor_env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]

[crio.image]
pause_image = "$(_crio_pause_image)"
pause_command = ""
pinned_images = ["$(_crio_pause_image)"]
signature_policy = "$CRIO_ROOT/policy.json"
signature_policy_dir = "$CRIO_ROOT/policies"
global_auth_file = ""
image_volumes = "mkdir"
big_files_temporary_dir = "$CRIO_ROOT/run"

[crio.network]
cni_default_network = "$(_crio_cni_net)"
network_dir = "$CRIO_ROOT/cni/conf"
plugin_dirs = ["$cnibin"]

[crio.metrics]
enable_metrics = false

[crio.nri]
enable_nri = true
nri_listen = "$CRIO_ROOT/nri.sock"
nri_plugin_dir = "$CRIO_ROOT/nri-plugins"
nri_plugin_config_dir = "$CRIO_ROOT/nri-conf.d"
nri_disable_connections = false
EOF

  rm -f "$CRIO_ROOT"/crio.conf.d/90-args.conf "$CRIO_ROOT"/crio.conf.d/95-extra.conf
  if [ -n "${CRIO_EXTRA_CONFIG:-}" ]; then
    printf '%s\n' "$CRIO_EXTRA_CONFIG" >"$CRIO_ROOT/crio.conf.d/95-extra.conf"
  fi

  # isGateway/ipMasq off: no host sysctl (ip_forward) or iptables changes.
  # host-local keeps its leases in the run dir, not /var/lib/cni/networks.
  cat >"$CRIO_ROOT/cni/conf/10-bpftoken-test.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$(_crio_cni_net)",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$(_crio_bridge)",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$CRIO_ROOT/cni/ipam",
        "ranges": [[{ "subnet": "${CRIO_SUBNET:-10.88.78.0/24}" }]]
      }
    },
    { "type": "loopback" }
  ]
}
EOF
}

_crio_pid() {
  local pid cmd
  [ -n "${CRIO_ROOT:-}" ] && [ -f "$CRIO_ROOT/crio.pid" ] || return 1
  pid=$(cat "$CRIO_ROOT/crio.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  # Only our crio: its command line names our config.
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmd == *"$CRIO_ROOT/crio.conf"* ]] || return 1
  echo "$pid"
}

_crio_launch() {
  local bin log pid
  local -a flags=()
  bin=$(_crio_bin)
  log=$CRIO_ROOT/crio.log
  if _crio_pid >/dev/null; then
    _crio_err "crio already running for $CRIO_ROOT"
    return 1
  fi
  if [ -f "$CRIO_ROOT/crio.flags" ]; then
    mapfile -t flags <"$CRIO_ROOT/crio.flags"
  fi
  echo "=== crio: crio start $(date -Is)" >>"$log"
  # oom_score_adj -999 as crio.service has it, when we may (CAP_SYS_RESOURCE):
  # then runc may set the infra container's -998 (see _crio_write_runc_wrapper).
  local -a choom=()
  if choom -n -999 -- true 2>/dev/null; then choom=(choom -n -999 --); fi
  # Our bin dir first (runc, pinns); fds 3-9 closed: bats waits for holders of fd 3.
  # shellcheck disable=SC2046
  "${choom[@]}" env PATH="$bin:$PATH" $(_crio_env) "$bin/crio" --config "$CRIO_ROOT/crio.conf" \
    --config-dir "$CRIO_ROOT/crio.conf.d" "${flags[@]}" \
    </dev/null >>"$log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  pid=$!
  echo "$pid" >"$CRIO_ROOT/crio.pid"
  _crio_wait_ready "$pid"
}

_crio_wait_ready() {
  local pid=$1 deadline info
  deadline=$((SECONDS + ${CRIO_START_TIMEOUT:-30}))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      _crio_err "crio (pid $pid) exited during startup"
      crio_logs 30
      return 1
    fi
    if [ -S "$CRIO_ROOT/crio.sock" ] &&
      info=$("$(_crio_bin)/crictl" --config "$CRIO_ROOT/crictl.yaml" --timeout 2s info 2>/dev/null) &&
      [ "$(jq -r '[.status.conditions[] | select(.type == "RuntimeReady" or .type == "NetworkReady") | .status] | all' <<<"$info" 2>/dev/null)" = true ]; then
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      _crio_err "crio not ready after ${CRIO_START_TIMEOUT:-30}s"
      if [ -n "${info:-}" ]; then head -n 40 <<<"$info" >&2; fi
      crio_logs 30
      return 1
    fi
    sleep 0.2
  done
}

crio_start() {
  crio_init || return 1
  _crio_write_config || return 1
  local a
  : >"$CRIO_ROOT/crio.flags"
  for a in "$@"; do
    case $a in
    -*) printf '%s\n' "$a" >>"$CRIO_ROOT/crio.flags" ;;
    *) printf '%s\n' "$a" >>"$CRIO_ROOT/crio.conf.d/90-args.conf" ;;
    esac
  done
  _crio_launch
}

# SIGTERM crio, SIGKILL after CRIO_STOP_TIMEOUT seconds.
_crio_stop_daemon() {
  local pid i
  pid=$(_crio_pid) || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < ${CRIO_STOP_TIMEOUT:-10} * 10; i++)); do
    [ -d "/proc/$pid" ] || break
    # A zombie child of this shell counts as gone.
    if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then break; fi
    sleep 0.1
  done
  if [ -d "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
    _crio_err "crio (pid $pid) ignored SIGTERM; killing"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  wait "$pid" 2>/dev/null || true
  echo "=== crio: crio stopped $(date -Is)" >>"$CRIO_ROOT/crio.log"
  rm -f "$CRIO_ROOT/crio.pid"
}

crio_restart() {
  if [ -z "${CRIO_ROOT:-}" ] || [ ! -f "$CRIO_ROOT/crio.conf" ]; then
    _crio_err "crio_restart: nothing started"
    return 1
  fi
  _crio_stop_daemon
  _crio_launch
}

# This shell and its ancestors: never killed by the leftover sweep.
_crio_ancestors() {
  local p=$BASHPID
  while [ -n "$p" ] && [ "$p" -gt 1 ] 2>/dev/null; do
    echo "$p"
    p=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null) || break
  done
}

# Pids that belong to this run: command line mentions $CRIO_ROOT (crio,
# conmon, runc, pinns, podman, NRI plugins started from nri_plugin_dir) or the
# cgroup is under our cgroup parent (container processes, conmon).
_crio_leftover_pids() {
  local cg self p cmd
  cg="$(_crio_cgroup_parent)/"
  self=" $(_crio_ancestors | tr '\n' ' ') "
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    case $self in *" $p "*) continue ;; esac
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
    if [[ $cmd == *"$CRIO_ROOT/"* ]] ||
      grep -qF -- ":$cg" "/proc/$p/cgroup" 2>/dev/null; then
      echo "$p"
    fi
  done
}

_crio_kill_leftovers() {
  local i pids
  for ((i = 0; i < 50; i++)); do
    pids=$(_crio_leftover_pids)
    [ -n "$pids" ] || return 0
    if [ "$i" = 0 ]; then
      _crio_err "killing leftover processes: $(echo "$pids" | while read -r p; do
        printf '%s(%s) ' "$p" "$(cat "/proc/$p/comm" 2>/dev/null)"
      done)"
    fi
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  _crio_err "processes still alive: $(_crio_leftover_pids | tr '\n' ' ')"
  return 1
}

# Mount points at or under DIR, last mounted first, from /proc/self/mountinfo
# (octal escapes such as \040 decoded).
_crio_mounts_under() {
  local dir=$1 mp
  awk '{print $5}' /proc/self/mountinfo | tac | while read -r mp; do
    mp=$(printf '%b' "$mp")
    case $mp in "$dir" | "$dir"/*) echo "$mp" ;; esac
  done
}

# Storage overlay mounts, shm, pinned netns/ipcns/utsns/userns, and the
# private bind mount containers-storage puts on its overlay dir.
_crio_unmount_all() {
  local i mp left
  for ((i = 0; i < 10; i++)); do
    left=$(_crio_mounts_under "$CRIO_ROOT")
    [ -n "$left" ] || break
    while IFS= read -r mp; do
      umount -l -- "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
    done <<<"$left"
  done
  left=$(_crio_mounts_under "$CRIO_ROOT")
  if [ -n "$left" ]; then
    _crio_err "still mounted: $(echo "$left" | tr '\n' ' ')"
    return 1
  fi
}

# Remove our cgroup parent in every hierarchy (v1 and v2), deepest first.
_crio_remove_cgroups() {
  local cg mp
  cg=$(_crio_cgroup_parent)
  awk '$9 == "cgroup" || $9 == "cgroup2" {print $5}' /proc/self/mountinfo 2>/dev/null |
    while read -r mp; do
      [ -d "$mp$cg" ] || continue
      find "$mp$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
      if [ -d "$mp$cg" ]; then _crio_err "cgroup $mp$cg not removed"; fi
    done
  return 0
}

crio_stop() {
  [ -n "${CRIO_ROOT:-}" ] || return 0
  _crio_root_ok || { _crio_err "refusing CRIO_ROOT=$CRIO_ROOT"; return 1; }
  local rc=0 bin
  bin=$(_crio_bin)
  if _crio_pid >/dev/null && [ -S "$CRIO_ROOT/crio.sock" ]; then
    # Stop the containers first with no grace period: rmp alone gives each
    # the rest of crictl's 30 s timeout, and `sleep` as pid 1 ignores SIGTERM.
    local ids
    ids=$(timeout 30 "$bin/crictl" --config "$CRIO_ROOT/crictl.yaml" ps -q 2>/dev/null) || ids=
    if [ -n "$ids" ]; then
      # shellcheck disable=SC2086
      timeout 60 "$bin/crictl" --config "$CRIO_ROOT/crictl.yaml" stop --timeout 0 $ids >/dev/null 2>&1 ||
        _crio_err "crictl stop failed (continuing)"
    fi
    timeout 60 "$bin/crictl" --config "$CRIO_ROOT/crictl.yaml" rmp -fa >/dev/null 2>&1 ||
      _crio_err "crictl rmp -fa failed (continuing)"
  fi
  _crio_stop_daemon
  _crio_kill_leftovers || rc=1
  _crio_unmount_all || rc=1
  # The bridge named in our CNI config (CRIO_BRIDGE may differ in this shell).
  local br conf=$CRIO_ROOT/cni/conf/10-bpftoken-test.conflist
  if [ -f "$conf" ]; then
    br=$(jq -r '.plugins[] | select(.type == "bridge") | .bridge' "$conf" 2>/dev/null) || br=
    if [ -n "$br" ] && ip link show dev "$br" >/dev/null 2>&1; then
      ip link del dev "$br" 2>/dev/null || { _crio_err "cannot delete bridge $br"; rc=1; }
    fi
  fi
  _crio_remove_cgroups
  # libcni's result cache is global (/var/lib/cni/results, not configurable
  # through crio): entries are NETWORK-SANDBOXID-IFNAME. They stay behind when
  # crio died before tearing its pods down.
  rm -f /var/lib/cni/results/"$(_crio_cni_net)"-* 2>/dev/null || true
  if [ "$rc" = 0 ]; then
    rm -rf --one-file-system -- "$CRIO_ROOT" ||
      { _crio_err "cannot remove $CRIO_ROOT"; rc=1; }
  else
    _crio_err "leaving $CRIO_ROOT in place"
  fi
  return "$rc"
}

# docker-style normalisation, as CRI does: name -> docker.io/library/name:latest,
# a/b -> docker.io/a/b:latest, localhost/x and host.tld/x keep their domain.
_crio_normalize_ref() {
  local ref=$1 first rest
  first=${ref%%/*}
  if [ "$first" = "$ref" ]; then
    ref=docker.io/library/$ref
  elif [[ $first != *.* && $first != *:* && $first != localhost ]]; then
    ref=docker.io/$ref
  fi
  rest=${ref##*/}
  [[ $rest == *:* || $rest == *@* ]] || ref=$ref:latest
  echo "$ref"
}

crio_import_image() {
  if [ $# -lt 2 ]; then
    _crio_err "usage: crio_import_image DIR|TAR NAME [CMD...]"
    return 1
  fi
  local src=$1 name cmd work tarball
  name=$(_crio_normalize_ref "$2")
  shift 2
  crio_init >/dev/null || return 1
  if [ $# -gt 0 ]; then
    cmd=$(_crio_json_array "$@") || return 1
  else
    cmd='["/bin/sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait; done"]'
  fi
  work=$CRIO_ROOT/images/$(echo "$name" | tr '/:@' '___')
  rm -rf "$work"
  mkdir -p "$work" || return 1
  if [ -d "$src" ]; then
    tarball=$work/rootfs.tar
    tar --sort=name --numeric-owner --format=gnu -C "$src" -cf "$tarball" . ||
      { _crio_err "cannot tar $src"; return 1; }
  elif [ -f "$src" ]; then
    tarball=$src
  else
    _crio_err "$src: not a directory or tarball"
    return 1
  fi
  # Drop an older image of that name, so the name moves to the new one.
  crio_podman rmi -f "$name" >/dev/null 2>&1 || true
  crio_podman import \
    --change "CMD $cmd" \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "WORKDIR /" \
    "$tarball" "$name" >"$work/import.log" 2>&1 || {
    _crio_err "podman import failed:"
    cat "$work/import.log" >&2
    return 1
  }
  rm -f "$work/rootfs.tar"
  # crio reads the storage on each request; check it when it runs.
  if _crio_pid >/dev/null; then
    crio_crictl inspecti "$name" >/dev/null 2>&1 || {
      _crio_err "image $name imported but not visible to CRI"
      return 1
    }
  fi
}

crio_pod_config() { echo "$CRIO_ROOT/pods/$1.json"; }

# ARGS... -> JSON array of strings. Each value goes in through --arg: jq 1.6
# would take a positional "-c" or "-n" after --args for one of its options.
_crio_json_array() {
  local -a jqargs=()
  local i=0 a
  for a in "$@"; do
    jqargs+=(--arg "$(printf 'a%06d' "$i")" "$a")
    i=$((i + 1))
  done
  jq -cn "${jqargs[@]}" '$ARGS.named | to_entries | sort_by(.key) | map(.value)'
}

# K=V... -> JSON object
_crio_kv_object() {
  _crio_json_array "$@" | jq -c 'map(split("=") | {key: .[0], value: (.[1:] | join("="))}) | from_entries'
}

crio_run_pod() {
  if [ $# -lt 1 ]; then
    _crio_err "usage: crio_run_pod NAME [--userns] [--hostnet] [--pid-pod] [--namespace NS] [--annotation K=V]... [--label K=V]..."
    return 1
  fi
  local name=$1 userns=0 hostnet=0 pidpod=0 ns=default uid cfg id
  local -a annotations=() labels=()
  shift
  while [ $# -gt 0 ]; do
    case $1 in
    --namespace) ns=$2; shift 2 ;;
    --userns) userns=1; shift ;;
    --hostnet) hostnet=1; shift ;;
    --pid-pod) pidpod=1; shift ;;
    --annotation) annotations+=("$2"); shift 2 ;;
    --label) labels+=("$2"); shift 2 ;;
    *) _crio_err "crio_run_pod: unknown argument $1"; return 1 ;;
    esac
  done
  uid=$(cat /proc/sys/kernel/random/uuid)
  cfg=$(crio_pod_config "$name")
  mkdir -p "$CRIO_ROOT/logs/$name-$uid"
  jq -n \
    --arg name "$name" --arg uid "$uid" --arg ns "$ns" --arg logdir "$CRIO_ROOT/logs/$name-$uid" \
    --arg cgparent "$(_crio_cgroup_parent)/pod$uid" \
    --argjson annotations "$(_crio_kv_object "${annotations[@]}")" \
    --argjson labels "$(_crio_kv_object "${labels[@]}")" \
    --argjson userns "$userns" --argjson hostnet "$hostnet" --argjson pidpod "$pidpod" '
    {
      metadata: {name: $name, uid: $uid, namespace: $ns, attempt: 0},
      log_directory: $logdir,
      # The labels kubelet puts on every sandbox.
      labels: ({"io.kubernetes.pod.name": $name, "io.kubernetes.pod.namespace": $ns,
                "io.kubernetes.pod.uid": $uid} + $labels),
      annotations: $annotations,
      linux: {
        cgroup_parent: $cgparent,
        security_context: {
          namespace_options: (
            # NamespaceMode: POD=0 CONTAINER=1 NODE=2
            {network: (if $hostnet == 1 then 2 else 0 end),
             pid: (if $pidpod == 1 then 0 else 1 end), ipc: 0}
            + (if $userns == 1 then {userns_options: {
                mode: 0,
                uids: [{host_id: 100000, container_id: 0, length: 65536}],
                gids: [{host_id: 100000, container_id: 0, length: 65536}]
              }} else {} end))
        }
      }
    }
    # A host-network pod must not set a hostname.
    + (if $hostnet == 1 then {} else {hostname: $name} end)' >"$cfg" || return 1
  id=$(crio_crictl runp "$cfg") || {
    _crio_err "crictl runp $cfg failed"
    return 1
  }
  echo "$id" >"$CRIO_ROOT/pods/$name.id"
  echo "$id"
}

crio_create_container() {
  if [ $# -lt 4 ]; then
    _crio_err "usage: crio_create_container POD_ID POD_CONFIG NAME IMAGE [options] [-- CMD...]"
    return 1
  fi
  local pod=$1 podcfg=$2 name=$3 image=$4 privileged=0 cfg id podname
  local -a annotations=() labels=() caps=() envs=() mounts=() cmd=()
  shift 4
  [ -f "$podcfg" ] || podcfg=$(crio_pod_config "$podcfg")
  [ -f "$podcfg" ] || { _crio_err "no pod config $podcfg"; return 1; }
  while [ $# -gt 0 ]; do
    case $1 in
    --annotation) annotations+=("$2"); shift 2 ;;
    --label) labels+=("$2"); shift 2 ;;
    --cap) caps+=("${2#CAP_}"); shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --mount) mounts+=("$2"); shift 2 ;;
    --privileged) privileged=1; shift ;;
    --) shift; cmd=("$@"); break ;;
    *) _crio_err "crio_create_container: unknown argument $1"; return 1 ;;
    esac
  done
  podname=$(jq -r .metadata.name "$podcfg") || return 1
  cfg=$CRIO_ROOT/containers/$podname-$name.json
  jq -n \
    --arg name "$name" --arg image "$image" \
    --argjson annotations "$(_crio_kv_object "${annotations[@]}")" \
    --argjson labels "$(_crio_kv_object "${labels[@]}")" \
    --argjson envs "$(_crio_kv_object "${envs[@]}")" \
    --argjson caps "$(_crio_json_array "${caps[@]}")" \
    --argjson mounts "$(_crio_json_array "${mounts[@]}" | jq -c 'map(split(":") |
        {host_path: .[0], container_path: .[1], readonly: (.[2] == "ro")})')" \
    --argjson cmd "$(_crio_json_array "${cmd[@]}")" \
    --argjson privileged "$privileged" \
    --slurpfile pod "$podcfg" '
    {
      metadata: {name: $name, attempt: 0},
      image: {image: $image},
      # The labels kubelet puts on every container.
      labels: ({"io.kubernetes.container.name": $name,
                "io.kubernetes.pod.name": $pod[0].metadata.name,
                "io.kubernetes.pod.namespace": $pod[0].metadata.namespace,
                "io.kubernetes.pod.uid": $pod[0].metadata.uid} + $labels),
      annotations: $annotations,
      envs: ($envs | to_entries | map({key, value})),
      mounts: $mounts,
      log_path: ($name + ".log"),
      linux: {
        security_context: {
          # Same namespaces as the pod, user namespace mappings included.
          namespace_options: ($pod[0].linux.security_context.namespace_options // {}),
          privileged: ($privileged == 1),
          capabilities: {add_capabilities: $caps}
        }
      }
    }
    + (if ($cmd | length) > 0 then {command: $cmd} else {} end)' >"$cfg" || return 1
  id=$(crio_crictl create "$pod" "$cfg" "$podcfg") || {
    _crio_err "crictl create $pod $cfg $podcfg failed"
    return 1
  }
  echo "$id"
}

crio_start_container() {
  crio_crictl start "$1" >/dev/null
}

crio_container_pid() {
  crio_crictl inspect -o json "$1" | jq -er '.info.pid | select(. > 0)'
}

# The bundle runc got (from runc's state): the container's userdata dir in
# crio's runroot, $CRIO_ROOT/storage-run/overlay-containers/ID/userdata.
# (A copy of config.json is also kept under $CRIO_ROOT/storage/.)
crio_container_bundle() {
  local id
  id=$(crio_crictl inspect -o json "$1" | jq -er .status.id) || return 1
  "$(_crio_bin)/runc" --root "$CRIO_ROOT/runc" state "$id" | jq -er .bundle
}

crio_wait_container() {
  local id=$1 want=$2 secs=${3:-10} deadline state
  want=${want#CONTAINER_}
  deadline=$((SECONDS + secs))
  while :; do
    state=$(crio_crictl inspect -o json "$id" 2>/dev/null | jq -r .status.state) || state=
    [ "$state" = "CONTAINER_$want" ] && return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      _crio_err "container $id is ${state:-unknown}, not CONTAINER_$want after ${secs}s"
      return 1
    fi
    sleep 0.2
  done
}
