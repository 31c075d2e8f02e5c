#!/usr/bin/env bats
# The NRI plugin on a real containerd 2.x (built by test/containerd/install.sh)
# with user-namespace pods, driven through CRI with crictl.

load ../containerd/lib
load plugin_helpers

setup_file() {
	containerd_setup_file "$IMAGE"
	write_test_policy
	start_plugin -policy "$POLICY"
}

teardown_file() {
	stop_plugin
	ctd_stop
}

setup() { cri_setup; }
teardown() { cri_teardown; }

@test "user-namespace pod with pod-wide annotations: tokencount runs in each container" {
	check_pod_wide wide
	grep -q 'delegated bpffs mounted.*container="pod default/wide container one"' "$PLUGIN_LOG"
	grep -q 'delegated bpffs mounted.*container="pod default/wide container two"' "$PLUGIN_LOG"
}

@test "per-container override and none opt-out in a two-container pod" {
	check_per_container mixed
}

@test "no annotation: nothing is mounted" {
	check_no_annotation none
}

@test "a pod without a user namespace asking is refused with the plugin's message" {
	pod=$(ctd_run_pod hostusers "${TOKENCOUNT_ANN[@]}")
	run ctd_create_container "$pod" hostusers c "$IMAGE" --cap BPF -- true
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"pod default/hostusers container c: bpf.token/ annotations ask for a BPF token, but the container has no user namespace of its own"*"hostUsers: false"* ]]
}

@test "a malformed annotation is refused, naming key and item" {
	pod=$(ctd_run_pod bad --userns --annotation bpf.token/maps=array,hsh)
	run ctd_create_container "$pod" bad c "$IMAGE" -- true
	echo "$output"
	[ "$status" -ne 0 ]
	output=${output//\\\"/\"} # crictl's klog line escapes quotes
	[[ "$output" == *'annotation bpf.token/maps: unknown map type "hsh" (did you mean "hash"?)'* ]]
	pod=$(ctd_run_pod bad2 --userns --annotation 'bpf.token/container.c={"maps": "arrray"}')
	run ctd_create_container "$pod" bad2 c "$IMAGE" -- true
	echo "$output"
	[ "$status" -ne 0 ]
	output=${output//\\\"/\"}
	[[ "$output" == *'annotation bpf.token/container.c, field maps: unknown map type "arrray"'* ]]
}

@test "a path other than /sys/fs/bpf: mounted there, and LIBBPF_BPF_TOKEN_PATH points at it" {
	POD_NAME=path
	pod=$(ctd_run_pod path --userns "${TOKENCOUNT_ANN[@]}" --annotation bpf.token/path=/run/bpf)
	run_to_exit "$pod" c --cap BPF -- sh -c 'echo "$LIBBPF_BPF_TOKEN_PATH"; grep -c " /run/bpf .* - bpf " /proc/self/mountinfo; tokencount -packets 3'
	[ "$exit_code" = 0 ]
	[ "$(sed -n 1p <<<"$output")" = /run/bpf ]
	[ "$(sed -n 2p <<<"$output")" = 1 ]
	[[ "$output" == *"counted 3 packets"* ]]
}

@test "removing the pod leaves nothing on the host" {
	check_removal_leaves_nothing gone pod
}

@test "a mount that fails at start: the start fails with the plugin's message and the process never runs" {
	touch "$CTD_ROOT/not-a-dir"
	pod=$(ctd_run_pod startfail --userns "${TOKENCOUNT_ANN[@]}" --annotation bpf.token/path=/run/bpf)
	id=$(ctd_create_container "$pod" startfail c "$IMAGE" --cap BPF --mount "$CTD_ROOT/not-a-dir:/run/bpf:ro" -- sh -c 'echo the workload ran')
	run ctd_start_container "$id"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"pod default/startfail container c: delegated bpffs at /run/bpf: "*"not a directory"* ]]
	run ctd_crictl logs "$id"
	[[ "$output" != *"the workload ran"* ]]
}

@test "plugin killed between create and start, then restarted: it recovers and the container gets its bpffs" {
	POD_NAME=crash
	pod=$(ctd_run_pod crash --userns "${TOKENCOUNT_ANN[@]}")
	id=$(ctd_create_container "$pod" crash c "$IMAGE" --cap BPF -- tokencount -packets 4)
	kill -9 "$(cat "$CTD_ROOT/nri-bpftoken.pid")"
	pgrep -x bpftoken-helper && false
	start_plugin -policy "$POLICY"
	ctd_start_container "$id"
	ctd_wait_container "$id" EXITED 30
	output=$(ctd_crictl logs "$id" 2>&1)
	echo "$output"
	[[ "$output" == *"counted 4 packets"* ]]
}

