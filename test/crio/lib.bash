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
#   crio_run_pod NAME [--userns] [--hostnet] [--hostpid] [--privileged] [--namespace NS] [--annotation K=V]...
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
# cgroups, sockets or bridges. What this lib shares with test/containerd/lib.bash
# is in test/cri/lib.bash (functions _cri_*), which it sources.

# shellcheck source-path=SCRIPTDIR source=../cri/lib.bash
. "$(dirname "${BASH_SOURCE[0]}")/../cri/lib.bash"

: "${BPFTOKEN_CACHE:=/var/cache/nri-bpftoken-test}"

_crio_bin() { echo "${CRIO_BIN:-$BPFTOKEN_CACHE/bin}"; }
_crio_cni_bin() { echo "${CRIO_CNI_BIN:-$BPFTOKEN_CACHE/cni/bin}"; }
_crio_conmon() { echo "${CRIO_CONMON:-/usr/bin/conmon}"; }
_crio_pause_image() { echo "${CRIO_PAUSE_IMAGE:-localhost/bpftoken-test:latest}"; }
_crio_bridge() { echo "${CRIO_BRIDGE:-crbtk$(_crio_runid | cut -c1-9)}"; }
_crio_err() { echo "crio: $*" >&2; }

# A short id derived from the run dir: names the cgroup parent and the CNI
# network, so leftovers of this run can be found without any state file.
_crio_runid() { _cri_runid "$CRIO_ROOT"; }
_crio_cgroup_parent() { echo "/crio-$(_crio_runid)"; }
_crio_cni_net() { echo "crbtk-$(_crio_runid)"; }

# Refuse run dirs whose removal would hurt.
_crio_root_ok() { _cri_root_ok "${CRIO_ROOT:-}"; }

# The environment of crio and podman: containers/image and containers/storage
# read these instead of /etc/containers/{registries,storage,containers}.conf.
_crio_env() {
  echo "CONTAINERS_REGISTRIES_CONF=$CRIO_ROOT/registries.conf"
  echo "CONTAINERS_STORAGE_CONF=$CRIO_ROOT/storage.conf"
  echo "CONTAINERS_CONF=$CRIO_ROOT/containers.conf"
  echo "XDG_RUNTIME_DIR=$CRIO_ROOT/xdg-run"
}

crio_init() {
  _cri_init_root crio CRIO_ROOT crio || return 1
  mkdir -p "$CRIO_ROOT" &&
    mkdir -p "$CRIO_ROOT"/{storage,storage-run,run,exits,a,ns,runc,crio.conf.d,hooks.d,nri-plugins,nri-conf.d,cni/conf,cni/ipam,pods,containers,logs,images,podman-tmp,xdg-run,policies} ||
    return 1
  # Processes of user-namespaced containers (host uid 100000+) must be able
  # to traverse the run dir on their way to the bundle and rootfs.
  chmod 0711 "$CRIO_ROOT" "$CRIO_ROOT/storage" "$CRIO_ROOT/storage-run" || return 1
  chmod 0700 "$CRIO_ROOT/xdg-run" || return 1
  _cri_crictl_env "$CRIO_ROOT/crio.sock" "$CRIO_ROOT/crictl.yaml"
  [ -f "$CRIO_ROOT/crictl.yaml" ] && return 0
  _cri_write_crictl_yaml "$CRIO_ROOT/crio.sock" "$CRIO_ROOT/crictl.yaml"
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
  [ -n "${CRIO_ROOT:-}" ] || return 0
  _cri_logs "$CRIO_ROOT/crio.log" "${1:-50}"
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
  local bin cnibin conmon
  bin=$(_crio_bin)
  cnibin=$(_crio_cni_bin)
  conmon=$(_crio_conmon)
  _cri_need_exec crio "$bin" crio pinns runc crictl || return 1
  _cri_need_exec crio "$cnibin" loopback bridge host-local || return 1
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

  _cri_write_cni_conf "$CRIO_ROOT" "$(_crio_cni_net)" "$(_crio_bridge)" "${CRIO_SUBNET:-10.88.78.0/24}"
}

_crio_pid() {
  _cri_daemon_pid "${CRIO_ROOT:-}" crio "${CRIO_ROOT:-}/crio.conf"
}

_crio_launch() {
  local bin
  local -a flags=() choom=()
  bin=$(_crio_bin)
  if [ -f "$CRIO_ROOT/crio.flags" ]; then
    mapfile -t flags <"$CRIO_ROOT/crio.flags"
  fi
  # oom_score_adj -999 as crio.service has it, when we may (CAP_SYS_RESOURCE):
  # then runc may set the infra container's -998 (see _crio_write_runc_wrapper).
  if choom -n -999 -- true 2>/dev/null; then choom=(choom -n -999 --); fi
  # Our bin dir first (runc, pinns).
  # shellcheck disable=SC2046
  _cri_launch crio "$CRIO_ROOT" crio "${CRIO_START_TIMEOUT:-30}" \
    "${choom[@]}" env PATH="$bin:$PATH" $(_crio_env) "$bin/crio" --config "$CRIO_ROOT/crio.conf" \
    --config-dir "$CRIO_ROOT/crio.conf.d" "${flags[@]}"
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
  _cri_stop_daemon crio "${CRIO_ROOT:-}" crio "${CRIO_STOP_TIMEOUT:-10}"
}

crio_restart() {
  _cri_restart crio "${CRIO_ROOT:-}" crio.conf
}

# Pids that belong to this run: command line mentions $CRIO_ROOT (crio,
# conmon, runc, pinns, podman, NRI plugins started from nri_plugin_dir) or the
# cgroup is under our cgroup parent (container processes, conmon).
_crio_leftover_pids() {
  _cri_pids_matching "$(_crio_cgroup_parent)" "$CRIO_ROOT/"
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
  # Unmounts storage overlays, shm, pinned netns/ipcns/utsns/userns, and the
  # private bind mount containers-storage puts on its overlay dir.
  _cri_teardown crio "$CRIO_ROOT" || rc=1
  _cri_remove_root crio "$rc" "$CRIO_ROOT"
}

crio_import_image() {
  if [ $# -lt 2 ]; then
    _crio_err "usage: crio_import_image DIR|TAR NAME [CMD...]"
    return 1
  fi
  local src=$1 name cmd work tarball
  name=$(_cri_normalize_ref "$2")
  shift 2
  crio_init >/dev/null || return 1
  cmd=$(_cri_image_cmd "$@") || return 1
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

crio_run_pod() {
  if [ $# -lt 1 ]; then
    _crio_err "usage: crio_run_pod NAME [--userns] [--hostnet] [--hostpid] [--privileged] [--pid-pod] [--namespace NS] [--annotation K=V]... [--label K=V]..."
    return 1
  fi
  _cri_run_pod crio "${CRIO_ROOT:-}" 1 "$@"
}

crio_create_container() { _cri_create_container crio "${CRIO_ROOT:-}" "$@"; }
crio_start_container() { _cri_start_container crio "$1"; }
crio_container_pid() { _cri_container_pid crio "$1"; }

# The bundle runc got (from runc's state): the container's userdata dir in
# crio's runroot, $CRIO_ROOT/storage-run/overlay-containers/ID/userdata.
# (A copy of config.json is also kept under $CRIO_ROOT/storage/.)
crio_container_bundle() {
  local id
  id=$(crio_crictl inspect -o json "$1" | jq -er .status.id) || return 1
  "$(_crio_bin)/runc" --root "$CRIO_ROOT/runc" state "$id" | jq -er .bundle
}

crio_wait_container() { _cri_wait_container crio "$@"; }
