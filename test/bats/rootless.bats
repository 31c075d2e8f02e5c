#!/usr/bin/env bats
# Rootless podman: real unprivileged users (with subuid/subgid ranges) run
# their own podman, whose hook asks bpftokend for the bpffs; bpftokend
# grants what the policy's rule for that user allows, in that user's own
# containers only. rootless_helpers.bash sets the users, podman and the
# service up.

load rootless_helpers

setup_file() { rl_setup_file; }
teardown_file() { rl_teardown_file; }

setup() {
	U1=${RL_USERS[0]}
	U2=${RL_USERS[1]}
	SERVICE_PID_BEFORE=$RL_SERVICE_PID
	FDS_BEFORE=$(rl_service_fds)
}

# After every test: no container is left, the default policy is back, and
# the service holds no more fds than before (no pidfd, namespace or
# connection left open).
teardown() {
	local u rc=0
	for u in "${RL_USERS[@]}"; do
		rl_podman "$u" rm -af -t 0 >/dev/null 2>&1 || true
		pkill -u "$u" -x sleep || true
	done
	rl_rootful rm -af -t 0 >/dev/null 2>&1 || true
	rl_write_policy
	if [ "$RL_SERVICE_PID" = "$SERVICE_PID_BEFORE" ]; then
		local now _
		for _ in $(seq 50); do
			now=$(rl_service_fds)
			[ "$now" -le "$FDS_BEFORE" ] && break
			sleep 0.1
		done
		if [ "$now" -gt "$FDS_BEFORE" ]; then
			echo "bpftokend holds $now fds, held $FDS_BEFORE:" >&2
			ls -l "/proc/$RL_SERVICE_PID/fd" >&2
			rc=1
		fi
	fi
	return $rc
}

# bpf_line PID: the bpffs line of PID's mount table, "" when it has none.
bpf_line() {
	grep ' - bpf ' "/proc/$1/mountinfo" || true
}

@test "a rootless container gets exactly what the user's rule allows, and loads a program through the token" {
	run rl_podman "$U1" run --rm "${RL_BPF_OPTS[@]}" --annotation bpf.token/profile=socket-filter "$RL_IMAGE" \
		sh -c 'grep " - bpf " /proc/self/mountinfo; bpfworkload socket-filter'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *" /sys/fs/bpf "*"delegate_cmds=map_create:prog_load:btf_load,delegate_maps=hash:array:percpu_array,delegate_progs=socket_filter,delegate_attachs=cgroup_inet_ingress"* ]]
	[[ "$output" == *"bpfworkload socket-filter: ok: socket filter counted 10 of 10 datagrams"* ]]
	grep -q "delegated bpffs mounted.*uid=$(id -u "$U1") user=$U1" "$RL_SERVICE_LOG"
	grep -q "delegated bpffs mounted by bpftokend.*rule=rl1" "$RL_HOOK_LOG"
}

@test "less than the rule is granted as asked, at another allowed path" {
	run rl_podman "$U1" run --rm "${RL_BPF_OPTS[@]}" --annotation bpf.token/cmds=map_create:prog_load \
		--annotation bpf.token/maps=array --annotation bpf.token/progs=socket_filter \
		--annotation bpf.token/attachs=cgroup_inet_ingress --annotation bpf.token/path=/run/bpf "$RL_IMAGE" \
		sh -c 'grep " - bpf " /proc/self/mountinfo; ls -ld /run/bpf; LIBBPF_BPF_TOKEN_PATH=/run/bpf tokencount'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *" /run/bpf "*"delegate_cmds=map_create:prog_load,delegate_maps=array,delegate_progs=socket_filter,delegate_attachs=cgroup_inet_ingress"* ]]
	# Made as the container's root, which is the user.
	[[ "$output" == *"root"*"/run/bpf"* ]]
}

@test "a container in a user namespace nested in the user's (--userns=keep-id) gets its bpffs, its directories made as the container's root" {
	run rl_podman "$U1" run --rm --userns=keep-id "${RL_BPF_OPTS[@]}" --annotation bpf.token/profile=socket-filter \
		--annotation bpf.token/path=/run/bpf "$RL_IMAGE" \
		sh -c 'id -u; grep " - bpf " /proc/self/mountinfo; stat -c "%u %n" /run/bpf; LIBBPF_BPF_TOKEN_PATH=/run/bpf bpfworkload socket-filter'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(id -u "$U1")" ]
	[[ "$output" == *" /run/bpf "*"delegate_progs=socket_filter"* ]]
	[[ "$output" == *"0 /run/bpf"* ]]
	[[ "$output" == *"bpfworkload socket-filter: ok"* ]]
}

