#!/usr/bin/env bats
# Kubernetes for real: a single-node cluster (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet; test/k8s) on the
# project's containerd with NRI. As a cluster admin: the plugin's image
# (make image) through examples/kubernetes/daemonset.yaml and a policy
# ConfigMap. As a pod author, with kubectl only: examples/kubernetes/pod.yaml,
# a pod above the policy, a container kubelet restarts, pod deletion, a
# rollout of the plugin while pods are created, and bpftoken-probe through
# kubectl exec.

load ../containerd/lib
load ../k8s/lib
load plugin_helpers

# The images make image wrote, by the names in their archives.
PLUGIN_IMAGE=$(tar -xOf "$REPO/bin/images/nri-bpftoken.tar" manifest.json | jq -r '.[0].RepoTags[0]')
WORKLOAD_IMAGE=$(tar -xOf "$REPO/bin/images/bpftoken-workload.tar" manifest.json | jq -r '.[0].RepoTags[0]')
VERSION=${PLUGIN_IMAGE##*:}

setup_file() {
	"$REPO/test/k8s/install.sh" >&3 2>&1
	containerd_setup_file "$IMAGE"
	ctd_ctr images import "$REPO/bin/images/nri-bpftoken.tar" >/dev/null
	ctd_ctr images import "$REPO/bin/images/bpftoken-workload.tar" >/dev/null
	k8s_start
	# The DaemonSet's hostPath for the pods' shared bpffs: Bidirectional
	# propagation needs a shared mount.
	export STATE="$K8S_ROOT/nri-bpftoken-state"
	mkdir -p "$STATE"
	mount --bind "$STATE" "$STATE"
	mount --make-rshared "$STATE"

	# As the admin: the policy, then the DaemonSet with the local image and
	# this node's paths.
	cat >"$BATS_FILE_TMPDIR/policy.yaml" <<-EOF
		rules:
		  - name: workloads
		    match: {namespaces: [default]}
		    allow:
		      profiles: [ringbuf-telemetry]
		      paths: [/sys/fs/bpf, /run/bpf]
	EOF
	kubectl -n kube-system create configmap nri-bpftoken-policy --from-file=policy.yaml="$BATS_FILE_TMPDIR/policy.yaml" >/dev/null
	sed -e "s|image: localhost/nri-bpftoken:VERSION.*|image: $PLUGIN_IMAGE|" \
		-e "s|path: /var/run/nri/nri.sock|path: $CTD_ROOT/nri.sock|" \
		-e "s|path: /run/nri-bpftoken|path: $STATE|" \
		"$REPO/examples/kubernetes/daemonset.yaml" >"$BATS_FILE_TMPDIR/daemonset.yaml"
	kubectl apply -f "$BATS_FILE_TMPDIR/daemonset.yaml" >/dev/null
	kubectl -n kube-system rollout status ds/nri-bpftoken --timeout 180s >/dev/null || {
		kubectl get pods -A -o wide >&2
		kubectl -n kube-system describe pods >&2
		k8s_logs 20
		return 1
	}
	plugin_connected 1
}

teardown_file() {
	k8s_stop
	ctd_stop
	umount -R "$STATE" 2>/dev/null || true
}

setup() { cri_setup; }

teardown() {
	kubectl delete pods --all --grace-period 0 --force --wait=true >/dev/null 2>&1 || true
	if [ "$BATS_TEST_COMPLETED" != 1 ]; then
		kubectl get pods -A -o wide >&2 || true
		kubectl -n kube-system logs ds/nri-bpftoken --tail 30 >&2 || true
		k8s_logs 15
	fi
	# The deleted pods' containers are gone from the node: no bpffs mount
	# and no helper left.
	for _ in $(seq 100); do
		[ "$(grep -c ' - bpf ' /proc/self/mountinfo || true)" = "$HOST_BPF_BEFORE" ] && break
		sleep 0.2
	done
	assert_host_clean
}

# plugin_connected N: the DaemonSet's plugin logged "connected to runtime"
# at least N times over its pods' lives (a rollout makes a new pod).
plugin_connected() {
	for _ in $(seq 100); do
		[ "$(kubectl -n kube-system logs ds/nri-bpftoken 2>/dev/null | grep -c 'msg="synchronized with runtime"')" -ge 1 ] && return 0
		sleep 0.2
	done
	echo "the plugin never synchronized" >&2
	return 1
}

# pod_yaml NAME ANNOTATIONS CONTAINER_YAML: a user-namespaced pod of the
# workload image.
apply_pod() {
	local name=$1 annotations=$2 command=$3 extra=${4:-}
	kubectl apply -f - >/dev/null <<-EOF
		apiVersion: v1
		kind: Pod
		metadata:
		  name: $name
		  annotations: {$annotations}
		spec:
		  hostUsers: false
		  terminationGracePeriodSeconds: 0
		  $extra
		  containers:
		    - name: c
		      image: $WORKLOAD_IMAGE
		      command: $command
		      securityContext:
		        capabilities: {add: [BPF]}
	EOF
}

@test "k8s: the DaemonSet runs the plugin from its image; kubectl logs shows it connected, with the policy" {
	run kubectl -n kube-system logs ds/nri-bpftoken
	echo "$output"
	[[ "$output" == *'msg="connected to runtime" runtime=containerd'* ]]
	[[ "$output" == *'msg="policy loaded" policy=/etc/nri-bpftoken/policy.yaml rules=1'* ]]
	[ "$(kubectl -n kube-system get ds nri-bpftoken -o jsonpath='{.status.numberReady}')" = 1 ]
	# doctor, in the plugin's pod.
	run kubectl -n kube-system exec ds/nri-bpftoken -- /nri-bpftoken doctor -socket-path /var/run/nri/nri.sock
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok    tokens    a stand-in container"* ]]
	[[ "$output" == *"ok    nri "* ]]
}

@test "k8s: examples/kubernetes/pod.yaml: the app loads its program through the token, the tracer gets its own delegation at /run/bpf, the sidecar none" {
	sed -e "s|localhost/bpftoken-workload:VERSION|$WORKLOAD_IMAGE|" "$REPO/examples/kubernetes/pod.yaml" | kubectl apply -f - >/dev/null
	kubectl wait --for=condition=Ready pod/ebpf-workload --timeout 90s >/dev/null || kubectl describe pod ebpf-workload >&2
	for _ in $(seq 100); do
		kubectl logs ebpf-workload -c app 2>/dev/null | grep -q counted && break
		sleep 0.2
	done
	run kubectl logs ebpf-workload -c app
	echo "$output"
	[[ "$output" == *"tokencount: loaded socket_filter via BPF token, counted 10 packets"* ]]
	# kubectl exec of the probe: the tracer's own delegation, at /run/bpf.
	run kubectl exec ebpf-workload -c tracer -- bpftoken-probe -json
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(jq -r .path <<<"$output")" = /run/bpf ]
	[ "$(jq -c .maps <<<"$output")" = '["array","ringbuf"]' ]
	[ "$(jq -c .cmds <<<"$output")" = '["map_create","prog_load","btf_load"]' ]
	# The sidecar opted out: no bpffs at all.
	run kubectl exec ebpf-workload -c sidecar -- sh -c "grep -c ' - bpf ' /proc/self/mountinfo || true"
	[ "$output" = 0 ]
}

@test "k8s: a pod asking above the policy: kubectl describe shows the plugin's reason" {
	apply_pod over "bpf.token/profile: xdp" '["sleep", "600"]'
	for _ in $(seq 100); do
		kubectl get events --field-selector involvedObject.name=over -o json | jq -e '.items[] | select(.message | contains("denied by policy"))' >/dev/null && break
		sleep 0.3
	done
	run kubectl describe pod over
	echo "$output"
	[[ "$output" == *'denied by policy: rule "workloads" of policy /etc/nri-bpftoken/policy.yaml does not allow progs xdp'* ]]
	[ "$(kubectl get pod over -o jsonpath='{.status.containerStatuses[0].state.running}')" = "" ]
}

@test "k8s: a container that kubelet restarts gets its bpffs again each time" {
	apply_pod crasher "bpf.token/profile: socket-filter" \
		'["sh", "-c", "bpfworkload socket-filter -packets 2; exit 1"]' "restartPolicy: Always"
	for _ in $(seq 150); do
		[ "$(kubectl get pod crasher -o jsonpath='{.status.containerStatuses[0].restartCount}' 2>/dev/null || echo 0)" -ge 2 ] && break
		sleep 0.3
	done
	[ "$(kubectl get pod crasher -o jsonpath='{.status.containerStatuses[0].restartCount}')" -ge 2 ]
	run kubectl logs crasher --previous
	echo "$output"
	[[ "$output" == "bpfworkload socket-filter: ok: socket filter counted 2 of 2 datagrams"* ]]
}

@test "k8s: deleting the pod leaves nothing on the node" {
	apply_pod scoped "bpf.token/profile: socket-filter, bpf.token/scope: pod" \
		'["sh", "-c", "bpfworkload pin -value 9 kept && sleep 600"]'
	kubectl wait --for=condition=Ready pod/scoped --timeout 60s >/dev/null
	uid=$(kubectl get pod scoped -o jsonpath='{.metadata.uid}')
	for _ in $(seq 50); do grep -q " - bpf " /proc/self/mountinfo && [ -n "$(ls "$STATE/pods" 2>/dev/null)" ] && break; sleep 0.2; done
	[ -n "$(ls "$STATE/pods")" ]
	kubectl delete pod scoped --wait=true --timeout 60s >/dev/null
	for _ in $(seq 100); do [ -z "$(ls "$STATE/pods" 2>/dev/null)" ] && break; sleep 0.2; done
	[ -z "$(ls "$STATE/pods" 2>/dev/null)" ]
	[ -z "$(grep -H ' - bpf .*delegate_' /proc/[0-9]*/mountinfo 2>/dev/null | grep -v "^/proc/$$/")" ]
	echo "pod $uid gone"
}

@test "k8s: a rollout of the DaemonSet while pods are created leaves no pod with more than the policy allows" {
	kubectl -n kube-system rollout restart ds/nri-bpftoken >/dev/null
	local i
	for i in 1 2 3 4 5 6; do
		if [ $((i % 2)) = 0 ]; then
			apply_pod "r$i" "bpf.token/profile: xdp" '["sleep", "600"]'
		else
			apply_pod "r$i" "bpf.token/profile: socket-filter" '["sleep", "600"]'
		fi
		sleep 0.5
	done
	kubectl -n kube-system rollout status ds/nri-bpftoken --timeout 120s >/dev/null
	local running=0
	for i in 1 2 3 4 5 6; do
		kubectl wait --for=condition=Ready "pod/r$i" --timeout 60s >/dev/null 2>&1 || true
		if [ "$(kubectl get pod "r$i" -o jsonpath='{.status.containerStatuses[0].state.running.startedAt}')" = "" ]; then
			echo "r$i: not running (refused)"
			# Only the pods asking above the policy may be refused.
			[ $((i % 2)) = 0 ]
			continue
		fi
		running=$((running + 1))
		run kubectl exec "r$i" -- bpftoken-probe -json
		echo "r$i: $(jq -c '[.progs, .attachs]' <<<"$output" 2>/dev/null || echo "$output")"
		# Whatever a pod got, xdp (above the policy) is not in it.
		[[ "$output" != *'"xdp"'* ]]
	done
	# The pods within the policy run, with or without the plugin.
	[ "$running" -ge 3 ]
	# And the new plugin grants again.
	apply_pod after "bpf.token/profile: socket-filter" '["sh", "-c", "bpfworkload socket-filter -packets 3 && exec sleep 600"]'
	kubectl wait --for=condition=Ready pod/after --timeout 60s >/dev/null
	run kubectl logs after
	[[ "$output" == "bpfworkload socket-filter: ok: socket filter counted 3 of 3 datagrams"* ]]
}
