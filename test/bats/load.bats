#!/usr/bin/env bats
# Load and isolation on the real runtimes: hundreds of annotated containers
# through podman (the hook) and through containerd (the NRI plugin), one
# after another and ten at a time, each proving with the probe inside that it
# got its token; nothing may fail and nothing may leak (bpffs superblocks on
# the host, helper processes, the plugin's fds and memory). Then an annotated
# and a plain podman container side by side: only the annotated one has a
# bpffs and a token, and the host's /sys/fs/bpf stays as it was.

load podman_helpers
load ../containerd/lib
load plugin_helpers

PLUGIN_LOG_LEVEL=info

# What the probe needs: a token, and array maps through it.
PROBE_ANN=(--annotation bpf.token/cmds=map_create --annotation bpf.token/maps=array)
CTD_PROBE=(--mount "$REPO/bin/standin:/usr/local/bin/probe:ro")
SEQUENTIAL=100
PARALLEL=100
AT_ONCE=10

setup_file() {
	podman_setup_file
	containerd_setup_file "$IMAGE"
	# The plugin grants nothing without a policy: this one lets pods in
	# "default" have what the probe asks for, and nothing more.
	cat >"$POLICY" <<-EOF
		rules:
		  - name: load
		    match: {namespaces: [default]}
		    allow: {cmds: map_create, maps: array}
	EOF
	start_plugin -policy "$POLICY"
	# Each container writes its probe verdicts into a FIFO of its own here:
	# reading it is the signal that the container ran.
	export FIFO_DIR="$CTD_ROOT/fifos"
	mkdir -m 0755 "$FIFO_DIR"
}

teardown_file() {
	stop_plugin
	ctd_stop
	podman_teardown_file
}

setup() {
	podman_setup
	MOUNTED_HOST_BPFFS=
}

teardown() {
	ctd_crictl rmp -fa >/dev/null 2>&1 || true
	# Before podman_teardown, which compares the host's bpf mounts with
	# those setup counted.
	if [ -n "$MOUNTED_HOST_BPFFS" ]; then
		remove_all_containers
		umount /sys/fs/bpf || true
	fi
	podman_teardown
	if [ "$BATS_TEST_COMPLETED" != 1 ]; then
		ctd_logs 30
		echo "--- tail of $PLUGIN_LOG" >&2
		tail -n 30 "$PLUGIN_LOG" >&2 || true
	fi
}

# bpffs superblocks on the host: distinct device numbers of bpf mounts.
host_bpf_superblocks() {
	awk '/ - bpf / {print $3}' /proc/self/mountinfo | sort -u | wc -l
}

helper_count() {
	pgrep -c -x bpftoken-helper || true
}

# leak_snapshot: what must be the same before and after a batch.
leak_snapshot() {
	echo "bpffs superblocks on the host: $(host_bpf_superblocks)"
	echo "bpf mounts on the host: $(host_bpf_mounts)"
	echo "helper processes: $(helper_count)"
	echo "host mounts: $(wc -l </proc/self/mountinfo)"
	echo "podman containers: $(tpodman ps -aq | wc -l)"
}

plugin_pid() { cat "$CTD_ROOT/nri-bpftoken.pid"; }
plugin_fds() { find "/proc/$(plugin_pid)/fd" -mindepth 1 -maxdepth 1 | wc -l; }
plugin_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$(plugin_pid)/status"; }
kib_as_mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# token_ok JSON: the probe's verdicts show a working token.
token_ok() {
	jq -e '.token == "ok" and .array == "ok" and .array_without_token == "EPERM"' <<<"$1" >/dev/null 2>&1
}

# podman_probe OUT: one annotated podman container running the probe; its
# verdicts go to OUT, podman's complaints to OUT.err.
podman_probe() {
	tpodman run --rm "${USERNS[@]}" "${BPF_OPTS[@]}" "${probe_args[@]}" "${PROBE_ANN[@]}" \
		"$IMAGE" probe -probe /sys/fs/bpf >"$1" 2>"$1.err"
}

# ctd_probe POD NAME OUT: one container in POD running the probe, created,
# started, read through its FIFO and removed; its verdicts go to OUT.
ctd_probe() {
	local pod=$1 name=$2 out=$3 id fifo=$FIFO_DIR/$2
	rm -f "$fifo"
	mkfifo -m 0666 "$fifo" || return 1
	id=$(ctd_create_container "$pod" loadpod "$name" "$IMAGE" --cap BPF "${CTD_PROBE[@]}" \
		--mount "$FIFO_DIR:/out" -- sh -c "probe -probe /sys/fs/bpf >/out/$name") 2>"$out.err" || return 1
	if ctd_start_container "$id" 2>>"$out.err"; then
		# The container opens the FIFO before it runs the probe: this read
		# ends when it has written its verdicts and exited or failed.
		timeout 60 cat "$fifo" >"$out" 2>>"$out.err"
	fi
	# crictl rm of a container that is just exiting sometimes fails here
	# (containerd still stopping it); a later attempt succeeds, and the leak
	# checks after each batch would see a container left behind.
	local i removed=0
	for i in 1 2 3 4 5; do
		if ctd_crictl rm -f "$id" >/dev/null 2>>"$out.err"; then
			removed=1
			break
		fi
		sleep 0.5
	done
	rm -f "$fifo"
	[ "$removed" = 1 ]
}

