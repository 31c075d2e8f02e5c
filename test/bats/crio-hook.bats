#!/usr/bin/env bats
# The OCI hook on a real CRI-O (v1.34, built by test/containerd/install.sh),
# selected from its hooks_dir by annotation, with user-namespace pods driven
# through CRI with crictl. No NRI plugin runs here.

load ../crio/lib
load plugin_helpers

setup_file() {
	crio_setup_file "$IMAGE"
	# Under a CRI runtime the hook grants nothing without a policy.
	write_test_policy
	install_hook_json --policy "$POLICY"
}

# install_hook_json ARG...: the hooks.d JSON users install, pointing at the
# binary under test, with ARG... added to its args; crio watches the
# directory, so the file is moved in whole, and this waits until crio has
# (re)loaded it.
install_hook_json() {
	local args="" a before i
	for a in "$@"; do args="$args, \"$a\""; done
	before=$(grep -c 'bpftoken.json' "$CRIO_ROOT/crio.log" || true)
	sed -e "s|/usr/libexec/oci/hooks.d/bpftoken-oci-hook|$REPO/bin/oci-hook|" \
		-e "s|\"--log-level\", \"warning\"|\"--log-level\", \"warning\"$args|" \
		"$REPO/examples/hooks.d/bpftoken.json" >"$CRIO_ROOT/bpftoken.json"
	mv "$CRIO_ROOT/bpftoken.json" "$CRIO_ROOT/hooks.d/bpftoken.json"
	for i in $(seq 50); do
		[ "$(grep -c 'bpftoken.json' "$CRIO_ROOT/crio.log" || true)" -gt "$before" ] && return 0
		sleep 0.1
	done
	echo "crio never (re)loaded hooks.d/bpftoken.json" >&2
	crio_logs 20
	return 1
}

teardown_file() {
	crio_stop
}

setup() { cri_setup; }
teardown() { cri_teardown; }

@test "crio hook: container annotations in a user-namespace pod: tokencount runs through the token" {
	POD_NAME=h1
	pod=$(crio_run_pod h1 --userns)
	run_to_exit "$pod" c --cap BPF "${TOKENCOUNT_ANN[@]}" -- tokencount -packets 5
	[ "$exit_code" = 0 ]
	[[ "$output" == *"loaded socket_filter via BPF token, counted 5 packets"* ]]
}

@test "crio hook: pod annotations, with per-container keys, reach each container" {
	POD_NAME=h2
	pod=$(crio_run_pod h2 --userns "${TOKENCOUNT_ANN[@]}" \
		--annotation 'bpf.token/container.hashes={"cmds": "map_create", "maps": ["hash"]}' \
		--annotation 'bpf.token/container.plain=none')
	run_to_exit "$pod" counts --cap BPF -- tokencount -packets 3
	[ "$exit_code" = 0 ]
	[[ "$output" == *"counted 3 packets"* ]]
	run_to_exit "$pod" hashes --cap BPF "${PROBE[@]}" -- probe -probe /sys/fs/bpf
	[ "$exit_code" = 0 ]
	[ "$(verdict token)" = ok ]
	[ "$(verdict hash)" = ok ]
	[ "$(verdict array)" = EPERM ]
	run_to_exit "$pod" plain --cap BPF -- sh -c "grep -c ' - bpf ' /proc/self/mountinfo"
	[ "$output" = 0 ]
}

@test "crio hook: no annotation: nothing is mounted and tokencount gets EPERM" {
	check_no_annotation h3
}

@test "crio hook: annotations on a pod without a user namespace: creation fails with the hook's message" {
	pod=$(crio_run_pod h4 "${TOKENCOUNT_ANN[@]}")
	run crio_create_container "$pod" h4 c "$IMAGE" --cap BPF -- true
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"bpftoken-oci-hook: container "*": bpf.token/ annotations ask for a BPF token, but the container has no user namespace of its own"*"hostUsers: false"* ]]
	[ -z "$(crio_crictl ps -aq --pod "$pod")" ]
}

@test "crio hook: a malformed annotation: creation fails naming key and item" {
	pod=$(crio_run_pod h5 --userns)
	run crio_create_container "$pod" h5 c "$IMAGE" --annotation bpf.token/maps=array,hsh -- true
	echo "$output"
	[ "$status" -ne 0 ]
	output=${output//\\\"/\"}
	[[ "$output" == *'annotation bpf.token/maps: unknown map type "hsh" (did you mean "hash"?)'* ]]
}

@test "crio hook: without a policy, a pod that asks is refused, naming the policy to write" {
	[ ! -e /etc/nri-bpftoken/policy.yaml ] || { echo "/etc/nri-bpftoken/policy.yaml exists on this machine: this test needs the hook without a policy" >&2; false; }
	install_hook_json
	pod=$(crio_run_pod nopolicy --userns "${TOKENCOUNT_ANN[@]}")
	run crio_create_container "$pod" nopolicy c "$IMAGE" --cap BPF -- true
	install_hook_json --policy "$POLICY"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"bpftoken-oci-hook: container "*"does not come from podman"*"without a policy the hook grants nothing"*"/etc/nri-bpftoken/policy.yaml"* ]]
}

@test "crio hook: removing the pod leaves nothing on the host" {
	check_removal_leaves_nothing h6 container
}
