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
#   ctd_run_pod NAME [--userns] [--hostnet] [--namespace NS] [--annotation K=V]...
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
# cgroups, sockets or bridges.

: "${BPFTOKEN_CACHE:=/var/cache/nri-bpftoken-test}"

_ctd_bin() { echo "${CTD_BIN:-$BPFTOKEN_CACHE/bin}"; }
_ctd_cni_bin() { echo "${CTD_CNI_BIN:-$BPFTOKEN_CACHE/cni/bin}"; }
_ctd_sandbox_image() { echo "${CTD_SANDBOX_IMAGE:-localhost/bpftoken-test:latest}"; }
_ctd_bridge() { echo "${CTD_BRIDGE:-bpftk$(_ctd_runid | cut -c1-9)}"; }
_ctd_err() { echo "ctd: $*" >&2; }

# A short id derived from the run dir: names the cgroup parent and the CNI
# network, so leftovers of this run can be found without any state file.
_ctd_runid() { printf '%s' "$CTD_ROOT" | sha256sum | cut -c1-10; }
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
_ctd_root_ok() {
  case ${CTD_ROOT:-} in
  '' | / | /tmp | /tmp/ | /var | /var/* | /run | /run/* | /home | /root | /usr | /usr/* | /etc | /etc/* | *..*)
    case ${CTD_ROOT:-} in /var/tmp/?* | /run/user/*/?*) return 0 ;; esac
    return 1 ;;
  /*/*) return 0 ;;
  *) return 1 ;;
  esac
}

ctd_init() {
  if [ -z "${CTD_ROOT:-}" ]; then
    CTD_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/ctd.XXXXXX") || return 1
  fi
  export CTD_ROOT
  _ctd_root_ok || { _ctd_err "refusing CTD_ROOT=$CTD_ROOT"; return 1; }
  if [ ${#CTD_ROOT} -gt 80 ]; then
    _ctd_err "CTD_ROOT too long for unix sockets: $CTD_ROOT"
    return 1
  fi
  mkdir -p "$CTD_ROOT" &&
    mkdir -p "$CTD_ROOT"/{root,state,tmp,opt,runc,nri-plugins,nri-conf.d,cni/conf,cni/ipam,pods,containers,logs,images} &&
    mkdir -p "$(_ctd_socket_dir)" || return 1
  # Processes of user-namespaced containers (host uid 100000+) must be able
  # to traverse the run dir on their way to the bundle and rootfs.
  chmod 0711 "$CTD_ROOT" "$CTD_ROOT/root" "$CTD_ROOT/state" || return 1
  chmod 0700 "$(_ctd_socket_dir)" || return 1
  export CONTAINER_RUNTIME_ENDPOINT="unix://$CTD_ROOT/containerd.sock"
  export IMAGE_SERVICE_ENDPOINT="$CONTAINER_RUNTIME_ENDPOINT"
  export CRI_CONFIG_FILE="$CTD_ROOT/crictl.yaml"
  cat >"$CTD_ROOT/crictl.yaml" <<EOF
runtime-endpoint: unix://$CTD_ROOT/containerd.sock
image-endpoint: unix://$CTD_ROOT/containerd.sock
timeout: 30
debug: false
pull-image-on-create: false
EOF
}

ctd_crictl() {
  "$(_ctd_bin)/crictl" --config "$CTD_ROOT/crictl.yaml" "$@"
}

ctd_ctr() {
  CONTAINERD_NAMESPACE=${CONTAINERD_NAMESPACE:-k8s.io} \
    "$(_ctd_bin)/ctr" --address "$CTD_ROOT/containerd.sock" "$@"
}

ctd_logs() {
  [ -n "${CTD_ROOT:-}" ] && [ -f "$CTD_ROOT/containerd.log" ] || return 0
  echo "--- tail of $CTD_ROOT/containerd.log" >&2
  tail -n "${1:-50}" "$CTD_ROOT/containerd.log" >&2
}

_ctd_write_config() {
  local bin cnibin sockdir line nri_extra=''
  bin=$(_ctd_bin)
  cnibin=$(_ctd_cni_bin)
  sockdir=$(_ctd_socket_dir)
  for line in "$@"; do
    nri_extra+="  $line"$'\n'
  done
  local f
  for f in containerd ctr containerd-shim-runc-v2 runc crictl; do
    [ -x "$bin/$f" ] || { _ctd_err "$bin/$f missing: run test/containerd/install.sh"; return 1; }
  done
  for f in loopback bridge host-local; do
    [ -x "$cnibin/$f" ] || { _ctd_err "$cnibin/$f missing: run test/containerd/install.sh"; return 1; }
  done

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

  # isGateway/ipMasq off: no host sysctl (ip_forward) or iptables changes.
  # host-local keeps its leases in the run dir, not /var/lib/cni/networks.
  cat >"$CTD_ROOT/cni/conf/10-bpftoken-test.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$(_ctd_cni_net)",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$(_ctd_bridge)",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$CTD_ROOT/cni/ipam",
        "ranges": [[{ "subnet": "${CTD_SUBNET:-10.88.77.0/24}" }]]
      }
    },
    { "type": "loopback" }
  ]
}
EOF
}

_ctd_pid() {
  local pid cmd
  [ -n "${CTD_ROOT:-}" ] && [ -f "$CTD_ROOT/containerd.pid" ] || return 1
  pid=$(cat "$CTD_ROOT/containerd.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  # Only our containerd: its command line names our config.
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmd == *"$CTD_ROOT/config.toml"* ]] || return 1
  echo "$pid"
}

_ctd_launch() {
  local bin log pid
  bin=$(_ctd_bin)
  log=$CTD_ROOT/containerd.log
  if _ctd_pid >/dev/null; then
    _ctd_err "containerd already running for $CTD_ROOT"
    return 1
  fi
  echo "=== ctd: containerd start $(date -Is)" >>"$log"
  # Our bin dir first, so containerd finds our shim (and the shim our runc)
  # rather than any host copy. fds 3-9 closed: bats waits for holders of fd 3.
  PATH="$bin:$PATH" "$bin/containerd" --config "$CTD_ROOT/config.toml" \
    </dev/null >>"$log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  pid=$!
  echo "$pid" >"$CTD_ROOT/containerd.pid"
  _ctd_wait_ready "$pid"
}

_ctd_wait_ready() {
  local pid=$1 deadline info
  deadline=$((SECONDS + ${CTD_START_TIMEOUT:-30}))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      _ctd_err "containerd (pid $pid) exited during startup"
      ctd_logs 30
      return 1
    fi
    if [ -S "$CTD_ROOT/containerd.sock" ] &&
      info=$("$(_ctd_bin)/crictl" --config "$CTD_ROOT/crictl.yaml" --timeout 2s info 2>/dev/null) &&
      [ "$(jq -r '[.status.conditions[] | select(.type == "RuntimeReady" or .type == "NetworkReady") | .status] | all' <<<"$info" 2>/dev/null)" = true ]; then
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      _ctd_err "containerd not ready after ${CTD_START_TIMEOUT:-30}s"
      if [ -n "${info:-}" ]; then head -n 40 <<<"$info" >&2; fi
      ctd_logs 30
      return 1
    fi
    sleep 0.2
  done
}

ctd_start() {
  ctd_init || return 1
  _ctd_write_config "$@" || return 1
  _ctd_launch
}

# SIGTERM containerd, SIGKILL after CTD_STOP_TIMEOUT seconds.
_ctd_stop_daemon() {
  local pid i
  pid=$(_ctd_pid) || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < ${CTD_STOP_TIMEOUT:-10} * 10; i++)); do
    [ -d "/proc/$pid" ] || break
    # A zombie child of this shell counts as gone.
    if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then break; fi
    sleep 0.1
  done
  if [ -d "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
    _ctd_err "containerd (pid $pid) ignored SIGTERM; killing"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  wait "$pid" 2>/dev/null || true
  echo "=== ctd: containerd stopped $(date -Is)" >>"$CTD_ROOT/containerd.log"
  rm -f "$CTD_ROOT/containerd.pid"
}

ctd_restart() {
  if [ -z "${CTD_ROOT:-}" ] || [ ! -f "$CTD_ROOT/config.toml" ]; then
    _ctd_err "ctd_restart: nothing started"
    return 1
  fi
  _ctd_stop_daemon
  _ctd_launch
}

# This shell and its ancestors: never killed by the leftover sweep.
_ctd_ancestors() {
  local p=$BASHPID
  while [ -n "$p" ] && [ "$p" -gt 1 ] 2>/dev/null; do
    echo "$p"
    p=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null) || break
  done
}

# Pids that belong to this run: command line mentions $CTD_ROOT (shims,
# runc, NRI plugins started from plugin_path, containerd) or the cgroup is
# under our cgroup parent (container processes).
_ctd_leftover_pids() {
  local cg sd self p cmd
  cg="$(_ctd_cgroup_parent)/"
  sd=$(_ctd_socket_dir)
  self=" $(_ctd_ancestors | tr '\n' ' ') "
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    case $self in *" $p "*) continue ;; esac
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
    if [[ $cmd == *"$CTD_ROOT/"* || $cmd == *"$sd"* ]] ||
      grep -qF -- ":$cg" "/proc/$p/cgroup" 2>/dev/null; then
      echo "$p"
    fi
  done
}

_ctd_kill_leftovers() {
  local i pids
  for ((i = 0; i < 50; i++)); do
    pids=$(_ctd_leftover_pids)
    [ -n "$pids" ] || return 0
    if [ "$i" = 0 ]; then
      _ctd_err "killing leftover processes: $(echo "$pids" | while read -r p; do
        printf '%s(%s) ' "$p" "$(cat "/proc/$p/comm" 2>/dev/null)"
      done)"
    fi
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  _ctd_err "processes still alive: $(_ctd_leftover_pids | tr '\n' ' ')"
  return 1
}

# Mount points at or under DIR, last mounted first, from /proc/self/mountinfo
# (octal escapes such as \040 decoded).
_ctd_mounts_under() {
  local dir=$1 mp
  awk '{print $5}' /proc/self/mountinfo | tac | while read -r mp; do
    mp=$(printf '%b' "$mp")
    case $mp in "$dir" | "$dir"/*) echo "$mp" ;; esac
  done
}

_ctd_unmount_all() {
  local dir i mp left
  for dir in "$CTD_ROOT" "$(_ctd_socket_dir)"; do
    for ((i = 0; i < 10; i++)); do
      left=$(_ctd_mounts_under "$dir")
      [ -n "$left" ] || break
      while IFS= read -r mp; do
        umount -l -- "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
      done <<<"$left"
    done
    left=$(_ctd_mounts_under "$dir")
    if [ -n "$left" ]; then
      _ctd_err "still mounted: $(echo "$left" | tr '\n' ' ')"
      return 1
    fi
  done
}

# Remove our cgroup parent in every hierarchy (v1 and v2), deepest first.
_ctd_remove_cgroups() {
  local cg mp
  cg=$(_ctd_cgroup_parent)
  awk '$9 == "cgroup" || $9 == "cgroup2" {print $5}' /proc/self/mountinfo 2>/dev/null |
    while read -r mp; do
      [ -d "$mp$cg" ] || continue
      find "$mp$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
      if [ -d "$mp$cg" ]; then _ctd_err "cgroup $mp$cg not removed"; fi
    done
  return 0
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
  _ctd_kill_leftovers || rc=1
  _ctd_unmount_all || rc=1
  # The bridge named in our CNI config (CTD_BRIDGE may differ in this shell).
  local br conf=$CTD_ROOT/cni/conf/10-bpftoken-test.conflist
  if [ -f "$conf" ]; then
    br=$(jq -r '.plugins[] | select(.type == "bridge") | .bridge' "$conf" 2>/dev/null) || br=
    if [ -n "$br" ] && ip link show dev "$br" >/dev/null 2>&1; then
      ip link del dev "$br" 2>/dev/null || { _ctd_err "cannot delete bridge $br"; rc=1; }
    fi
  fi
  _ctd_remove_cgroups
  # libcni's result cache is global: entries are NETWORK-SANDBOXID-IFNAME,
  # for our network and containerd's own "cni-loopback". They stay behind when
  # containerd died before tearing its pods down.
  rm -f /var/lib/cni/results/"$(_ctd_cni_net)"-* 2>/dev/null || true
  local sb
  for sb in "$CTD_ROOT"/root/io.containerd.grpc.v1.cri/sandboxes/* \
    "$CTD_ROOT"/state/io.containerd.grpc.v1.cri/sandboxes/*; do
    [ -e "$sb" ] || continue
    rm -f /var/lib/cni/results/*-"${sb##*/}"-* 2>/dev/null || true
  done
  if [ "$rc" = 0 ]; then
    rm -rf --one-file-system -- "$CTD_ROOT" "$(_ctd_socket_dir)" ||
      { _ctd_err "cannot remove $CTD_ROOT"; rc=1; }
  else
    _ctd_err "leaving $CTD_ROOT in place"
  fi
  return "$rc"
}