# check_outputs DIR N: every DIR/1..N holds a working token's verdicts;
# prints the failures.
check_outputs() {
	local dir=$1 n=$2 i failed=0
	for i in $(seq "$n"); do
		if ! token_ok "$(cat "$dir/$i" 2>/dev/null)"; then
			failed=$((failed + 1))
			echo "container $i: $(cat "$dir/$i" 2>/dev/null) $(cat "$dir/$i.err" 2>/dev/null)" >&2
		fi
	done
	echo "$failed"
}

# run_batches KIND N: N containers of KIND (podman or ctd) one after another
# when AT_ONCE is 1, else AT_ONCE at a time; outputs in $BATS_TEST_TMPDIR/KIND.
run_batches() {
	local kind=$1 n=$2 at_once=$3 dir=$BATS_TEST_TMPDIR/$1-$3 i j pids
	mkdir -p "$dir"
	for ((i = 1; i <= n; i += at_once)); do
		pids=()
		for ((j = i; j < i + at_once && j <= n; j++)); do
			if [ "$kind" = podman ]; then
				podman_probe "$dir/$j" &
			else
				ctd_probe "$LOAD_POD" "c$at_once-$j" "$dir/$j" &
			fi
			pids+=($!)
		done
		wait "${pids[@]}" || true
	done
	check_outputs "$dir" "$n"
}

@test "podman: $SEQUENTIAL annotated containers one after another, then $PARALLEL ten at a time: each gets its token, nothing leaks" {
	# A first container sets up podman's own storage mounts.
	podman_probe "$BATS_TEST_TMPDIR/warmup"
	token_ok "$(cat "$BATS_TEST_TMPDIR/warmup")"
	before=$(leak_snapshot)

	start=$SECONDS
	failed=$(run_batches podman "$SEQUENTIAL" 1)
	echo "# podman: $SEQUENTIAL containers one after another in $((SECONDS - start)) s, $failed failed" >&3
	[ "$failed" = 0 ]
	start=$SECONDS
	failed=$(run_batches podman "$PARALLEL" "$AT_ONCE")
	echo "# podman: $PARALLEL containers $AT_ONCE at a time in $((SECONDS - start)) s, $failed failed" >&3
	[ "$failed" = 0 ]

	remove_all_containers
	after=$(leak_snapshot)
	echo "before: $before"
	echo "after: $after"
	[ "$before" = "$after" ]
	# Every container was the hook's: 1 + 200 bpffs mounted, none refused.
	[ "$(grep -c 'delegated bpffs mounted' "$HOOK_LOG")" -ge $((1 + SEQUENTIAL + PARALLEL)) ]
	run grep -c 'level=error' "$HOOK_LOG"
	[ "$output" = 0 ]
}

@test "containerd: $SEQUENTIAL annotated containers one after another, then $PARALLEL ten at a time: each gets its token; plugin fds, memory and helpers stay flat" {
	LOAD_POD=$(ctd_run_pod loadpod --userns "${PROBE_ANN[@]}")
	mounted_before=$(grep -c 'delegated bpffs mounted' "$PLUGIN_LOG" || true)
	rss_idle=$(plugin_rss_kib)
	# A first container: the plugin's first StartContainer sets up what
	# every later one reuses.
	ctd_probe "$LOAD_POD" warmup "$BATS_TEST_TMPDIR/warmup"
	token_ok "$(cat "$BATS_TEST_TMPDIR/warmup")"
	before=$(leak_snapshot)
	fds_before=$(plugin_fds)
	rss_before=$(plugin_rss_kib)

	start=$SECONDS
	failed=$(run_batches ctd "$SEQUENTIAL" 1)
	rss_mid=$(plugin_rss_kib)
	echo "# containerd: $SEQUENTIAL containers one after another in $((SECONDS - start)) s, $failed failed" >&3
	[ "$failed" = 0 ]
	start=$SECONDS
	failed=$(run_batches ctd "$PARALLEL" "$AT_ONCE")
	echo "# containerd: $PARALLEL containers $AT_ONCE at a time in $((SECONDS - start)) s, $failed failed" >&3
	[ "$failed" = 0 ]

	after=$(leak_snapshot)
	fds_after=$(plugin_fds)
	rss_after=$(plugin_rss_kib)
	mounted=$(($(grep -c 'delegated bpffs mounted' "$PLUGIN_LOG") - mounted_before))
	echo "# plugin: fds $fds_before -> $fds_after; VmRSS idle $(kib_as_mib "$rss_idle") MiB, after the first container $(kib_as_mib "$rss_before") MiB, after $SEQUENTIAL $(kib_as_mib "$rss_mid") MiB, after $((SEQUENTIAL + PARALLEL)) $(kib_as_mib "$rss_after") MiB; $mounted bpffs mounted" >&3
	echo "before: $before"
	echo "after: $after"
	[ "$before" = "$after" ]
	[ "$fds_after" = "$fds_before" ]
	[ "$mounted" = $((1 + SEQUENTIAL + PARALLEL)) ]
	# Under 25 MiB throughout; over the load it grows by a few MiB at most
	# (the Go heap finding its size) and is flat by the second hundred.
	for rss in "$rss_idle" "$rss_before" "$rss_mid" "$rss_after"; do
		[ "$rss" -lt $((25 * 1024)) ]
	done
	[ "$rss_after" -le $((rss_before + 6 * 1024)) ]
	[ "$rss_after" -le $((rss_mid + 2 * 1024)) ]
	run grep -c 'level=error' "$PLUGIN_LOG"
	[ "$output" = 0 ]
	ctd_crictl rmp -f "$LOAD_POD" >/dev/null
	[ "$(host_bpf_superblocks)" = "$(sed -n 's/^bpffs superblocks on the host: //p' <<<"$before")" ]
}

