#!/usr/bin/env bats
# The OCI hook on a real podman: containers ask with --annotation bpf.token/...
# and a real eBPF library (cilium/ebpf in examples/tokencount) uses the token.

load podman_helpers

setup_file() { podman_setup_file; }
teardown_file() { podman_teardown_file; }
setup() { podman_setup; }
teardown() { podman_teardown; }

@test "annotated container with --uidmap: cilium/ebpf loads a socket filter and counts packets" {
	run tpodman run --name tc "${USERNS[@]}" "${BPF_OPTS[@]}" "${TOKENCOUNT_ANN[@]}" "$IMAGE" tokencount -packets 7
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"counted 7 packets"* ]]
	# The hook logged what it mounted, for this container.
	id=$(tpodman inspect --format '{{.ID}}' tc)
	grep -q "delegated bpffs mounted.*container=$id" "$HOOK_LOG"
}

@test "annotated container with --userns=auto: the workload runs through the token" {
	run tpodman run --rm --userns=auto "${BPF_OPTS[@]}" "${TOKENCOUNT_ANN[@]}" "$IMAGE" tokencount -packets 3
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"counted 3 packets"* ]]
}

@test "no annotation: nothing is mounted and the workload gets EPERM" {
	run tpodman run --rm "${USERNS[@]}" "${BPF_OPTS[@]}" "$IMAGE" sh -c "grep -c ' - bpf ' /proc/self/mountinfo; ls -A /sys/fs/bpf | wc -l"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 0 ]
	[ "${lines[1]}" = 0 ]
	run tpodman run --rm "${USERNS[@]}" "${BPF_OPTS[@]}" "$IMAGE" tokencount
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *EPERM* ]]
}

@test "only some types delegated: those work, the others fail with EPERM" {
	run tpodman run --rm "${USERNS[@]}" "${BPF_OPTS[@]}" "${probe_args[@]}" \
		--annotation bpf.token/cmds=map_create:prog_load --annotation bpf.token/maps=hash \
		--annotation bpf.token/progs=xdp --annotation bpf.token/attachs=xdp \
		"$IMAGE" probe -probe /sys/fs/bpf
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(verdict token)" = ok ]
	[ "$(verdict hash)" = ok ]
	[ "$(verdict xdp)" = EPERM ] # prog type delegated, but xdp also needs CAP_NET_ADMIN
	[ "$(verdict array)" = EPERM ]
	[ "$(verdict socket_filter)" = EPERM ]
	[ "$(verdict btf)" = EPERM ]
	[ "$(verdict array_without_token)" = EPERM ]
	# tokencount needs array maps and socket filters: refused.
	run tpodman run --rm "${USERNS[@]}" "${BPF_OPTS[@]}" \
		--annotation bpf.token/cmds=map_create:prog_load --annotation bpf.token/maps=hash "$IMAGE" tokencount
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *EPERM* ]]
}

@test "xdp with CAP_NET_ADMIN: the delegated program type loads" {
	run tpodman run --rm "${USERNS[@]}" "${BPF_OPTS[@]}" --cap-add NET_ADMIN "${probe_args[@]}" \
		--annotation bpf.token/cmds=prog_load --annotation bpf.token/progs=xdp --annotation bpf.token/attachs=xdp \
		"$IMAGE" probe -probe /sys/fs/bpf
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(verdict xdp)" = ok ]
	[ "$(verdict socket_filter)" = EPERM ]
}

@test "bpf.token/path=/run/bpf, a directory the image lacks: mounted there, and the workload finds it" {
	run tpodman run --rm "${USERNS[@]}" "${BPF_OPTS[@]}" "${TOKENCOUNT_ANN[@]}" --annotation bpf.token/path=/run/bpf \
		"$IMAGE" sh -c "grep ' /run/bpf ' /proc/self/mountinfo; grep -c ' /sys/fs/bpf .* - bpf ' /proc/self/mountinfo; tokencount -packets 4"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == *" /run/bpf "*" - bpf "*delegate_cmds=* ]]
	[ "${lines[1]}" = 0 ]
	[[ "$output" == *"counted 4 packets"* ]]
}

@test "two containers at once get separate bpffs instances" {
	tpodman run -d --name a "${USERNS[@]}" "${BPF_OPTS[@]}" "${TOKENCOUNT_ANN[@]}" "$IMAGE" \
		sh -c 'tokencount -pin shared_counter && sleep 600'
	tpodman run -d --name b --uidmap 0:200000:65536 --gidmap 0:200000:65536 "${BPF_OPTS[@]}" "${TOKENCOUNT_ANN[@]}" "$IMAGE" sleep 600
	# Wait for a's pin.
	for _ in $(seq 50); do
		tpodman exec a tokencount -check-pin shared_counter >/dev/null 2>&1 && break
		sleep 0.1
	done
	run tpodman exec a tokencount -check-pin shared_counter
	echo "$output"
	[ "$status" -eq 0 ]
	run tpodman exec b tokencount -check-pin shared_counter
	echo "$output"
	[ "$status" -eq 3 ]
	# Two bpffs superblocks: different device numbers in the two containers.
	dev_a=$(tpodman exec a sh -c "grep ' /sys/fs/bpf ' /proc/self/mountinfo | cut -d' ' -f3")
	dev_b=$(tpodman exec b sh -c "grep ' /sys/fs/bpf ' /proc/self/mountinfo | cut -d' ' -f3")
	[ -n "$dev_a" ] && [ -n "$dev_b" ] && [ "$dev_a" != "$dev_b" ]
}