# docker-style normalisation, as CRI does: name -> docker.io/library/name:latest,
# a/b -> docker.io/a/b:latest, localhost/x and host.tld/x keep their domain.
_ctd_normalize_ref() {
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
  local src=$1 name arch work layer ldigest lsize cdigest csize mdigest msize cmd tag
  name=$(_ctd_normalize_ref "$2")
  shift 2
  ctd_init >/dev/null || return 1
  arch=$(_ctd_arch)
  if [ $# -gt 0 ]; then
    cmd=$(_ctd_json_array "$@") || return 1
  else
    cmd='["/bin/sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait; done"]'
  fi
  work=$CTD_ROOT/images/$(echo "$name" | tr '/:@' '___')
  rm -rf "$work"
  mkdir -p "$work/layout/blobs/sha256" || return 1
  layer=$work/layer.tar
  if [ -d "$src" ]; then
    tar --sort=name --numeric-owner --format=gnu -C "$src" -cf "$layer" . ||
      { _ctd_err "cannot tar $src"; return 1; }
  elif [ -f "$src" ]; then
    cp "$src" "$layer" || return 1
  else
    _ctd_err "$src: not a directory or tarball"
    return 1
  fi
  ldigest=$(sha256sum "$layer" | cut -d' ' -f1)
  lsize=$(stat -c %s "$layer")
  mv "$layer" "$work/layout/blobs/sha256/$ldigest"

  jq -n --arg arch "$arch" --argjson cmd "$cmd" --arg diff "sha256:$ldigest" '{
    created: "1970-01-01T00:00:00Z", architecture: $arch, os: "linux",
    config: {
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      Cmd: $cmd, WorkingDir: "/"
    },
    rootfs: {type: "layers", diff_ids: [$diff]},
    history: [{created: "1970-01-01T00:00:00Z", created_by: "ctd_import_image"}]
  }' >"$work/config.json" || return 1
  cdigest=$(sha256sum "$work/config.json" | cut -d' ' -f1)
  csize=$(stat -c %s "$work/config.json")
  cp "$work/config.json" "$work/layout/blobs/sha256/$cdigest"

  jq -n --arg c "sha256:$cdigest" --argjson cs "$csize" --arg l "sha256:$ldigest" --argjson ls "$lsize" '{
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
    layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $l, size: $ls}]
  }' >"$work/manifest.json" || return 1
  mdigest=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
  msize=$(stat -c %s "$work/manifest.json")
  cp "$work/manifest.json" "$work/layout/blobs/sha256/$mdigest"

  tag=${name##*/}
  if [[ $tag == *:* ]]; then tag=${tag##*:}; else tag=latest; fi
  jq -n --arg m "sha256:$mdigest" --argjson ms "$msize" --arg name "$name" --arg tag "$tag" --arg arch "$arch" '{
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{
      mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $ms,
      platform: {architecture: $arch, os: "linux"},
      annotations: {"io.containerd.image.name": $name, "org.opencontainers.image.ref.name": $tag}
    }]
  }' >"$work/layout/index.json" || return 1
  echo '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"
  cp "$work/layout/index.json" "$work/index.json"
  tar -C "$work/layout" -cf "$work/image.tar" oci-layout index.json blobs || return 1

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