@test "a container created while the plugin was away is checked at start like any other" {
	check_learnt_at_synchronize sync
	# containerd aborts the start on the plugin's error.
	[ "$(ctd_crictl inspect -o json "$(ctd_crictl ps -aq --name c --pod "$pod")" | jq -r .status.state)" != CONTAINER_RUNNING ]
}

@test "a pod that writes an image key into its annotations does not choose the policy's image" {
	check_forged_image_key
}

@test "bpf.token/scope: pod: one bpffs per pod, pins shared and kept across container and plugin restarts" {
	check_pod_scope shared
}

@test "containerd restarts: the plugin reconnects and the next pod works" {
	before=$(grep -c 'connected to runtime' "$PLUGIN_LOG")
	ctd_restart
	wait_for_log "connection to the runtime lost" 1
	wait_for_log "connected to runtime" $((before + 1))
	# The same plugin process is still serving.
	kill -0 "$(cat "$CTD_ROOT/nri-bpftoken.pid")"
	POD_NAME=after
	for _ in $(seq 50); do
		pod=$(ctd_run_pod after --userns "${TOKENCOUNT_ANN[@]}" 2>/dev/null) && break
		sleep 0.2
	done
	run_to_exit "$pod" c --cap BPF -- tokencount -packets 2
	[ "$exit_code" = 0 ]
	[[ "$output" == *"counted 2 packets"* ]]
}

@test "without a policy the plugin grants nothing, and says which configuration would" {
	stop_plugin
	start_plugin
	pod=$(ctd_run_pod nopolicy --userns "${TOKENCOUNT_ANN[@]}")
	run ctd_create_container "$pod" nopolicy c "$IMAGE" --cap BPF -- true
	echo "$output"
	stop_plugin
	start_plugin -policy "$POLICY"
	[ "$status" -ne 0 ]
	[[ "$output" == *"pod default/nopolicy container c: bpf.token/ annotations ask for a BPF token, but nri-bpftoken has no policy, so it grants no delegation: give it one (policy or policyFile in its NRI configuration, or -policy FILE"* ]]
	# A pod that asks for nothing is not affected.
	POD_NAME=nopolicy2
	pod=$(ctd_run_pod nopolicy2 --userns)
	run_to_exit "$pod" c -- true
	[ "$exit_code" = 0 ]
}

@test "a request above its policy rule is refused, naming the rule and the items" {
	check_policy_ceiling
}

@test "pre-registered: containerd starts the plugin from its NRI plugin directory with its conf.d configuration" {
	stop_plugin
	install -m 0755 "$REPO/bin/nri-bpftoken" "$CTD_ROOT/nri-plugins/20-bpftoken"
	{ printf 'logLevel: debug\npolicy:\n'; sed 's/^/  /' "$POLICY"; } >"$CTD_ROOT/nri-conf.d/20-bpftoken.conf"
	ctd_restart
	for _ in $(seq 50); do
		pgrep -f "$CTD_ROOT/nri-plugins/20-bpftoken" >/dev/null && break
		sleep 0.1
	done
	pgrep -f "$CTD_ROOT/nri-plugins/20-bpftoken"
	POD_NAME=prereg
	pod=$(ctd_run_pod prereg --userns "${TOKENCOUNT_ANN[@]}")
	run_to_exit "$pod" c --cap BPF -- tokencount -packets 3
	[ "$exit_code" = 0 ]
	[[ "$output" == *"counted 3 packets"* ]]
	# A bad configuration keeps the plugin, which refuses every container
	# that asks, with the configuration's fault (fail closed).
	printf 'logLevel: loud\n' >"$CTD_ROOT/nri-conf.d/20-bpftoken.conf"
	ctd_restart
	for _ in $(seq 50); do
		pgrep -f "$CTD_ROOT/nri-plugins/20-bpftoken" >/dev/null && break
		sleep 0.1
	done
	pod=$(ctd_run_pod badconf --userns "${TOKENCOUNT_ANN[@]}")
	run ctd_create_container "$pod" badconf c "$IMAGE" --cap BPF -- true
	echo "$output"
	[ "$status" -ne 0 ]
	output=${output//\\\"/\"}
	[[ "$output" == *'pod default/badconf container c: bpf.token/ annotations ask for a BPF token, but nri-bpftoken configuration: logLevel "loud": use one of error, warning, info, debug: fix the plugin'* ]]
	rm -f "$CTD_ROOT/nri-plugins/20-bpftoken"
}