@test "isolation: an annotated and a plain podman container side by side; only the annotated one has a bpffs and a token; the host's /sys/fs/bpf is untouched" {
	# A host usually has its own bpffs at /sys/fs/bpf (systemd mounts one);
	# give this one one for the test if it has none, with an entry in it.
	if ! grep -q ' /sys/fs/bpf .* - bpf ' /proc/self/mountinfo; then
		mount -t bpf bpf /sys/fs/bpf
		MOUNTED_HOST_BPFFS=1
		mkdir /sys/fs/bpf/host-only
	fi
	host_mount_before=$(grep ' /sys/fs/bpf ' /proc/self/mountinfo)
	host_list_before=$(ls -lAR /sys/fs/bpf)
	superblocks_before=$(host_bpf_superblocks)

	tpodman run -d --name annotated "${USERNS[@]}" "${BPF_OPTS[@]}" "${probe_args[@]}" "${PROBE_ANN[@]}" "$IMAGE" sleep 600
	tpodman run -d --name plain --uidmap 0:200000:65536 --gidmap 0:200000:65536 "${BPF_OPTS[@]}" "${probe_args[@]}" "$IMAGE" sleep 600

	# The plain container: no bpffs anywhere, an empty /sys/fs/bpf, no token.
	run tpodman exec plain grep -c ' - bpf ' /proc/self/mountinfo
	echo "$output"
	[ "$output" = 0 ]
	run tpodman exec plain ls -A /sys/fs/bpf
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run tpodman exec plain probe -probe /sys/fs/bpf
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(verdict token)" != ok ]
	[ "$(verdict token)" != missing ]
	[ "$(verdict array_without_token)" = EPERM ]

	# The annotated one: exactly its own bpffs, without the host's entries;
	# a token, and array maps through it.
	run tpodman exec annotated grep ' - bpf ' /proc/self/mountinfo
	echo "$output"
	[ "${#lines[@]}" = 1 ]
	[[ "${lines[0]}" == *" /sys/fs/bpf "*" - bpf "*"delegate_cmds=map_create"*"delegate_maps=array"* ]]
	# A fresh bpffs: none of the host's entries (with bpf_preload it has
	# the kernel's maps.debug and progs.debug, which list every map and
	# program on the host and belong to the host's root: not readable here).
	run tpodman exec annotated ls -A /sys/fs/bpf
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *host-only* ]]
	[[ "$output" != *standin_array* ]]
	run tpodman exec annotated cat /sys/fs/bpf/maps.debug /sys/fs/bpf/progs.debug
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" != *" id "* ]]
	run tpodman exec annotated probe -probe /sys/fs/bpf
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(verdict token)" = ok ]
	[ "$(verdict array)" = ok ]
	[ "$(verdict pin)" = ok ]
	[ "$(verdict hash)" = EPERM ]
	# The pin landed in the container's bpffs only.
	run tpodman exec annotated ls -A /sys/fs/bpf
	[[ "$output" == *standin_array* ]]
	run tpodman exec plain ls -A /sys/fs/bpf
	[ -z "$output" ]

	# While both run, and after they are gone, the host's /sys/fs/bpf and
	# its bpffs superblocks are as they were.
	[ "$(grep ' /sys/fs/bpf ' /proc/self/mountinfo)" = "$host_mount_before" ]
	[ "$(ls -lAR /sys/fs/bpf)" = "$host_list_before" ]
	[ "$(host_bpf_superblocks)" = "$superblocks_before" ]
	remove_all_containers
	[ "$(grep ' /sys/fs/bpf ' /proc/self/mountinfo)" = "$host_mount_before" ]
	[ "$(ls -lAR /sys/fs/bpf)" = "$host_list_before" ]
	[ "$(host_bpf_superblocks)" = "$superblocks_before" ]
}
