# shellcheck shell=bash
# lib.bash: a private containerd 2.x (CRI + NRI) for tests. Source it (bats:
# `load ../containerd/lib`) after test/containerd/install.sh has built the
# binaries. Everything lives under one run dir, $CTD_ROOT (a fresh mktemp dir
# unless set): containerd's root/state/sockets, runc's state, shim sockets,
# netns mounts, CNI config and IPAM state, NRI socket and plugin dirs, the
# generated pod/container JSON, and containerd.log.
#
#   ctd_init                      create $CTD_ROOT and its dirs (ctd_start does it);
#                                 lets a test drop plugins into $CTD_ROOT/nri-plugins
#                                 and configs into $CTD_ROOT/nri-conf.d first
#   ctd_start [TOML-LINE...]      write config.toml and start containerd; each
#                                 argument is a line added to the NRI plugin table,
#                                 e.g. 'plugin_request_timeout = "5s"'
#   ctd_stop                      remove pods, stop containerd, kill what is left,
#                                 unmount, delete the bridge, remove $CTD_ROOT;
#                                 safe after a half-done ctd_start and when repeated
#   ctd_restart                   restart containerd only (pods and shims stay)
#   ctd_import_image DIR|TAR NAME [CMD...]
#                                 rootfs dir (or a rootfs tarball) -> OCI image
#                                 NAME in the k8s.io namespace; CMD defaults to a
#                                 shell that sleeps and exits 0 on SIGTERM, so the
#                                 image also serves as the sandbox (pause) image
#   ctd_run_pod NAME [--userns] [--hostnet] [--hostpid] [--privileged] [--namespace NS] [--annotation K=V]...
#                 [--label K=V]...
#                                 run a pod sandbox, echo its id; the config is
#                                 $CTD_ROOT/pods/NAME.json (see ctd_pod_config).
#                                 --userns: uids/gids 0 -> 100000, 65536 (mode POD);
#                                 --hostnet: host network, no hostname. Pod network
#                                 otherwise (bridge + host-local). The sandbox image
#                                 must have been imported (ctd_import_image) first.
#   ctd_create_container POD_ID POD_CONFIG NAME IMAGE [--annotation K=V]...
#                 [--label K=V]... [--cap CAP]... [--env K=V]... [--mount HOST:CTR[:ro]]...
#                 [--privileged] [-- CMD ARG...]
#                                 create a container, echo its id; POD_CONFIG is the
#                                 pod's JSON file (or the pod NAME)
#   ctd_start_container ID
#   ctd_crictl ARGS...            crictl talking to this containerd
#   ctd_ctr ARGS...               ctr talking to this containerd (namespace k8s.io)
#   ctd_container_pid ID          host pid of a running container's init
#   ctd_pod_config NAME           path of the pod's JSON config
#   ctd_wait_container ID STATE [SECONDS]
#                                 wait until crictl reports CONTAINER_STATE
#   ctd_logs [LINES]              tail of containerd.log (for failure output)
#
# Settings (environment, read when the functions run):
#   BPFTOKEN_CACHE      install.sh's cache (default /var/cache/nri-bpftoken-test)
#   CTD_BIN             containerd, ctr, shim, runc, crictl (default $BPFTOKEN_CACHE/bin)
#   CTD_CNI_BIN         CNI plugins (default $BPFTOKEN_CACHE/cni/bin)
#   CTD_SANDBOX_IMAGE   pinned sandbox image (default localhost/bpftoken-test:latest)
#   CTD_BRIDGE          CNI bridge (default bpftk<9 hex of the run id>, one per run)
#   CTD_SUBNET          pod subnet (default 10.88.77.0/24; the bridge has no host
#                       address and there is no route, so runs may share it)
#   CTD_LOG_LEVEL       containerd log level (default debug)
#   CTD_START_TIMEOUT   seconds to wait for CRI to answer (default 30)
#   CTD_STOP_TIMEOUT    seconds between SIGTERM and SIGKILL (default 10)
#   CTD_EXTRA_CONFIG    TOML appended to config.toml (new tables only)
#
# Functions print errors on stderr and return non-zero; they do not exit.
# Runs in parallel (each with its own CTD_ROOT) do not share processes, mounts,
# cgroups, sockets or bridges. What this lib shares with test/crio/lib.bash is
# in test/cri/lib.bash (functions _cri_*), which it sources.

# shellcheck source-path=SCRIPTDIR source=../cri/lib.bash
. "$(dirname "${BASH_SOURCE[0]}")/../cri/lib.bash"

: "${BPFTOKEN_CACHE:=/var/cache/nri-bpftoken-test}"

_ctd_bin() { echo "${CTD_BIN:-$BPFTOKEN_CACHE/bin}"; }
_ctd_cni_bin() { echo "${CTD_CNI_BIN:-$BPFTOKEN_CACHE/cni/bin}"; }
_ctd_sandbox_image() { echo "${CTD_SANDBOX_IMAGE:-localhost/bpftoken-test:latest}"; }
_ctd_bridge() { echo "${CTD_BRIDGE:-bpftk$(_ctd_runid | cut -c1-9)}"; }
_ctd_err() { echo "ctd: $*" >&2; }

