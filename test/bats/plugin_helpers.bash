# Running bin/nri-bpftoken as an external NRI plugin next to the private
# containerd of test/containerd/lib.bash. Needs REPO, CTD_ROOT and PLUGIN_LOG;
# PLUGIN_LOG_LEVEL (default debug) sets its log level.

# containerd_setup_file IMAGE: build (or reuse) containerd, start it on
# private paths, import the test image as IMAGE, and set PLUGIN_LOG and
# POLICY (the file a suite writes its policy to).
containerd_setup_file() {
	"$REPO/test/containerd/install.sh" >&3 2>&1
	ctd_init
	ctd_start
	"$REPO/test/images/build-image.sh" --tokencount "$REPO/bin/tokencount" --out "$CTD_ROOT/image.tar" >/dev/null
	ctd_import_image "$CTD_ROOT/image.tar" "$1"
	export PLUGIN_LOG="$CTD_ROOT/nri-bpftoken.log"
	export POLICY="$CTD_ROOT/policy.yaml"
}

# start_plugin ARGS...: start the plugin with ARGS added; returns once
# containerd has configured and synchronized it.
start_plugin() {
	local before
	before=$(grep -c 'connected to runtime' "$PLUGIN_LOG" 2>/dev/null || true)
	"$REPO/bin/nri-bpftoken" -idx 10 -socket-path "$CTD_ROOT/nri.sock" \
		-log-level "${PLUGIN_LOG_LEVEL:-debug}" -log-file "$PLUGIN_LOG" "$@" 3>&- &
	echo $! >"$CTD_ROOT/nri-bpftoken.pid"
	wait_for_log "connected to runtime" $((before + 1))
	wait_for_log "synchronized with runtime" $((before + 1))
}

stop_plugin() {
	local pid
	pid=$(cat "$CTD_ROOT/nri-bpftoken.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -f "$CTD_ROOT/nri-bpftoken.pid"
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
