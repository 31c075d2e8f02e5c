#!/usr/bin/env bats
# `make image`: the plugin's and the workloads' images (tools/mkimage), loaded
# into containerd as `ctr -n k8s.io images import` does and into CRI-O's
# storage as `podman load` does. The plugin then runs from its image the way
# examples/kubernetes/daemonset.yaml runs it (privileged, the host's pid
# namespace, the NRI socket, the state directory with bidirectional
# propagation, the policy), and a user-namespaced pod of the workload image
# gets its token from it.

load ../containerd/lib
load plugin_helpers

# The images make image wrote, by the names in their archives.
PLUGIN_IMAGE=$(tar -xOf "$REPO/bin/images/nri-bpftoken.tar" manifest.json | jq -r '.[0].RepoTags[0]')
WORKLOAD_IMAGE=$(tar -xOf "$REPO/bin/images/bpftoken-workload.tar" manifest.json | jq -r '.[0].RepoTags[0]')
VERSION=${PLUGIN_IMAGE##*:}

setup_file() {
	containerd_setup_file "$IMAGE"
	# The DaemonSet's hostPath /run/nri-bpftoken: a shared mount, as
	# Bidirectional propagation needs.
	export STATE="$CTD_ROOT/plugin-state"
	mkdir -p "$STATE" "$CTD_ROOT/plugin-policy"
	mount --bind "$STATE" "$STATE"
	mount --make-rshared "$STATE"
	cat >"$CTD_ROOT/plugin-policy/policy.yaml" <<-EOF
		rules:
		  - name: workloads
		    match: {namespaces: [default]}
		    allow: {profiles: [socket-filter]}
	EOF
}

teardown_file() {
	ctd_crictl rmp -fa >/dev/null 2>&1 || true
	ctd_stop
	umount -R "$STATE" 2>/dev/null || true
}

setup() { cri_setup; }
teardown() { cri_teardown; }

# image_label IMAGE KEY: a label of an image as CRI shows it.
image_label() {
	ctd_crictl inspecti -o json "$1" | jq -r --arg k "$2" '.info.imageSpec.config.Labels[$k] // "missing"'
}

@test "make image: both images load into containerd (k8s.io namespace) with their version and source labels" {
	run ctd_ctr images import "$REPO/bin/images/nri-bpftoken.tar"
	echo "$output"
	[ "$status" -eq 0 ]
	run ctd_ctr images import "$REPO/bin/images/bpftoken-workload.tar"
	[ "$status" -eq 0 ]
	for i in $(seq 50); do ctd_crictl inspecti "$WORKLOAD_IMAGE" >/dev/null 2>&1 && break; sleep 0.1; done
	[ "$(image_label "$PLUGIN_IMAGE" org.opencontainers.image.version)" = "$VERSION" ]
	[ "$(image_label "$PLUGIN_IMAGE" org.opencontainers.image.source)" = https://github.com/nri-bpftoken/nri-bpftoken ]
	[ "$(image_label "$WORKLOAD_IMAGE" org.opencontainers.image.version)" = "$VERSION" ]
	# The plugin's image is its static binary on an empty base.
	[ "$(ctd_crictl inspecti -o json "$PLUGIN_IMAGE" | jq -c .info.imageSpec.config.Entrypoint)" = '["/nri-bpftoken"]' ]
	[ "$(ctd_crictl inspecti -o json "$PLUGIN_IMAGE" | jq '.info.imageSpec.rootfs.diff_ids | length')" = 1 ]
}

@test "the plugin runs from its image as the DaemonSet runs it, and a workload pod gets its token from it" {
	ctd_ctr images import "$REPO/bin/images/nri-bpftoken.tar" >/dev/null
	ctd_ctr images import "$REPO/bin/images/bpftoken-workload.tar" >/dev/null
	for i in $(seq 50); do ctd_crictl inspecti "$WORKLOAD_IMAGE" >/dev/null 2>&1 && break; sleep 0.1; done
	plugin_pod=$(ctd_run_pod plugin --namespace kube-system --hostpid --privileged)
	plugin=$(ctd_create_container "$plugin_pod" plugin nri-bpftoken "$PLUGIN_IMAGE" --privileged \
		--mount "$RUN_ROOT/nri.sock:/var/run/nri/nri.sock" \
		--mount "$CTD_ROOT/plugin-policy:/etc/nri-bpftoken:ro" \
		--mount "$STATE:/run/nri-bpftoken:bidirectional" \
		-- /nri-bpftoken -idx 10 -socket-path /var/run/nri/nri.sock -log-level info \
		-policy /etc/nri-bpftoken/policy.yaml)
	ctd_start_container "$plugin"
	for i in $(seq 100); do
		[[ "$(ctd_crictl logs "$plugin" 2>&1)" == *"synchronized with runtime"* ]] && break
		sleep 0.1
	done
	run ctd_crictl logs "$plugin"
	echo "$output"
	[[ "$output" == *'msg="connected to runtime" runtime=containerd'* ]]
	[[ "$output" == *'msg="policy loaded" policy=/etc/nri-bpftoken/policy.yaml rules=1'* ]]

	# A workload pod of the workload image: its program runs through the
	# token the plugin in its container mounted.
	POD_NAME=wl
	pod=$(ctd_run_pod wl --userns --annotation bpf.token/profile=socket-filter --annotation bpf.token/scope=pod)
	id=$(ctd_create_container "$pod" wl sf "$WORKLOAD_IMAGE" --cap BPF -- bpfworkload socket-filter -packets 4)
	ctd_start_container "$id"
	ctd_wait_container "$id" EXITED 30
	run ctd_crictl logs "$id"
	echo "$output"
	[[ "$output" == "bpfworkload socket-filter: ok: socket filter counted 4 of 4 datagrams on 127.0.0.1:"* ]]
	# The probe in the image reports the profile.
	id=$(ctd_create_container "$pod" wl probe "$WORKLOAD_IMAGE" --cap BPF -- bpftoken-probe -want socket-filter)
	ctd_start_container "$id"
	ctd_wait_container "$id" EXITED 30
	run ctd_crictl logs "$id"
	echo "$output"
	[[ "$output" == *"profiles: socket-filter (the token delegates everything these need)"* ]]
	[[ "$output" == *"want:     socket-filter: ok: "* ]]
	# The pod's bpffs is mounted in the plugin's container, and propagated
	# to the host's state directory, as the DaemonSet's mountPropagation
	# makes it.
	grep -q " $STATE/pods/$pod .* - bpf " /proc/self/mountinfo
	run ctd_crictl logs "$plugin"
	[[ "$output" == *'msg="delegated bpffs mounted" already_mounted=false container="pod default/wl container sf" delegation="profile=socket-filter '* ]]
	# Asking above the policy: refused, with the plugin's reason.
	POD_NAME=over
	over=$(ctd_run_pod over --userns --annotation bpf.token/profile=xdp)
	run ctd_create_container "$over" over c "$WORKLOAD_IMAGE" --cap BPF -- true
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *'rule \"workloads\" of policy /etc/nri-bpftoken/policy.yaml does not allow progs xdp'* ]]
	ctd_crictl stopp "$pod" "$over" >/dev/null
	ctd_crictl rmp "$pod" "$over" >/dev/null
	[ -z "$(grep " $STATE/pods/" /proc/self/mountinfo)" ]
	ctd_crictl stopp "$plugin_pod" >/dev/null
	ctd_crictl rmp "$plugin_pod" >/dev/null
}