# ARGS... -> JSON array of strings. Each value goes in through --arg: jq 1.6
# would take a positional "-c" or "-n" after --args for one of its options.
_ctd_json_array() {
  local -a jqargs=()
  local i=0 a
  for a in "$@"; do
    jqargs+=(--arg "$(printf 'a%06d' "$i")" "$a")
    i=$((i + 1))
  done
  jq -cn "${jqargs[@]}" '$ARGS.named | to_entries | sort_by(.key) | map(.value)'
}

# K=V... -> JSON object
_ctd_kv_object() {
  _ctd_json_array "$@" | jq -c 'map(split("=") | {key: .[0], value: (.[1:] | join("="))}) | from_entries'
}

ctd_run_pod() {
  if [ $# -lt 1 ]; then
    _ctd_err "usage: ctd_run_pod NAME [--userns] [--hostnet] [--namespace NS] [--annotation K=V]... [--label K=V]..."
    return 1
  fi
  local name=$1 userns=0 hostnet=0 ns=default uid cfg id
  local -a annotations=() labels=()
  shift
  while [ $# -gt 0 ]; do
    case $1 in
    --namespace) ns=$2; shift 2 ;;
    --userns) userns=1; shift ;;
    --hostnet) hostnet=1; shift ;;
    --annotation) annotations+=("$2"); shift 2 ;;
    --label) labels+=("$2"); shift 2 ;;
    *) _ctd_err "ctd_run_pod: unknown argument $1"; return 1 ;;
    esac
  done
  uid=$(cat /proc/sys/kernel/random/uuid)
  cfg=$(ctd_pod_config "$name")
  mkdir -p "$CTD_ROOT/logs/$name-$uid"
  jq -n \
    --arg name "$name" --arg uid "$uid" --arg ns "$ns" --arg logdir "$CTD_ROOT/logs/$name-$uid" \
    --arg cgparent "$(_ctd_cgroup_parent)/pod$uid" \
    --argjson annotations "$(_ctd_kv_object "${annotations[@]}")" \
    --argjson labels "$(_ctd_kv_object "${labels[@]}")" \
    --argjson userns "$userns" --argjson hostnet "$hostnet" '
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
            {network: (if $hostnet == 1 then 2 else 0 end), pid: 1, ipc: 0}
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
  id=$(ctd_crictl runp "$cfg") || {
    _ctd_err "crictl runp $cfg failed"
    return 1
  }
  echo "$id" >"$CTD_ROOT/pods/$name.id"
  echo "$id"
}