# A short id derived from the run dir: names the cgroup parent and the CNI
# network, so leftovers of this run can be found without any state file.
_ctd_runid() { _cri_runid "$CTD_ROOT"; }
_ctd_cgroup_parent() { echo "/ctd-$(_ctd_runid)"; }
_ctd_cni_net() { echo "bpftk-$(_ctd_runid)"; }

# Shim sockets are <socket_dir>/<64 hex>; containerd allows at most 42
# characters for socket_dir. Use $CTD_ROOT/s when short enough.
_ctd_socket_dir() {
  local d=$CTD_ROOT/s
  if [ ${#d} -le 42 ]; then
    echo "$d"
  else
    echo "/tmp/ctd-s.$(_ctd_runid)"
  fi
}

# Refuse run dirs whose removal would hurt.
_ctd_root_ok() { _cri_root_ok "${CTD_ROOT:-}"; }

ctd_init() {
  _cri_init_root ctd CTD_ROOT ctd || return 1
  mkdir -p "$CTD_ROOT" &&
    mkdir -p "$CTD_ROOT"/{root,state,tmp,opt,runc,nri-plugins,nri-conf.d,cni/conf,cni/ipam,pods,containers,logs,images} &&
    mkdir -p "$(_ctd_socket_dir)" || return 1
  # Processes of user-namespaced containers (host uid 100000+) must be able
  # to traverse the run dir on their way to the bundle and rootfs.
  chmod 0711 "$CTD_ROOT" "$CTD_ROOT/root" "$CTD_ROOT/state" || return 1
  chmod 0700 "$(_ctd_socket_dir)" || return 1
  _cri_crictl_env "$CTD_ROOT/containerd.sock" "$CTD_ROOT/crictl.yaml"
  _cri_write_crictl_yaml "$CTD_ROOT/containerd.sock" "$CTD_ROOT/crictl.yaml"
}

ctd_crictl() {
  "$(_ctd_bin)/crictl" --config "$CTD_ROOT/crictl.yaml" "$@"
}

ctd_ctr() {
  CONTAINERD_NAMESPACE=${CONTAINERD_NAMESPACE:-k8s.io} \
    "$(_ctd_bin)/ctr" --address "$CTD_ROOT/containerd.sock" "$@"
}

ctd_logs() {
  [ -n "${CTD_ROOT:-}" ] || return 0
  _cri_logs "$CTD_ROOT/containerd.log" "${1:-50}"
}

_ctd_write_config() {
  local bin cnibin sockdir line nri_extra=''
  bin=$(_ctd_bin)
  cnibin=$(_ctd_cni_bin)
  sockdir=$(_ctd_socket_dir)
  for line in "$@"; do
    nri_extra+="  $line"$'\n'
  done
  _cri_need_exec ctd "$bin" containerd ctr containerd-shim-runc-v2 runc crictl || return 1
  _cri_need_exec ctd "$cnibin" loopback bridge host-local || return 1

  cat >"$CTD_ROOT/config.toml" <<EOF
version = 3
root = '$CTD_ROOT/root'
state = '$CTD_ROOT/state'
temp = '$CTD_ROOT/tmp'

[grpc]
  address = '$CTD_ROOT/containerd.sock'

[ttrpc]
  address = '$CTD_ROOT/containerd.sock.ttrpc'

[debug]
  level = '${CTD_LOG_LEVEL:-debug}'

[plugins.'io.containerd.internal.v1.opt']
  path = '$CTD_ROOT/opt'

[plugins.'io.containerd.shim.v1.manager']
  socket_dir = '$sockdir'

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'

[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true

  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'

    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'

      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = '$bin/runc'
        Root = '$CTD_ROOT/runc'
        SystemdCgroup = false

  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['$cnibin']
    conf_dir = '$CTD_ROOT/cni/conf'
    max_conf_num = 1

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'

  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '$(_ctd_sandbox_image)'

[plugins.'io.containerd.nri.v1.nri']
  disable = false
  socket_path = '$CTD_ROOT/nri.sock'
  plugin_path = '$CTD_ROOT/nri-plugins'
  plugin_config_path = '$CTD_ROOT/nri-conf.d'
${nri_extra}
${CTD_EXTRA_CONFIG:-}
EOF

  _cri_write_cni_conf "$CTD_ROOT" "$(_ctd_cni_net)" "$(_ctd_bridge)" "${CTD_SUBNET:-10.88.77.0/24}"
}

_ctd_pid() {
  _cri_daemon_pid "${CTD_ROOT:-}" containerd "${CTD_ROOT:-}/config.toml"
}

_ctd_launch() {
  local bin
  bin=$(_ctd_bin)
  # Our bin dir first, so containerd finds our shim (and the shim our runc)
  # rather than any host copy.
  _cri_launch ctd "$CTD_ROOT" containerd "${CTD_START_TIMEOUT:-30}" \
    env PATH="$bin:$PATH" "$bin/containerd" --config "$CTD_ROOT/config.toml"
}

ctd_start() {
  ctd_init || return 1
  _ctd_write_config "$@" || return 1
  _ctd_launch
}

# SIGTERM containerd, SIGKILL after CTD_STOP_TIMEOUT seconds.
_ctd_stop_daemon() {
  _cri_stop_daemon ctd "${CTD_ROOT:-}" containerd "${CTD_STOP_TIMEOUT:-10}"
}

ctd_restart() {
  _cri_restart ctd "${CTD_ROOT:-}" config.toml
}

# Pids that belong to this run: command line mentions $CTD_ROOT (shims,
# runc, NRI plugins started from plugin_path, containerd) or the cgroup is
# under our cgroup parent (container processes).
_ctd_leftover_pids() {
  _cri_pids_matching "$(_ctd_cgroup_parent)" "$CTD_ROOT/" "$(_ctd_socket_dir)"
}

ctd_stop() {
  [ -n "${CTD_ROOT:-}" ] || return 0
  _ctd_root_ok || { _ctd_err "refusing CTD_ROOT=$CTD_ROOT"; return 1; }
  local rc=0 bin
  bin=$(_ctd_bin)
  if _ctd_pid >/dev/null && [ -S "$CTD_ROOT/containerd.sock" ]; then
    timeout 60 "$bin/crictl" --config "$CTD_ROOT/crictl.yaml" rmp -fa >/dev/null 2>&1 ||
      _ctd_err "crictl rmp -fa failed (continuing)"
  fi
  _ctd_stop_daemon
  _cri_teardown ctd "$CTD_ROOT" "$(_ctd_socket_dir)" || rc=1
  # libcni also caches results of containerd's own "cni-loopback" network
  # (NETWORK-SANDBOXID-IFNAME).
  local sb
  for sb in "$CTD_ROOT"/root/io.containerd.grpc.v1.cri/sandboxes/* \
    "$CTD_ROOT"/state/io.containerd.grpc.v1.cri/sandboxes/*; do
    [ -e "$sb" ] || continue
    rm -f /var/lib/cni/results/*-"${sb##*/}"-* 2>/dev/null || true
  done
  _cri_remove_root ctd "$rc" "$CTD_ROOT" "$(_ctd_socket_dir)"
}

_ctd_arch() {
  case $(uname -m) in
  x86_64) echo amd64 ;;
  aarch64) echo arm64 ;;
  armv7l) echo arm ;;
  *) uname -m ;;
  esac
}

