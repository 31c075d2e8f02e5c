#!/usr/bin/env bats
# The NRI plugin on a real CRI-O (v1.34, built by test/containerd/install.sh)
# with user-namespace pods, driven through CRI with crictl. No OCI hook is
# installed here.

load ../crio/lib
load plugin_helpers

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
IMAGE=localhost/bpftoken-test:latest
PROBE=(--mount "$REPO/bin/standin:/usr/local/bin/probe:ro")
TOKENCOUNT_ANN=(
	--annotation bpf.token/cmds=map_create,prog_load
	--annotation bpf.token/maps=array
	--annotation bpf.token/progs=socket_filter
	--annotation bpf.token/attachs=cgroup_inet_ingress
)

setup_file() {
	crio_setup_file "$IMAGE"
	cat >"$POLICY" <<-EOF
		rules:
		  - name: restricted
		    match: {namespaces: [restricted]}
		    allow: {cmds: map_create, maps: array}
		  - name: test-pods
		    match: {namespaces: [default]}
		    allow: {cmds: any, maps: any, progs: any, attachs: any, paths: [/sys/fs/bpf, /run/bpf]}
	EOF
	start_plugin -policy "$POLICY"
}

teardown_file() {
	stop_plugin
	crio_stop
}

setup() {
	HOST_BPF_BEFORE=$(grep -c ' - bpf ' /proc/self/mountinfo || true)
}

teardown() {
	crio_crictl rmp -fa >/dev/null 2>&1 || true
	assert_host_clean
	if [ "$BATS_TEST_COMPLETED" != 1 ]; then
		crio_logs 30
		echo "--- tail of $PLUGIN_LOG" >&2
		tail -n 30 "$PLUGIN_LOG" >&2 || true
	fi
}

@test "crio NRI: pod-wide annotations: tokencount runs in each container" {
	POD_NAME=wide
	pod=$(crio_run_pod wide --userns "${TOKENCOUNT_ANN[@]}")
	run_to_exit "$pod" one --cap BPF -- tokencount -packets 5
	[ "$exit_code" = 0 ]
	[[ "$output" == *"loaded socket_filter via BPF token, counted 5 packets"* ]]
	run_to_exit "$pod" two --cap BPF -- tokencount -packets 6
	[ "$exit_code" = 0 ]
	[[ "$output" == *"counted 6 packets"* ]]
	grep -q 'delegated bpffs mounted.*container="pod default/wide container one"' "$PLUGIN_LOG"
	grep -q 'delegated bpffs mounted.*container="pod default/wide container two"' "$PLUGIN_LOG"
}

@test "crio NRI: per-container override and none opt-out" {
	POD_NAME=mixed
	pod=$(crio_run_pod mixed --userns "${TOKENCOUNT_ANN[@]}" \
		--annotation 'bpf.token/container.hashes={"cmds": "map_create", "maps": ["hash"]}' \
		--annotation 'bpf.token/container.plain=none')
	run_to_exit "$pod" hashes --cap BPF "${PROBE[@]}" -- probe -probe /sys/fs/bpf
	[ "$exit_code" = 0 ]
	[ "$(verdict token)" = ok ]
	[ "$(verdict hash)" = ok ]
	[ "$(verdict array)" = EPERM ]
	run_to_exit "$pod" plain --cap BPF -- sh -c "grep -c ' - bpf ' /proc/self/mountinfo"
	[ "$output" = 0 ]
}

@test "crio NRI: no annotation: nothing is mounted" {
	POD_NAME=none
	pod=$(crio_run_pod none --userns)
	run_to_exit "$pod" c --cap BPF -- sh -c "grep -c ' - bpf ' /proc/self/mountinfo"
	[ "$output" = 0 ]
	run_to_exit "$pod" d --cap BPF -- tokencount
	[ "$exit_code" = 1 ]
	[[ "$output" == *EPERM* ]]
}