ctd_create_container() {
  if [ $# -lt 4 ]; then
    _ctd_err "usage: ctd_create_container POD_ID POD_CONFIG NAME IMAGE [options] [-- CMD...]"
    return 1
  fi
  local pod=$1 podcfg=$2 name=$3 image=$4 privileged=0 cfg id podname
  local -a annotations=() labels=() caps=() envs=() mounts=() cmd=()
  shift 4
  [ -f "$podcfg" ] || podcfg=$(ctd_pod_config "$podcfg")
  [ -f "$podcfg" ] || { _ctd_err "no pod config $podcfg"; return 1; }
  while [ $# -gt 0 ]; do
    case $1 in
    --annotation) annotations+=("$2"); shift 2 ;;
    --label) labels+=("$2"); shift 2 ;;
    --cap) caps+=("${2#CAP_}"); shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --mount) mounts+=("$2"); shift 2 ;;
    --privileged) privileged=1; shift ;;
    --) shift; cmd=("$@"); break ;;
    *) _ctd_err "ctd_create_container: unknown argument $1"; return 1 ;;
    esac
  done
  podname=$(jq -r .metadata.name "$podcfg") || return 1
  cfg=$CTD_ROOT/containers/$podname-$name.json
  jq -n \
    --arg name "$name" --arg image "$image" \
    --argjson annotations "$(_ctd_kv_object "${annotations[@]}")" \
    --argjson labels "$(_ctd_kv_object "${labels[@]}")" \
    --argjson envs "$(_ctd_kv_object "${envs[@]}")" \
    --argjson caps "$(_ctd_json_array "${caps[@]}")" \
    --argjson mounts "$(_ctd_json_array "${mounts[@]}" | jq -c 'map(split(":") |
        {host_path: .[0], container_path: .[1], readonly: (.[2] == "ro")})')" \
    --argjson cmd "$(_ctd_json_array "${cmd[@]}")" \
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
          # Same namespaces as the pod, user namespace mappings included:
          # containerd rejects a container whose userns differs from the pod.
          namespace_options: ($pod[0].linux.security_context.namespace_options // {}),
          privileged: ($privileged == 1),
          capabilities: {add_capabilities: $caps}
        }
      }
    }
    + (if ($cmd | length) > 0 then {command: $cmd} else {} end)' >"$cfg" || return 1
  id=$(ctd_crictl create "$pod" "$cfg" "$podcfg") || {
    _ctd_err "crictl create $pod $cfg $podcfg failed"
    return 1
  }
  echo "$id"
}

ctd_start_container() {
  ctd_crictl start "$1" >/dev/null
}

ctd_container_pid() {
  ctd_crictl inspect -o json "$1" | jq -er '.info.pid | select(. > 0)'
}

ctd_wait_container() {
  local id=$1 want=$2 secs=${3:-10} deadline state
  want=${want#CONTAINER_}
  deadline=$((SECONDS + secs))
  while :; do
    state=$(ctd_crictl inspect -o json "$id" 2>/dev/null | jq -r .status.state) || state=
    [ "$state" = "CONTAINER_$want" ] && return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      _ctd_err "container $id is ${state:-unknown}, not CONTAINER_$want after ${secs}s"
      return 1
    fi
    sleep 0.2
  done
}