@test "annotation on a container without a user namespace: podman run fails with the hook's message" {
	run tpodman run --rm "${BPF_OPTS[@]}" "${TOKENCOUNT_ANN[@]}" "$IMAGE" true
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"bpftoken-oci-hook: container "*"no user namespace of its own"*"--userns=auto"* ]]
}

@test "malformed annotations fail, naming the key and the bad item" {
	run tpodman run --rm "${USERNS[@]}" --annotation bpf.token/maps=array:hsh "$IMAGE" true
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *'annotation bpf.token/maps: unknown map type "hsh" (did you mean "hash"?)'* ]]
	run tpodman run --rm "${USERNS[@]}" --annotation bpf.token/prog=xdp "$IMAGE" true
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *'annotation bpf.token/prog: unknown key (did you mean "bpf.token/progs"?)'* ]]
	run tpodman run --rm "${USERNS[@]}" --annotation bpf.token/path=/run/bpf "$IMAGE" true
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"annotation bpf.token/path is set but no delegate key is"* ]]
}

@test "missing CAP_BPF: the hook warns, still mounts, and token creation fails" {
	run tpodman run --rm "${USERNS[@]}" --security-opt "seccomp=$REPO/examples/seccomp/bpf.json" "${probe_args[@]}" \
		--annotation bpf.token/cmds=map_create --annotation bpf.token/maps=array "$IMAGE" probe -probe /sys/fs/bpf
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(verdict token)" = EPERM ]
	id=$(grep -o 'container=[0-9a-f]*' "$HOOK_LOG" | tail -1 | cut -d= -f2)
	grep "container=$id" "$HOOK_LOG" | grep -q 'level=warning.*lacks CAP_BPF.*--cap-add BPF'
	grep "container=$id" "$HOOK_LOG" | grep -q 'delegated bpffs mounted'
}

@test "podman's default seccomp profile: the hook warns that bpf() is blocked" {
	run tpodman run --rm "${USERNS[@]}" --cap-add BPF "${probe_args[@]}" \
		--annotation bpf.token/cmds=map_create --annotation bpf.token/maps=array "$IMAGE" probe -probe /sys/fs/bpf
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(verdict token)" = EPERM ]
	id=$(grep -o 'container=[0-9a-f]*' "$HOOK_LOG" | tail -1 | cut -d= -f2)
	grep "container=$id" "$HOOK_LOG" | grep -q 'level=warning.*seccomp profile blocks bpf()'
}

@test "after podman rm: no bpffs and no helper left on the host" {
	tpodman run -d --name gone "${USERNS[@]}" "${BPF_OPTS[@]}" "${TOKENCOUNT_ANN[@]}" "$IMAGE" sleep 600
	pid=$(tpodman inspect --format '{{.State.Pid}}' gone)
	grep -q ' /sys/fs/bpf .* - bpf ' "/proc/$pid/mountinfo"
	remove_all_containers
	[ -z "$(tpodman ps -aq)" ]
	assert_host_clean
}

@test "--policy in the hooks.d JSON: a request above its rule is refused, naming rule and items; within it works" {
	policy="$BATS_TEST_TMPDIR/policy.yaml"
	cat >"$policy" <<-EOF
		rules:
		  - name: net-team
		    match: {annotations: {team: net}}
		    allow: {cmds: [map_create, prog_load], maps: array, progs: socket_filter, attachs: cgroup_inet_ingress}
	EOF
	hooks="$BATS_TEST_TMPDIR/hooks.d"
	mkdir -p "$hooks"
	jq --arg p "$policy" '.hook.args += ["--policy", $p]' "$PODMAN_BASE/hooks.d/bpftoken.json" >"$hooks/bpftoken.json"
	TPODMAN_HOOKS_DIR=$hooks run tpodman run --rm "${USERNS[@]}" "${BPF_OPTS[@]}" "${TOKENCOUNT_ANN[@]}" \
		--annotation team=net "$IMAGE" tokencount -packets 2
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"counted 2 packets"* ]]
	TPODMAN_HOOKS_DIR=$hooks run tpodman run --rm "${USERNS[@]}" "${BPF_OPTS[@]}" "${TOKENCOUNT_ANN[@]}" \
		--annotation team=net --annotation bpf.token/maps=array:hash "$IMAGE" true
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"denied by policy: rule \"net-team\" of policy $policy does not allow maps hash (allowed: array)"* ]]
	TPODMAN_HOOKS_DIR=$hooks run tpodman run --rm "${USERNS[@]}" "${BPF_OPTS[@]}" "${TOKENCOUNT_ANN[@]}" "$IMAGE" true
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"denied by policy: no rule of policy $policy selects"* ]]
}