@test "crio NRI: a pod without a user namespace asking is refused with the plugin's message" {
	pod=$(crio_run_pod hostusers "${TOKENCOUNT_ANN[@]}")
	run crio_create_container "$pod" hostusers c "$IMAGE" --cap BPF -- true
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"pod default/hostusers container c: bpf.token/ annotations ask for a BPF token, but the container has no user namespace of its own"*"hostUsers: false"* ]]
}

@test "crio NRI: a request above its policy rule is refused, naming the rule and the items" {
	pod=$(crio_run_pod over --userns --namespace restricted --annotation bpf.token/cmds=map_create --annotation bpf.token/maps=array,hash)
	run crio_create_container "$pod" over c "$IMAGE" --cap BPF -- true
	echo "$output"
	[ "$status" -ne 0 ]
	output=${output//\\\"/\"}
	[[ "$output" == *"pod restricted/over container c: denied by policy: rule \"restricted\" of policy $POLICY does not allow maps hash (allowed: array)"* ]]
	POD_NAME=within
	pod=$(crio_run_pod within --userns --namespace restricted --annotation bpf.token/cmds=map_create --annotation bpf.token/maps=array)
	run_to_exit "$pod" c --cap BPF "${PROBE[@]}" -- probe -probe /sys/fs/bpf
	[ "$(verdict array)" = ok ]
	[ "$(verdict hash)" = EPERM ]
}

@test "crio NRI: removing the pod leaves nothing on the host" {
	pod=$(crio_run_pod gone --userns "${TOKENCOUNT_ANN[@]}")
	id=$(crio_create_container "$pod" gone c "$IMAGE" --cap BPF -- sleep 600)
	crio_start_container "$id"
	pid=$(crio_container_pid "$id")
	grep -q ' /sys/fs/bpf .* - bpf ' "/proc/$pid/mountinfo"
	crio_crictl stopp "$pod" >/dev/null
	crio_crictl rmp "$pod" >/dev/null
	[ -z "$(crio_crictl pods -q --id "$pod")" ]
	assert_host_clean
}

@test "crio NRI: crio restarts: the plugin reconnects and the next pod works" {
	before=$(grep -c 'connected to runtime' "$PLUGIN_LOG")
	crio_restart
	wait_for_log "connected to runtime" $((before + 1))
	kill -0 "$(cat "$CRIO_ROOT/nri-bpftoken.pid")"
	POD_NAME=after
	for _ in $(seq 50); do
		pod=$(crio_run_pod after --userns "${TOKENCOUNT_ANN[@]}" 2>/dev/null) && break
		sleep 0.2
	done
	run_to_exit "$pod" c --cap BPF -- tokencount -packets 2
	[ "$exit_code" = 0 ]
	[[ "$output" == *"counted 2 packets"* ]]
}

@test "crio NRI: a mount that fails at start: the container's process never runs" {
	# CRI-O only logs a failed NRI StartContainer and goes on: the plugin
	# stops the container's init itself.
	touch "$RUN_ROOT/not-a-dir"
	pod=$(crio_run_pod startfail --userns "${TOKENCOUNT_ANN[@]}" --annotation bpf.token/path=/run/bpf)
	id=$(crio_create_container "$pod" startfail c "$IMAGE" --cap BPF --mount "$RUN_ROOT/not-a-dir:/run/bpf:ro" -- sh -c 'echo the workload ran')
	run crio_start_container "$id"
	echo "start: $status: $output"
	run crio_crictl logs "$id"
	echo "logs: $output"
	[[ "$output" != *"the workload ran"* ]]
	grep 'container refused at start' "$PLUGIN_LOG" | grep -q 'pod default/startfail container c: delegated bpffs at /run/bpf: .*not a directory'
	grep -q 'killed_pid=' "$PLUGIN_LOG"
	grep -q 'NRI start failed for container.*delegated bpffs at /run/bpf' "$CRIO_ROOT/crio.log"
}
