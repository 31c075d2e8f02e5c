# Helpers of the CRI suites, on the private containerd of
# test/containerd/lib.bash or CRI-O of test/crio/lib.bash: running
# bin/nri-bpftoken as an external NRI plugin, and running containers to their
# end. Needs REPO, RT (the lib's function prefix: ctd or crio), RUN_ROOT (the
# runtime's run dir, which holds nri.sock), PLUGIN_LOG, and for run_to_exit
# IMAGE and POD_NAME; PLUGIN_LOG_LEVEL (default debug) sets the plugin's log
# level.

# rt FUNC ARG...: the runtime lib's FUNC (ctd_FUNC or crio_FUNC).
rt() {
	local f=$1
	shift
	"${RT}_$f" "$@"
}

# run_to_exit POD NAME ARGS...: create and start a container, wait for it to
# exit; its logs go to $output and its exit code to $exit_code.
run_to_exit() {
	local pod=$1 name=$2 id
	shift 2
	id=$(rt create_container "$pod" "$POD_NAME" "$name" "$IMAGE" "$@")
	rt start_container "$id"
	rt wait_container "$id" EXITED 30
	exit_code=$(rt crictl inspect -o json "$id" | jq -r .status.exitCode)
	# runc warns in the container's log when CRI-O gives both a pinned user
	# namespace and its mappings; the warning is not the container's output.
	output=$(rt crictl logs "$id" 2>&1 | grep -v '^time=.* level=warning msg="config.json has both a userns path' || true)
	echo "$name (exit $exit_code): $output"
}

verdict() {
	jq -r --arg k "$1" '.[$k] // "missing"' <<<"$output"
}

# assert_host_clean: as many bpffs mounts on the host as before the test
# (HOST_BPF_BEFORE), and no namespace helper left.
assert_host_clean() {
	local now
	now=$(grep -c ' - bpf ' /proc/self/mountinfo || true)
	if [ "$now" != "$HOST_BPF_BEFORE" ]; then
		echo "host has $now bpffs mounts, had $HOST_BPF_BEFORE" >&2
		return 1
	fi
	if pgrep -x bpftoken-helper >/dev/null; then
		echo "namespace helpers left: $(pgrep -a -x bpftoken-helper)" >&2
		return 1
	fi
}

# containerd_setup_file IMAGE: build (or reuse) containerd, start it on
# private paths, import the test image as IMAGE, and set PLUGIN_LOG and
# POLICY (the file a suite writes its policy to).
containerd_setup_file() {
	"$REPO/test/containerd/install.sh" >&3 2>&1
	ctd_init
	ctd_start
	"$REPO/test/images/build-image.sh" --tokencount "$REPO/bin/tokencount" --out "$CTD_ROOT/image.tar" >/dev/null
	ctd_import_image "$CTD_ROOT/image.tar" "$1"
	RT=ctd
	plugin_paths "$CTD_ROOT"
}

# crio_setup_file IMAGE [CRIO_START_ARG...]: the same for CRI-O: build (or
# reuse), import the test image, start crio with the args.
crio_setup_file() {
	local image=$1
	shift
	"$REPO/test/containerd/install.sh" >&3 2>&1
	crio_init
	"$REPO/test/images/build-image.sh" --tokencount "$REPO/bin/tokencount" --out "$CRIO_ROOT/image.tar" >/dev/null
	crio_import_image "$CRIO_ROOT/image.tar" "$image"
	crio_start "$@"
	RT=crio
	plugin_paths "$CRIO_ROOT"
}

plugin_paths() {
	export RT RUN_ROOT=$1
	export PLUGIN_LOG="$1/nri-bpftoken.log"
	export POLICY="$1/policy.yaml"
}

# start_plugin ARGS...: start the plugin with ARGS added; returns once
# containerd has configured and synchronized it.
start_plugin() {
	local before
	before=$(grep -c 'connected to runtime' "$PLUGIN_LOG" 2>/dev/null || true)
	"$REPO/bin/nri-bpftoken" -idx 10 -socket-path "$RUN_ROOT/nri.sock" \
		-log-level "${PLUGIN_LOG_LEVEL:-debug}" -log-file "$PLUGIN_LOG" "$@" 3>&- &
	echo $! >"$RUN_ROOT/nri-bpftoken.pid"
	wait_for_log "connected to runtime" $((before + 1))
	wait_for_log "synchronized with runtime" $((before + 1))
}

stop_plugin() {
	local pid
	pid=$(cat "$RUN_ROOT/nri-bpftoken.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -f "$RUN_ROOT/nri-bpftoken.pid"
}

# wait_for_log TEXT COUNT: until the plugin's log has COUNT lines with TEXT.
wait_for_log() {
	local i
	for i in $(seq 100); do
		[ "$(grep -c "$1" "$PLUGIN_LOG" 2>/dev/null || true)" -ge "$2" ] && return 0
		sleep 0.1
	done
	echo "plugin log never had $2 x '$1'" >&2
	return 1
}
