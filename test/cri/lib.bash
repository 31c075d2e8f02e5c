# shellcheck shell=bash
# lib.bash: what the private-runtime test libs test/containerd/lib.bash and
# test/crio/lib.bash share. Both source it (relative to their own path, so it
# works from bats' `load` too); it is not meant to be sourced on its own and
# runs nothing when sourced. Nothing in it depends on which lib sourced it, so
# both libs may be loaded in one shell.
#
# RT is a lib's function prefix, ctd or crio (as RT in
# test/bats/plugin_helpers.bash). A function given RT calls back into that
# lib: _RT_err MSG... (error on stderr), RT_crictl ARGS..., RT_logs [LINES],
# RT_pod_config NAME, _RT_pid (echo the daemon's pid, fail when it does not
# run), _RT_launch, _RT_stop_daemon, _RT_leftover_pids, _RT_cgroup_parent and
# _RT_cni_net. ROOT is the lib's run dir; DAEMON the daemon's name (containerd,
# crio), whose socket, pid file and log are ROOT/DAEMON.sock, .pid and .log.
# Like the libs' functions, these print errors on stderr and return non-zero;
# they do not exit.
#
# Run dir and crictl
#   _cri_root_ok DIR              DIR is a run dir whose removal cannot hurt
#   _cri_runid DIR                short id of a run dir (10 hex): names its
#                                 cgroup parent, CNI network and bridge
#   _cri_init_root RT VAR NAME    if variable VAR (CTD_ROOT) is empty, set it to a
#                                 fresh ${TMPDIR:-/tmp}/NAME.XXXXXX; export it;
#                                 refuse a value _cri_root_ok rejects or one too
#                                 long for unix sockets (over 80 characters)
#   _cri_crictl_env SOCK YAML     export CONTAINER_RUNTIME_ENDPOINT and
#                                 IMAGE_SERVICE_ENDPOINT (unix://SOCK) and
#                                 CRI_CONFIG_FILE (YAML)
#   _cri_write_crictl_yaml SOCK YAML
#                                 write crictl's config for SOCK to YAML
#   _cri_need_exec RT DIR FILE... each DIR/FILE is executable, else an error
#                                 that says to run test/containerd/install.sh
#   _cri_write_cni_conf ROOT NET BRIDGE SUBNET
#                                 ROOT/cni/conf/10-bpftoken-test.conflist: network
#                                 NET, bridge BRIDGE without gateway or masquerade,
#                                 host-local leases of SUBNET in ROOT/cni/ipam
#   _cri_logs FILE LINES          tail of FILE on stderr, if it exists
#
# Daemon
#   _cri_daemon_pid ROOT DAEMON CONFIG
#                                 pid in ROOT/DAEMON.pid, if that process runs and
#                                 its command line names CONFIG (a path)
#   _cri_launch RT ROOT DAEMON TIMEOUT CMD...
#                                 run CMD (which starts DAEMON) in the background
#                                 unless _RT_pid finds one running: stdin
#                                 /dev/null, output appended to the log, fds 3-9
#                                 closed; its pid to ROOT/DAEMON.pid; then
#                                 _cri_wait_ready
#   _cri_wait_ready RT ROOT DAEMON PID TIMEOUT
#                                 wait up to TIMEOUT seconds for CRI to report
#                                 RuntimeReady and NetworkReady; fail (with the
#                                 log's tail) when PID exits first
#   _cri_stop_daemon RT ROOT DAEMON TIMEOUT
#                                 SIGTERM the daemon (_RT_pid), SIGKILL after
#                                 TIMEOUT seconds; reap it, remove its pid file
#   _cri_restart RT ROOT CONFIG   _RT_stop_daemon then _RT_launch, if ROOT/CONFIG
#                                 exists (else "RT_restart: nothing started")
#
# Teardown
#   _cri_ancestors                this shell and its ancestors, one pid a line
#   _cri_pids_matching CGROUP TEXT...
#                                 pids other than _cri_ancestors whose command
#                                 line contains a TEXT or whose cgroup is under
#                                 the cgroup parent CGROUP
#   _cri_kill_leftovers RT        SIGKILL _RT_leftover_pids until none is left
#                                 (5 s at most)
#   _cri_mounts_under DIR         mount points at or under DIR, last mounted first
#   _cri_unmount_under RT DIR...  lazily unmount all of them, for each DIR
#   _cri_delete_bridge RT CONFLIST
#                                 delete the bridge a CNI conflist names, if it exists
#   _cri_remove_cgroups RT CGROUP remove the cgroup parent in every hierarchy
#   _cri_teardown RT DIR...       after the daemon stopped: _cri_kill_leftovers,
#                                 _cri_unmount_under DIR..., delete the bridge of
#                                 DIR/cni/conf (the first DIR), remove
#                                 _RT_cgroup_parent and libcni's cached results of
#                                 network _RT_cni_net; goes on after a failed step
#                                 and then returns 1
#   _cri_remove_root RT RC DIR... when RC is 0 remove each DIR (rm -rf on its file
#                                 system), else say the first DIR is left in
#                                 place; return RC (1 if the removal fails)
#
# Images, pods and containers
#   _cri_mkimage ROOT             tools/mkimage ($MKIMAGE, else built into ROOT)
#   _cri_normalize_ref REF        docker-style full image reference
#   _cri_image_cmd [CMD...]       JSON array for an image's CMD: CMD, or by
#                                 default a shell that sleeps and exits 0 on SIGTERM
#   _cri_json_array ARGS...       JSON array of strings
#   _cri_kv_object K=V...         JSON object
#   _cri_run_pod RT ROOT PIDPOD NAME [ARG...]
#                                 RT_run_pod's work, arguments and output: write
#                                 RT_pod_config NAME (logs under ROOT/logs, cgroup
#                                 under _RT_cgroup_parent), crictl runp it, keep the
#                                 id in ROOT/pods/NAME.id and echo it. --pid-pod
#                                 (PID namespace of the pod, not per container) is
#                                 accepted only when PIDPOD is 1
#   _cri_create_container RT ROOT POD_ID POD_CONFIG NAME IMAGE [ARG...]
#                                 RT_create_container's work, arguments and output;
#                                 the config goes to ROOT/containers/POD-NAME.json
#   _cri_start_container RT ID    crictl start
#   _cri_container_pid RT ID      host pid of a running container's init
#   _cri_wait_container RT ID STATE [SECONDS]
#                                 wait until crictl reports CONTAINER_STATE