@test "a request above the user's rule is refused with the reason, and the container does not start" {
	run rl_podman "$U1" run --rm "${RL_BPF_OPTS[@]}" --annotation bpf.token/profile=xdp "$RL_IMAGE" true
	echo "$output"
	[ "$status" -eq 126 ]
	[[ "$output" == *"bpftoken-oci-hook: container "*": bpftokend refused: denied by policy: rule \"rl1\" of policy $RL_DIR/policy.yaml does not allow progs xdp (allowed: socket_filter); attachs xdp (allowed: cgroup_inet_ingress): ask for less, or widen the rule"* ]]
	run rl_podman "$U1" run --rm --annotation bpf.token/profile=socket-filter --annotation bpf.token/path=/tmp/bpf "$RL_IMAGE" true
	[ "$status" -eq 126 ]
	[[ "$output" == *"does not allow path /tmp/bpf (allowed: /sys/fs/bpf, /run/bpf)"* ]]
	[ -z "$(rl_podman "$U1" ps -aq)" ]
}

@test "a user no rule names gets nothing, and is told so" {
	run rl_podman "$U2" run --rm "${RL_BPF_OPTS[@]}" --annotation bpf.token/profile=socket-filter "$RL_IMAGE" true
	echo "$output"
	[ "$status" -eq 126 ]
	[[ "$output" == *"bpftokend refused: denied by policy: no rule of policy $RL_DIR/policy.yaml selects user $U2 (uid $(id -u "$U2")), and a user no rule names gets nothing: ask the node's admin for a rule with match.users or match.groups"* ]]
}

@test "the user's rule must consent to network and cgroup program types, whatever the container's namespaces" {
	rl_write_policy "rules:
  - name: rl1
    match: {users: [$U1]}
    allow: {profiles: [socket-filter, xdp, cgroup-net]}"
	# podman's netns=none gives the container a network namespace of its
	# own; the user's other processes are in the host's all the same.
	run rl_podman "$U1" run --rm "${RL_BPF_OPTS[@]}" --annotation bpf.token/profile=xdp "$RL_IMAGE" true
	echo "$output"
	[ "$status" -eq 126 ]
	[[ "$output" == *"program types xdp delegated to a rootless container of user $U1 (uid $(id -u "$U1")) could attach to the host's interfaces and network hooks: the user's own processes share the host's network namespace and may join the container's user namespace; set hostNetworkNamespace: true in rule \"rl1\""* ]]
	run rl_podman "$U1" run --rm "${RL_BPF_OPTS[@]}" --annotation bpf.token/profile=cgroup-net "$RL_IMAGE" true
	[ "$status" -eq 126 ]
	[[ "$output" == *"share the host's cgroup namespace"*"set hostCgroupNamespace: true"* ]]

	rl_write_policy "rules:
  - name: rl1
    match: {users: [$U1]}
    allow: {profiles: [xdp], hostNetworkNamespace: true}"
	run rl_podman "$U1" run --rm "${RL_BPF_OPTS[@]}" --cap-add NET_ADMIN --annotation bpf.token/profile=xdp "$RL_IMAGE" bpfworkload xdp
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"bpfworkload xdp: ok"* ]]

	# Why the rule must consent: a process of the user's that stays in the
	# host's network namespace joins the container's user, mount and pid
	# namespaces (the user owns them) and, through the container's token,
	# attaches XDP to the host's lo.
	rl_podman "$U1" run -d --name xdp --annotation bpf.token/profile=xdp "$RL_IMAGE" sleep 600
	local pid
	pid=$(rl_ctr_pid "$U1" xdp)
	run rl_as "$U1" nsenter -t "$pid" --user --mount --pid -- sh -c 'readlink /proc/self/ns/net; bpfworkload xdp'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(readlink /proc/self/ns/net)" ]
	[[ "$output" == *"bpfworkload xdp: ok: xdp on lo (generic, BPF link) dropped 10 of 10 datagrams"* ]]
}

# forge USER PID: USER asks bpftokend, with a client of their own (the hook
# in a user namespace of USER's, fed a made-up container state), for a
# bpffs in the process PID.
forge() {
	local u=$1 pid=$2 dir="$RL_DIR/forge-$1"
	mkdir -p "$dir/rootfs"
	echo '{"ociVersion":"1.0.2","root":{"path":"'"$dir/rootfs"'"}}' >"$dir/config.json"
	chown -R "$u" "$dir"
	echo '{"ociVersion":"1.0.2","id":"forged","status":"creating","pid":'"$pid"',"bundle":"'"$dir"'","annotations":{"bpf.token/profile":"socket-filter"}}' |
		rl_as "$u" unshare --user --map-root-user "$RL_DIR/oci-hook" --service "$RL_DIR/bpftokend.sock"
}

