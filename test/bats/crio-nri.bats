#!/usr/bin/env bats
# The NRI plugin on a real CRI-O (v1.34, built by test/containerd/install.sh)
# with user-namespace pods, driven through CRI with crictl. No OCI hook is
# installed here.

load ../crio/lib
load plugin_helpers

setup_file() {
	crio_setup_file "$IMAGE"
	write_test_policy
	start_plugin -policy "$POLICY"
}

teardown_file() {
	stop_plugin
	crio_stop
}

setup() { cri_setup; }
teardown() { cri_teardown; }

@test "crio NRI: pod-wide annotations: tokencount runs in each container" {
	check_pod_wide wide
	grep -q 'delegated bpffs mounted.*container="pod default/wide container one"' "$PLUGIN_LOG"
}

@test "crio NRI: per-container override and none opt-out (CRI-O copies the pod's annotations into the container's)" {
	check_per_container mixed
}

@test "crio NRI: no annotation: nothing is mounted" {
	check_no_annotation none
}

@test "crio NRI: a pod without a user namespace asking is refused with the plugin's message" {
	pod=$(crio_run_pod hostusers "${TOKENCOUNT_ANN[@]}")
	run crio_create_container "$pod" hostusers c "$IMAGE" --cap BPF -- true
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"pod default/hostusers container c: bpf.token/ annotations ask for a BPF token, but the container has no user namespace of its own"*"hostUsers: false"* ]]
}

@test "crio NRI: a request above its policy rule is refused, naming the rule and the items" {
	check_policy_ceiling
}

@test "crio NRI: a pod that writes containerd's image key into its annotations does not choose the policy's image" {
	check_forged_image_key
}

@test "crio NRI: a container created while the plugin was away is checked at start like any other" {
	check_learnt_at_synchronize sync
}

@test "crio NRI: bpf.token/scope: pod: one bpffs per pod, pins shared and kept across container and plugin restarts" {
	check_pod_scope shared
}

@test "crio NRI: removing the pod leaves nothing on the host" {
	check_removal_leaves_nothing gone pod
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

@test "crio NRI: make image's workload image loads into CRI-O's storage (podman load) and runs through the token" {
	local version image
	image=$(tar -xOf "$REPO/bin/images/bpftoken-workload.tar" manifest.json | jq -r '.[0].RepoTags[0]')
	version=${image##*:}
	run crio_podman load -i "$REPO/bin/images/bpftoken-workload.tar"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(crio_crictl inspecti -o json "$image" | jq -r '.info.imageSpec.config.Labels["org.opencontainers.image.version"]')" = "$version" ]
	POD_NAME=image
	pod=$(crio_run_pod image --userns --annotation bpf.token/profile=socket-filter)
	id=$(crio_create_container "$pod" image sf "$image" --cap BPF -- bpfworkload socket-filter -packets 3)
	crio_start_container "$id"
	crio_wait_container "$id" EXITED 30
	run crio_crictl logs "$id"
	echo "$output"
	[[ "$output" == *"bpfworkload socket-filter: ok: socket filter counted 3 of 3 datagrams on 127.0.0.1:"* ]]
}