_cri_root_ok() {
  case $1 in
  '' | / | /tmp | /tmp/ | /var | /var/* | /run | /run/* | /home | /root | /usr | /usr/* | /etc | /etc/* | *..*)
    case $1 in /var/tmp/?* | /run/user/*/?*) return 0 ;; esac
    return 1 ;;
  /*/*) return 0 ;;
  *) return 1 ;;
  esac
}

_cri_runid() { printf '%s' "$1" | sha256sum | cut -c1-10; }

_cri_init_root() {
  local rt=$1 var=$2 dir=${!2:-}
  if [ -z "$dir" ]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/$3.XXXXXX") || return 1
    printf -v "$var" '%s' "$dir"
  fi
  export "${var?}"
  _cri_root_ok "$dir" || { "_${rt}_err" "refusing $var=$dir"; return 1; }
  if [ ${#dir} -gt 80 ]; then
    "_${rt}_err" "$var too long for unix sockets: $dir"
    return 1
  fi
}

_cri_crictl_env() {
  export CONTAINER_RUNTIME_ENDPOINT="unix://$1"
  export IMAGE_SERVICE_ENDPOINT="$CONTAINER_RUNTIME_ENDPOINT"
  export CRI_CONFIG_FILE="$2"
}

_cri_write_crictl_yaml() {
  cat >"$2" <<EOF
runtime-endpoint: unix://$1
image-endpoint: unix://$1
timeout: 30
debug: false
pull-image-on-create: false
EOF
}

_cri_need_exec() {
  local rt=$1 dir=$2 f
  shift 2
  for f in "$@"; do
    [ -x "$dir/$f" ] || { "_${rt}_err" "$dir/$f missing: run test/containerd/install.sh"; return 1; }
  done
}

# isGateway/ipMasq off: no host sysctl (ip_forward) or iptables changes.
# host-local keeps its leases in the run dir, not /var/lib/cni/networks.
_cri_write_cni_conf() {
  local root=$1 net=$2 bridge=$3 subnet=$4
  cat >"$root/cni/conf/10-bpftoken-test.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$net",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$root/cni/ipam",
        "ranges": [[{ "subnet": "$subnet" }]]
      }
    },
    { "type": "loopback" }
  ]
}
EOF
}

_cri_logs() {
  [ -f "$1" ] || return 0
  echo "--- tail of $1" >&2
  tail -n "$2" "$1" >&2
}

_cri_daemon_pid() {
  local root=$1 daemon=$2 config=$3 pid cmd
  [ -n "$root" ] && [ -f "$root/$daemon.pid" ] || return 1
  pid=$(cat "$root/$daemon.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  # Only our daemon: its command line names our config.
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmd == *"$config"* ]] || return 1
  echo "$pid"
}

_cri_launch() {
  local rt=$1 root=$2 daemon=$3 secs=$4 log pid
  shift 4
  log=$root/$daemon.log
  if "_${rt}_pid" >/dev/null; then
    "_${rt}_err" "$daemon already running for $root"
    return 1
  fi
  echo "=== $rt: $daemon start $(date -Is)" >>"$log"
  # fds 3-9 closed: bats waits for holders of fd 3.
  "$@" </dev/null >>"$log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  pid=$!
  echo "$pid" >"$root/$daemon.pid"
  _cri_wait_ready "$rt" "$root" "$daemon" "$pid" "$secs"
}

_cri_wait_ready() {
  local rt=$1 root=$2 daemon=$3 pid=$4 secs=$5 deadline info
  deadline=$((SECONDS + secs))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      "_${rt}_err" "$daemon (pid $pid) exited during startup"
      "${rt}_logs" 30
      return 1
    fi
    if [ -S "$root/$daemon.sock" ] &&
      info=$("${rt}_crictl" --timeout 2s info 2>/dev/null) &&
      [ "$(jq -r '[.status.conditions[] | select(.type == "RuntimeReady" or .type == "NetworkReady") | .status] | all' <<<"$info" 2>/dev/null)" = true ]; then
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      "_${rt}_err" "$daemon not ready after ${secs}s"
      if [ -n "${info:-}" ]; then head -n 40 <<<"$info" >&2; fi
      "${rt}_logs" 30
      return 1
    fi
    sleep 0.2
  done
}

_cri_stop_daemon() {
  local rt=$1 root=$2 daemon=$3 secs=$4 pid i
  pid=$("_${rt}_pid") || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < secs * 10; i++)); do
    [ -d "/proc/$pid" ] || break
    # A zombie child of this shell counts as gone.
    if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then break; fi
    sleep 0.1
  done
  if [ -d "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
    "_${rt}_err" "$daemon (pid $pid) ignored SIGTERM; killing"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  wait "$pid" 2>/dev/null || true
  echo "=== $rt: $daemon stopped $(date -Is)" >>"$root/$daemon.log"
  rm -f "$root/$daemon.pid"
}

_cri_restart() {
  local rt=$1 root=$2 config=$3
  if [ -z "$root" ] || [ ! -f "$root/$config" ]; then
    "_${rt}_err" "${rt}_restart: nothing started"
    return 1
  fi
  "_${rt}_stop_daemon"
  "_${rt}_launch"
}

# Never killed by the leftover sweep.
_cri_ancestors() {
  local p=$BASHPID
  while [ -n "$p" ] && [ "$p" -gt 1 ] 2>/dev/null; do
    echo "$p"
    p=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null) || break
  done
}

_cri_pids_matching() {
  local cg="$1/" self p cmd t
  shift
  self=" $(_cri_ancestors | tr '\n' ' ') "
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    case $self in *" $p "*) continue ;; esac
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
    for t in "$@"; do
      if [[ $cmd == *"$t"* ]]; then
        echo "$p"
        continue 2
      fi
    done
    if grep -qF -- ":$cg" "/proc/$p/cgroup" 2>/dev/null; then echo "$p"; fi
  done
}

_cri_kill_leftovers() {
  local rt=$1 i pids
  for ((i = 0; i < 50; i++)); do
    pids=$("_${rt}_leftover_pids")
    [ -n "$pids" ] || return 0
    if [ "$i" = 0 ]; then
      "_${rt}_err" "killing leftover processes: $(echo "$pids" | while read -r p; do
        printf '%s(%s) ' "$p" "$(cat "/proc/$p/comm" 2>/dev/null)"
      done)"
    fi
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  "_${rt}_err" "processes still alive: $("_${rt}_leftover_pids" | tr '\n' ' ')"
  return 1
}

# From /proc/self/mountinfo, octal escapes such as \040 decoded.
_cri_mounts_under() {
  local dir=$1 mp
  awk '{print $5}' /proc/self/mountinfo | tac | while read -r mp; do
    mp=$(printf '%b' "$mp")
    case $mp in "$dir" | "$dir"/*) echo "$mp" ;; esac
  done
}

_cri_unmount_under() {
  local rt=$1 dir i mp left
  shift
  for dir in "$@"; do
    for ((i = 0; i < 10; i++)); do
      left=$(_cri_mounts_under "$dir")
      [ -n "$left" ] || break
      while IFS= read -r mp; do
        umount -l -- "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
      done <<<"$left"
    done
    left=$(_cri_mounts_under "$dir")
    if [ -n "$left" ]; then
      "_${rt}_err" "still mounted: $(echo "$left" | tr '\n' ' ')"
      return 1
    fi
  done
}

# The bridge named in our CNI config (RT_BRIDGE may differ in this shell).
_cri_delete_bridge() {
  local rt=$1 conf=$2 br
  [ -f "$conf" ] || return 0
  br=$(jq -r '.plugins[] | select(.type == "bridge") | .bridge' "$conf" 2>/dev/null) || br=
  if [ -n "$br" ] && ip link show dev "$br" >/dev/null 2>&1; then
    ip link del dev "$br" 2>/dev/null || { "_${rt}_err" "cannot delete bridge $br"; return 1; }
  fi
}

# In every hierarchy (v1 and v2), deepest first.
_cri_remove_cgroups() {
  local rt=$1 cg=$2 mp
  awk '$9 == "cgroup" || $9 == "cgroup2" {print $5}' /proc/self/mountinfo 2>/dev/null |
    while read -r mp; do
      [ -d "$mp$cg" ] || continue
      find "$mp$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
      if [ -d "$mp$cg" ]; then "_${rt}_err" "cgroup $mp$cg not removed"; fi
    done
  return 0
}

_cri_teardown() {
  local rt=$1 rc=0
  shift
  _cri_kill_leftovers "$rt" || rc=1
  _cri_unmount_under "$rt" "$@" || rc=1
  _cri_delete_bridge "$rt" "$1/cni/conf/10-bpftoken-test.conflist" || rc=1
  _cri_remove_cgroups "$rt" "$("_${rt}_cgroup_parent")"
  # libcni's result cache is global (/var/lib/cni/results, configurable in
  # neither runtime): entries are NETWORK-SANDBOXID-IFNAME. They stay behind
  # when the daemon died before tearing its pods down.
  rm -f /var/lib/cni/results/"$("_${rt}_cni_net")"-* 2>/dev/null || true
  return "$rc"
}

_cri_remove_root() {
  local rt=$1 rc=$2
  shift 2
  if [ "$rc" = 0 ]; then
    rm -rf --one-file-system -- "$@" || { "_${rt}_err" "cannot remove $1"; return 1; }
  else
    "_${rt}_err" "leaving $1 in place"
  fi
  return "$rc"
}

# docker-style normalisation, as CRI does: name -> docker.io/library/name:latest,
# a/b -> docker.io/a/b:latest, localhost/x and host.tld/x keep their domain.
# _cri_mkimage ROOT: the path of tools/mkimage, $MKIMAGE when set, else
# built once into ROOT.
_cri_mkimage() {
  if [ -n "${MKIMAGE:-}" ]; then
    echo "$MKIMAGE"
    return
  fi
  local repo
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  if [ ! -x "$1/mkimage" ]; then
    (cd "$repo" && CGO_ENABLED=0 go build -o "$1/mkimage" ./tools/mkimage) || return 1
  fi
  echo "$1/mkimage"
}

_cri_normalize_ref() {
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

_cri_image_cmd() {
  if [ $# -gt 0 ]; then
    _cri_json_array "$@"
  else
    echo '["/bin/sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait; done"]'
  fi
}

# Each value goes in through --arg: jq 1.6 would take a positional "-c" or
# "-n" after --args for one of its options.
_cri_json_array() {
  local -a jqargs=()
  local i=0 a
  for a in "$@"; do
    jqargs+=(--arg "$(printf 'a%06d' "$i")" "$a")
    i=$((i + 1))
  done
  jq -cn "${jqargs[@]}" '$ARGS.named | to_entries | sort_by(.key) | map(.value)'
}

_cri_kv_object() {
  _cri_json_array "$@" | jq -c 'map(split("=") | {key: .[0], value: (.[1:] | join("="))}) | from_entries'
}

_cri_run_pod() {
  local rt=$1 root=$2 pidpod_ok=$3 name=$4 userns=0 hostnet=0 pidpod=0 hostpid=0 privileged=0 ns=default uid cfg id
  local -a annotations=() labels=()
  shift 4
  while [ $# -gt 0 ]; do
    case $1 in
    --namespace) ns=$2; shift 2 ;;
    --userns) userns=1; shift ;;
    --hostnet) hostnet=1; shift ;;
    --hostpid) hostpid=1; shift ;;
    --privileged) privileged=1; shift ;;
    --pid-pod) [ "$pidpod_ok" = 1 ] || break; pidpod=1; shift ;;
    --annotation) annotations+=("$2"); shift 2 ;;
    --label) labels+=("$2"); shift 2 ;;
    *) break ;;
    esac
  done
  if [ $# -gt 0 ]; then
    "_${rt}_err" "${rt}_run_pod: unknown argument $1"
    return 1
  fi
  uid=$(cat /proc/sys/kernel/random/uuid)
  cfg=$("${rt}_pod_config" "$name")
  mkdir -p "$root/logs/$name-$uid"
  jq -n \
    --arg name "$name" --arg uid "$uid" --arg ns "$ns" --arg logdir "$root/logs/$name-$uid" \
    --arg cgparent "$("_${rt}_cgroup_parent")/pod$uid" \
    --argjson annotations "$(_cri_kv_object "${annotations[@]}")" \
    --argjson labels "$(_cri_kv_object "${labels[@]}")" \
    --argjson userns "$userns" --argjson hostnet "$hostnet" --argjson pidpod "$pidpod" --argjson hostpid "$hostpid" --argjson privileged "$privileged" '
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
          privileged: ($privileged == 1),
          namespace_options: (
            # NamespaceMode: POD=0 CONTAINER=1 NODE=2
            {network: (if $hostnet == 1 then 2 else 0 end),
             pid: (if $hostpid == 1 then 2 elif $pidpod == 1 then 0 else 1 end), ipc: 0}
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
  id=$("${rt}_crictl" runp "$cfg") || {
    "_${rt}_err" "crictl runp $cfg failed"
    return 1
  }
  echo "$id" >"$root/pods/$name.id"
  echo "$id"
}

_cri_create_container() {
  local rt=$1 root=$2
  shift 2
  if [ $# -lt 4 ]; then
    "_${rt}_err" "usage: ${rt}_create_container POD_ID POD_CONFIG NAME IMAGE [options] [-- CMD...]"
    return 1
  fi
  local pod=$1 podcfg=$2 name=$3 image=$4 privileged=0 cfg id podname
  local -a annotations=() labels=() caps=() envs=() mounts=() cmd=()
  shift 4
  [ -f "$podcfg" ] || podcfg=$("${rt}_pod_config" "$podcfg")
  [ -f "$podcfg" ] || { "_${rt}_err" "no pod config $podcfg"; return 1; }
  while [ $# -gt 0 ]; do
    case $1 in
    --annotation) annotations+=("$2"); shift 2 ;;
    --label) labels+=("$2"); shift 2 ;;
    --cap) caps+=("${2#CAP_}"); shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --mount) mounts+=("$2"); shift 2 ;;
    --privileged) privileged=1; shift ;;
    --) shift; cmd=("$@"); break ;;
    *) "_${rt}_err" "${rt}_create_container: unknown argument $1"; return 1 ;;
    esac
  done
  podname=$(jq -r .metadata.name "$podcfg") || return 1
  cfg=$root/containers/$podname-$name.json
  jq -n \
    --arg name "$name" --arg image "$image" \
    --argjson annotations "$(_cri_kv_object "${annotations[@]}")" \
    --argjson labels "$(_cri_kv_object "${labels[@]}")" \
    --argjson envs "$(_cri_kv_object "${envs[@]}")" \
    --argjson caps "$(_cri_json_array "${caps[@]}")" \
    --argjson mounts "$(_cri_json_array "${mounts[@]}" | jq -c 'map(split(":") |
        # Propagation: PRIVATE=0, HOST_TO_CONTAINER=1, BIDIRECTIONAL=2.
        {host_path: .[0], container_path: .[1], readonly: (.[2] == "ro"),
         propagation: (if .[2] == "bidirectional" then 2 else 0 end)})')" \
    --argjson cmd "$(_cri_json_array "${cmd[@]}")" \
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
  id=$("${rt}_crictl" create "$pod" "$cfg" "$podcfg") || {
    "_${rt}_err" "crictl create $pod $cfg $podcfg failed"
    return 1
  }
  echo "$id"
}

_cri_start_container() {
  "${1}_crictl" start "$2" >/dev/null
}

_cri_container_pid() {
  "${1}_crictl" inspect -o json "$2" | jq -er '.info.pid | select(. > 0)'
}

_cri_wait_container() {
  local rt=$1 id=$2 want=$3 secs=${4:-10} deadline state
  want=${want#CONTAINER_}
  deadline=$((SECONDS + secs))
  while :; do
    state=$("${rt}_crictl" inspect -o json "$id" 2>/dev/null | jq -r .status.state) || state=
    [ "$state" = "CONTAINER_$want" ] && return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      "_${rt}_err" "container $id is ${state:-unknown}, not CONTAINER_$want after ${secs}s"
      return 1
    fi
    sleep 0.2
  done
}