@test "a user cannot have a bpffs put in another user's container, root's, or a host process" {
	rl_podman "$U2" run -d --name victim "$RL_IMAGE" sleep 600
	victim=$(rl_ctr_pid "$U2" victim)
	# U1 has a rule: only the ownership check stands in the way.
	run forge "$U1" "$victim"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"container forged: bpftokend refused: pid $victim is not in namespaces of user $U1 (uid $(id -u "$U1")) (they belong to another user): a user may only ask for their own containers"* ]]
	[ -z "$(bpf_line "$victim")" ]

	# Root's container: rootful podman's, in a user namespace root made.
	rl_rootful run -d --name roots --userns=auto "$RL_IMAGE" sleep 600
	local roots
	roots=$(rl_rootful inspect -f '{{.State.Pid}}' roots)
	run forge "$U1" "$roots"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"pid $roots is not in namespaces of user $U1 (uid $(id -u "$U1")) (they belong to another user)"* ]]
	[ -z "$(bpf_line "$roots")" ]

	# A process of the user's in the host's namespaces.
	rl_as "$U1" sleep 600 </dev/null >/dev/null 2>&1 3>&- &
	sleep 0.5
	run forge "$U1" "$(pgrep -u "$U1" -x sleep | head -1)"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no user namespace of its own"* ]]
}

@test "an image's annotations never obtain a delegation for a rootless container either" {
	local ctx="$RL_DIR/ctx"
	mkdir -p "$ctx"
	echo "FROM $RL_IMAGE" >"$ctx/Containerfile"
	chmod -R a+rX "$ctx"
	rl_podman "$U1" build -q --annotation bpf.token/profile=socket-filter -t localhost/evil:latest "$ctx" >/dev/null
	run rl_podman "$U1" run --rm localhost/evil:latest sh -c 'grep -c " - bpf " /proc/self/mountinfo || true'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = 0 ]
	grep -q 'annotation bpf.token/profile ignored: the image sets it' "$RL_HOOK_LOG"
	rl_podman "$U1" rmi -f localhost/evil:latest >/dev/null
}

@test "many rootless containers at once each get their bpffs" {
	local i pids=() pid
	for i in $(seq 8); do
		rl_podman "$U1" run -d --name "c$i" --annotation bpf.token/profile=socket-filter "$RL_IMAGE" sleep 600 >/dev/null &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do wait "$pid"; done
	for i in $(seq 8); do
		pid=$(rl_ctr_pid "$U1" "c$i")
		[[ "$(bpf_line "$pid")" == *"delegate_progs=socket_filter"* ]]
	done
}

@test "the service restarts cleanly, and a container asking while it is down is refused in one line" {
	rl_stop_service TERM
	[ ! -e "$RL_DIR/bpftokend.sock" ]
	grep -q 'msg=stopped' "$RL_SERVICE_LOG"
	run rl_podman "$U1" run --rm --annotation bpf.token/profile=socket-filter "$RL_IMAGE" true
	echo "$output"
	[ "$status" -eq 126 ]
	[[ "$output" == *"rootless podman: the hook runs as your user, which cannot delegate bpf(), and asks bpftokend, but bpftokend is not reachable at $RL_DIR/bpftokend.sock: no socket there: ask the node's admin to install and start it"* ]]

	rl_start_service
	run rl_podman "$U1" run --rm --annotation bpf.token/profile=socket-filter "$RL_IMAGE" sh -c 'grep -c " - bpf " /proc/self/mountinfo'
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = 1 ]

	# Killed: the socket stays behind, and the next start replaces it.
	rl_stop_service KILL
	[ -S "$RL_DIR/bpftokend.sock" ]
	rl_start_service
	run rl_podman "$U1" run --rm --annotation bpf.token/profile=socket-filter "$RL_IMAGE" sh -c 'grep -c " - bpf " /proc/self/mountinfo'
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = 1 ]

	# A second service on the same socket refuses to start.
	run "$REPO/bin/bpftokend" --listen "$RL_DIR/bpftokend.sock" --policy "$RL_DIR/policy.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == *"another bpftokend answers there: stop it first"* ]]
}

@test "doctor, run as the user, says whether the service answers and what the user's rule grants" {
	run rl_as "$U1" "$RL_DIR/oci-hook" doctor --service "$RL_DIR/bpftokend.sock"
	echo "$output"
	[[ "$output" == *"ok    service   bpftokend "*" at $RL_DIR/bpftokend.sock answers; rule \"rl1\" of policy $RL_DIR/policy.yaml grants user $U1 (uid $(id -u "$U1")) at most cmds=map_create:prog_load:btf_load maps=hash:array:percpu_array progs=socket_filter attachs=cgroup_inet_ingress at /sys/fs/bpf, /run/bpf (profiles socket-filter)"* ]]
	run rl_as "$U2" "$RL_DIR/oci-hook" doctor --service "$RL_DIR/bpftokend.sock"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"fail  service   "*"no rule of policy $RL_DIR/policy.yaml selects user $U2"*"it grants you nothing  => fix: ask the node's admin for a rule with match.users or match.groups"* ]]
	run rl_as "$U2" "$RL_DIR/oci-hook" doctor --service "$RL_DIR/nothing.sock"
	[ "$status" -eq 1 ]
	[[ "$output" == *"fail  service   rootless podman: bpftokend is not reachable at $RL_DIR/nothing.sock: no socket there  => fix: the node's admin installs and starts bpftokend"* ]]
}