ctd_import_image() {
  if [ $# -lt 2 ]; then
    _ctd_err "usage: ctd_import_image DIR|TAR NAME [CMD...]"
    return 1
  fi
  local src=$1 name arch work layer cmd
  name=$(_cri_normalize_ref "$2")
  shift 2
  ctd_init >/dev/null || return 1
  arch=$(_ctd_arch)
  cmd=$(_cri_image_cmd "$@") || return 1
  work=$CTD_ROOT/images/$(echo "$name" | tr '/:@' '___')
  rm -rf "$work"
  mkdir -p "$work" || return 1
  layer=$work/layer.tar
  if [ -d "$src" ]; then
    tar --sort=name --numeric-owner --format=gnu -C "$src" -cf "$layer" . ||
      { _ctd_err "cannot tar $src"; return 1; }
  elif [ -f "$src" ]; then
    layer=$src
  else
    _ctd_err "$src: not a directory or tarball"
    return 1
  fi
  # The image around the layer: tools/mkimage (go-containerregistry).
  "$(_cri_mkimage "$CTD_ROOT")" -o "$work/image.tar" -tag "$name" -layer "$layer" -cmd "$cmd" >"$work/image.id" || {
    _ctd_err "mkimage failed"
    return 1
  }
  [ "$layer" = "$src" ] || rm -f "$layer"

  ctd_ctr images import --platform "linux/$arch" "$work/image.tar" >"$work/import.log" 2>&1 || {
    _ctd_err "ctr images import failed:"
    cat "$work/import.log" >&2
    return 1
  }
  # CRI learns about the image from containerd's events: wait until it does.
  local i
  for ((i = 0; i < 100; i++)); do
    ctd_crictl inspecti "$name" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  _ctd_err "image $name imported but not visible to CRI"
  return 1
}

ctd_pod_config() { echo "$CTD_ROOT/pods/$1.json"; }

ctd_run_pod() {
  if [ $# -lt 1 ]; then
    _ctd_err "usage: ctd_run_pod NAME [--userns] [--hostnet] [--hostpid] [--privileged] [--namespace NS] [--annotation K=V]... [--label K=V]..."
    return 1
  fi
  _cri_run_pod ctd "${CTD_ROOT:-}" 0 "$@"
}

ctd_create_container() { _cri_create_container ctd "${CTD_ROOT:-}" "$@"; }
ctd_start_container() { _cri_start_container ctd "$1"; }
ctd_container_pid() { _cri_container_pid ctd "$1"; }
ctd_wait_container() { _cri_wait_container ctd "$@"; }