@test "an image's annotations never obtain a delegation (podman 4.3 copies them into the container)" {
	build_annotated_image localhost/evil-any:latest bpf.token/cmds=any bpf.token/maps=any bpf.token/progs=any bpf.token/attachs=any
	# podman 4.3 does copy them: the container's annotations have them.
	tpodman create --name evil "${USERNS[@]}" localhost/evil-any:latest true >/dev/null
	[ "$(tpodman inspect --format '{{index .Config.Annotations "bpf.token/cmds"}}' evil)" = any ]
	tpodman rm evil >/dev/null
	run tpodman run --rm "${USERNS[@]}" "${BPF_OPTS[@]}" localhost/evil-any:latest sh -c "grep -c ' - bpf ' /proc/self/mountinfo || true"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = 0 ]
	grep -q 'annotation bpf.token/cmds ignored: the image sets it' "$HOOK_LOG"
}

@test "an image's per-container key, container name and extra keys do not change what the admin asked" {
	build_annotated_image localhost/evil-widen:latest io.kubernetes.container.name=x \
		'bpf.token/container.x={"cmds": "any", "maps": "any"}' bpf.token/maps=any bpf.token/progs=any bpf.token/path=/run/bpf
	run tpodman run --rm "${USERNS[@]}" "${BPF_OPTS[@]}" "${probe_args[@]}" \
		--annotation bpf.token/cmds=map_create --annotation bpf.token/maps=array localhost/evil-widen:latest probe -probe /sys/fs/bpf
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(verdict token)" = ok ]
	[ "$(verdict array)" = ok ]
	[ "$(verdict hash)" = EPERM ]
	[ "$(verdict socket_filter)" = EPERM ]
}

@test "an image cannot choose the policy rule that judges it" {
	build_annotated_image localhost/evil-rule:latest team=net io.kubernetes.pod.namespace=kube-system \
		io.kubernetes.cri-o.ImageName=registry.k8s.io/trusted io.container.manager=cri-o
	policy="$BATS_TEST_TMPDIR/policy.yaml"
	cat >"$policy" <<-EOF
		rules:
		  - name: system
		    match: {namespaces: [kube-system]}
		    allow: {cmds: any, maps: any, any: true}
		  - name: net-team
		    match: {annotations: {team: net}}
		    allow: {cmds: any, maps: any, any: true}
		  - name: everyone
		    allow: {cmds: [map_create], maps: [array]}
	EOF
	hooks="$BATS_TEST_TMPDIR/hooks.d"
	mkdir -p "$hooks"
	jq --arg p "$policy" '.hook.args += ["--policy", $p]' "$PODMAN_BASE/hooks.d/bpftoken.json" >"$hooks/bpftoken.json"
	TPODMAN_HOOKS_DIR=$hooks run tpodman run --rm "${USERNS[@]}" "${BPF_OPTS[@]}" \
		--annotation bpf.token/cmds=map_create --annotation bpf.token/maps=hash localhost/evil-rule:latest true
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"denied by policy: rule \"everyone\" of policy $policy does not allow maps hash (allowed: array)"* ]]
	# The admin's own annotation does select the rule.
	TPODMAN_HOOKS_DIR=$hooks run tpodman run --rm "${USERNS[@]}" "${BPF_OPTS[@]}" --annotation team=net \
		--annotation bpf.token/cmds=map_create --annotation bpf.token/maps=hash "$IMAGE" sh -c "grep ' - bpf ' /proc/self/mountinfo"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"delegate_maps=hash"* ]]
}

@test "cgroup program types need a cgroup namespace of the container's own" {
	# They attach to any cgroup directory the container can open, a read-only
	# fd is enough: with the host's cgroup namespace, other containers' too.
	run tpodman run --rm "${USERNS[@]}" "${BPF_OPTS[@]}" --cgroupns=host --annotation bpf.token/cmds=map_create:prog_load \
		--annotation bpf.token/progs=cgroup_skb --annotation bpf.token/attachs=cgroup_inet_ingress "$IMAGE" true
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"program types cgroup_skb delegated to a container that shares the host's cgroup namespace could attach to any cgroup it can open, other containers' included: give the container a cgroup namespace of its own (podman: --cgroupns=private)"* ]]
	run tpodman run --rm "${USERNS[@]}" "${BPF_OPTS[@]}" --cgroupns=private --annotation bpf.token/cmds=map_create:prog_load \
		--annotation bpf.token/progs=cgroup_skb --annotation bpf.token/attachs=cgroup_inet_ingress "$IMAGE" sh -c "grep ' - bpf ' /proc/self/mountinfo"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"delegate_progs=cgroup_skb"* ]]
}
