#!/usr/bin/env bats
# Real eBPF workloads (examples/workloads, bin/bpfworkload in the test image)
# in real user-namespaced containers: each one with the exact delegation and
# capabilities it needs (the "each item is needed" tests drop them one at a
# time), the effect it measured, and the step and errno of each refusal.
# What is proven here is the table in examples/workloads' package doc.
# workloads-containerd.bats proves the same on containerd through the NRI
# plugin; the delegations and refused are in workloads_helpers.bash.

load podman_helpers
load workloads_helpers

# setup_file, teardown_file, setup and teardown serve the podman part.
setup_file() { podman_setup_file; }
teardown_file() { podman_teardown_file; }
setup() { podman_setup; }
teardown() {
	local rc=0
	podman_teardown || rc=$?
	workloads_cleanup || rc=$?
	return $rc
}

# ---------------------------------------------------------------------------
# podman (the OCI hook)
# ---------------------------------------------------------------------------

# run_workload [-drop KEY:ITEM|cap:CAP]: runs WL_CMD in a fresh container
# with the delegation WL_ANN, BPF_OPTS (CAP_BPF, the seccomp profile), WL_CAPS
# and the podman options WL_OPTS; with -drop, without that one item or
# capability (cap:BPF included). The delegations (SOCKET_FILTER...), ann and
# refused are in workloads_helpers.bash.
run_workload() {
	local drop= a c opts=() i
	if [ "${1:-}" = -drop ]; then drop=$2; fi
	for ((i = 0; i < ${#BPF_OPTS[@]}; i++)); do
		if [ "$drop" = cap:BPF ] && [ "${BPF_OPTS[i]}" = --cap-add ] && [ "${BPF_OPTS[i + 1]}" = BPF ]; then
			i=$((i + 1))
			continue
		fi
		opts+=("${BPF_OPTS[i]}")
	done
	wl_without "$drop"
	for a in "${LEFT_ANN[@]}"; do opts+=(--annotation "bpf.token/$a"); done
	for c in "${LEFT_CAPS[@]}"; do opts+=(--cap-add "$c"); done
	echo "# podman run ${opts[*]} ${WL_OPTS[*]} ${WL_CMD[*]}"
	run tpodman run --rm "${USERNS[@]}" "${opts[@]}" "${WL_OPTS[@]}" "$IMAGE" "${WL_CMD[@]}"
	echo "$output"
}

# The cgroup workloads attach to the container's own cgroup v2. The hook
# delegates cgroup program types only to a container with a cgroup namespace
# of its own (--cgroupns=private). On this host's hybrid cgroups runc mounts
# only the v1 hierarchies in the container, so the test puts the container
# under a cgroup parent of its own and bind-mounts that parent's cgroup2
# directory (read-only) at /sys/fs/cgroup/unified: the container sees its own
# cgroup and no other container's. bpfworkload finds its directory there
# (mountinfo shows the mount's root as "/..", above the namespace's root; the
# directory below it whose cgroup.procs lists the process is its own).
cgroup_opts() {
	CG_PARENT=bpfwl-$$-$BATS_SUITE_TEST_NUMBER
	mkdir -p "/sys/fs/cgroup/unified/$CG_PARENT"
	WL_OPTS=(--cgroupns=private --cgroup-parent="/$CG_PARENT"
		-v "/sys/fs/cgroup/unified/$CG_PARENT:/sys/fs/cgroup/unified:ro")
}

# A network namespace owned by the host's user namespace (ip netns add, the
# way CRI runtimes create pod network namespaces), lo up.
host_netns() {
	NETNS=bpfwl-$$-$BATS_SUITE_TEST_NUMBER
	ip netns add "$NETNS"
	ip netns exec "$NETNS" ip link set lo up
}

# After each test: the cgroup parent (runc created it in every hierarchy,
# with conmon's cgroup below it) and the network namespace are gone.
workloads_cleanup() {
	local d i rc=0
	if [ -n "${CG_PARENT:-}" ]; then
		for i in 1 2 3 4 5; do
			for d in /sys/fs/cgroup/*/"$CG_PARENT"; do
				[ -d "$d" ] || continue
				find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
			done
			compgen -G "/sys/fs/cgroup/*/$CG_PARENT" >/dev/null || break
			sleep 0.5
		done
		if compgen -G "/sys/fs/cgroup/*/$CG_PARENT" >/dev/null; then
			echo "cgroups left: $(echo /sys/fs/cgroup/*/"$CG_PARENT")" >&2
			rc=1
		fi
	fi
	if [ -n "${NETNS:-}" ]; then
		ip netns del "$NETNS" || rc=1
	fi
	return $rc
}

@test "podman: socket-filter counts its datagrams (array, socket_filter, cgroup_inet_ingress; CAP_BPF)" {
	WL_ANN=("${SOCKET_FILTER[@]}") WL_CAPS=() WL_OPTS=() WL_CMD=(bpfworkload socket-filter -packets 7)
	run_workload
	[ "$status" -eq 0 ]
	[[ "$output" == "bpfworkload socket-filter: ok: socket filter counted 7 of 7 datagrams on 127.0.0.1:"* ]]
}

@test "podman: socket-filter: each item is needed (without cgroup_inet_ingress: prog_load EPERM)" {
	WL_ANN=("${SOCKET_FILTER[@]}") WL_CAPS=() WL_OPTS=() WL_CMD=(bpfworkload socket-filter -packets 1)
	refused attachs:cgroup_inet_ingress "load program" EPERM
	[[ "$output" == *"attach type BPF_CGROUP_INET_INGRESS: token insufficiently privileged"* ]]
	refused cmds:map_create "create map" EPERM
	refused cap:BPF "create map" EPERM # no token without CAP_BPF
	refused maps:array "create map" EPERM
	refused cmds:prog_load "load program" EPERM
	refused progs:socket_filter "load program" EPERM
}

@test "podman: cgroup-skb counts ingress and egress of its own cgroup (cgroup_skb, ingress+egress; CAP_NET_ADMIN)" {
	cgroup_opts
	WL_ANN=("${CGROUP_SKB[@]}") WL_CAPS=(NET_ADMIN) WL_CMD=(bpfworkload cgroup-skb -packets 6)
	run_workload
	[ "$status" -eq 0 ]
	[[ "$output" == "bpfworkload cgroup-skb: ok: cgroup /sys/fs/cgroup/unified/libpod-"*": counted 6 ingress and 6 egress datagrams to 127.0.0.1:"* ]]
}

@test "podman: cgroup-skb: each item is needed (without CAP_NET_ADMIN: BPF_LINK_CREATE EPERM)" {
	cgroup_opts
	WL_ANN=("${CGROUP_SKB[@]}") WL_CAPS=(NET_ADMIN) WL_CMD=(bpfworkload cgroup-skb -packets 1)
	# The program loads without CAP_NET_ADMIN; attaching it to the cgroup is refused.
	refused cap:NET_ADMIN "attach (BPF_LINK_CREATE)" EPERM
	refused attachs:cgroup_inet_ingress "load program" EPERM
	refused attachs:cgroup_inet_egress "load program" EPERM
	refused cmds:map_create "create map" EPERM
	refused cap:BPF "create map" EPERM # no token without CAP_BPF
	refused maps:array "create map" EPERM
	refused cmds:prog_load "load program" EPERM
	refused progs:cgroup_skb "load program" EPERM
}

@test "podman: cgroup-skb without a cgroup2 view: it says so and asks for -cgroup" {
	WL_ANN=("${CGROUP_SKB[@]}") WL_CAPS=(NET_ADMIN) WL_OPTS=(--cgroupns=private) WL_CMD=(bpfworkload cgroup-skb)
	run_workload
	[ "$status" -eq 1 ]
	[[ "$output" == *"bpfworkload cgroup-skb: find cgroup: cgroup v2 /: no cgroup2 mount in /proc/self/mountinfo (pass -cgroup DIR)"* ]]
}

@test "podman: connect-deny refuses connect() to one port, not to another (cgroup_sock_addr, cgroup_inet4_connect; CAP_NET_ADMIN)" {
	cgroup_opts
	WL_ANN=("${CONNECT_DENY[@]}") WL_CAPS=(NET_ADMIN) WL_CMD=(bpfworkload connect-deny -port 8080 -tries 4)
	run_workload
	[ "$status" -eq 0 ]
	[[ "$output" == "bpfworkload connect-deny: ok: cgroup /sys/fs/cgroup/unified/libpod-"*": connect() to 127.0.0.1:8080 refused 4 of 4 times (EPERM), program counted 4; connect() to 127.0.0.1:"*" succeeded" ]]
}

@test "podman: connect-deny: each item is needed (without CAP_NET_ADMIN: prog_load EPERM)" {
	cgroup_opts
	WL_ANN=("${CONNECT_DENY[@]}") WL_CAPS=(NET_ADMIN) WL_CMD=(bpfworkload connect-deny -tries 1)
	refused cap:NET_ADMIN "load program" EPERM
	refused attachs:cgroup_inet4_connect "load program" EPERM
	refused cmds:map_create "create map" EPERM
	refused cap:BPF "create map" EPERM # no token without CAP_BPF
	refused maps:array "create map" EPERM
	refused cmds:prog_load "load program" EPERM
	refused progs:cgroup_sock_addr "load program" EPERM
}

@test "podman: xdp drops and counts the datagrams to one port, another still works (xdp, xdp; CAP_NET_ADMIN; BPF link)" {
	WL_ANN=("${XDP[@]}") WL_CAPS=(NET_ADMIN) WL_OPTS=() WL_CMD=(bpfworkload xdp -packets 5)
	run_workload
	[ "$status" -eq 0 ]
	[[ "$output" == "bpfworkload xdp: ok: xdp on lo (generic, BPF link) dropped 5 of 5 datagrams to port "*" (counter 5, 0 received); port "*" received 5 of 5" ]]
}

@test "podman: xdp: each item is needed (without the xdp attach type: prog_load EPERM)" {
	WL_ANN=("${XDP[@]}") WL_CAPS=(NET_ADMIN) WL_OPTS=() WL_CMD=(bpfworkload xdp -packets 1)
	refused attachs:xdp "load program" EPERM
	[[ "$output" == *"attach type BPF_XDP: token insufficiently privileged"* ]]
	refused cap:NET_ADMIN "load program" EPERM
	refused cmds:map_create "create map" EPERM
	refused cap:BPF "create map" EPERM # no token without CAP_BPF
	refused maps:array "create map" EPERM
	refused cmds:prog_load "load program" EPERM
	refused progs:xdp "load program" EPERM
}

@test "podman: xdp through netlink works in podman's own network namespace (netns=none: owned by the container's user namespace)" {
	WL_ANN=("${XDP[@]}") WL_CAPS=(NET_ADMIN) WL_OPTS=() WL_CMD=(bpfworkload xdp -netlink -packets 3)
	run_workload
	[ "$status" -eq 0 ]
	[[ "$output" == "bpfworkload xdp: ok: xdp on lo (generic, netlink) dropped 3 of 3 datagrams to port "*" (counter 3, 0 received); port "*" received 3 of 3" ]]
}

@test "podman: in a network namespace owned by the host's user namespace: xdp and tcx links work, netlink XDP is EPERM" {
	host_netns
	WL_ANN=("${XDP[@]}") WL_CAPS=(NET_ADMIN) WL_OPTS=(--network "ns:/run/netns/$NETNS") WL_CMD=(bpfworkload xdp -packets 4)
	run_workload
	[ "$status" -eq 0 ]
	[[ "$output" == "bpfworkload xdp: ok: xdp on lo (generic, BPF link) dropped 4 of 4 datagrams to port "*" (counter 4, 0 received); port "*" received 4 of 4" ]]
	# RTM_SETLINK checks CAP_NET_ADMIN over the netns owner (netlink_ns_capable).
	WL_CMD=(bpfworkload xdp -netlink -packets 1)
	run_workload
	[ "$status" -eq 1 ]
	[ "$output" = "bpfworkload xdp: attach (netlink): operation not permitted (EPERM)" ]
	WL_ANN=("${TCX[@]}") WL_CMD=(bpfworkload tcx -packets 4)
	run_workload
	[ "$status" -eq 0 ]
	[[ "$output" == "bpfworkload tcx: ok: tcx ingress on lo counted 4 of 4 datagrams to 127.0.0.1:"*", all 4 received" ]]
}

@test "podman: tcx counts the datagrams at lo's ingress (sched_cls, tcx_ingress; CAP_NET_ADMIN)" {
	WL_ANN=("${TCX[@]}") WL_CAPS=(NET_ADMIN) WL_OPTS=() WL_CMD=(bpfworkload tcx -packets 8)
	run_workload
	[ "$status" -eq 0 ]
	[[ "$output" == "bpfworkload tcx: ok: tcx ingress on lo counted 8 of 8 datagrams to 127.0.0.1:"*", all 8 received" ]]
}

@test "podman: tcx: each item is needed (without tcx_ingress: prog_load EPERM)" {
	WL_ANN=("${TCX[@]}") WL_CAPS=(NET_ADMIN) WL_OPTS=() WL_CMD=(bpfworkload tcx -packets 1)
	refused attachs:tcx_ingress "load program" EPERM
	[[ "$output" == *"attach type BPF_TCX_INGRESS: token insufficiently privileged"* ]]
	refused cap:NET_ADMIN "load program" EPERM
	refused cmds:map_create "create map" EPERM
	refused cap:BPF "create map" EPERM # no token without CAP_BPF
	refused maps:array "create map" EPERM
	refused cmds:prog_load "load program" EPERM
	refused progs:sched_cls "load program" EPERM
}

@test "podman: ringbuf: a socket filter's records arrive in user space (ringbuf, socket_filter, cgroup_inet_ingress; CAP_BPF)" {
	WL_ANN=("${RINGBUF[@]}") WL_CAPS=() WL_OPTS=() WL_CMD=(bpfworkload ringbuf -packets 5)
	run_workload
	[ "$status" -eq 0 ]
	[ "$output" = "bpfworkload ringbuf: ok: 5 ring buffer records read, packet lengths 18..58 bytes (150 bytes of payload + 8-byte UDP headers)" ]
}

@test "podman: ringbuf: each item is needed" {
	WL_ANN=("${RINGBUF[@]}") WL_CAPS=() WL_OPTS=() WL_CMD=(bpfworkload ringbuf -packets 1)
	refused maps:ringbuf "create map" EPERM
	refused attachs:cgroup_inet_ingress "load program" EPERM
	refused cmds:map_create "create map" EPERM
	refused cap:BPF "create map" EPERM # no token without CAP_BPF
	refused cmds:prog_load "load program" EPERM
	refused progs:socket_filter "load program" EPERM
}

@test "podman: pin, then get from a second process of the same container (map_create, array; CAP_BPF to pin)" {
	WL_ANN=("${PIN[@]}") WL_CAPS=() WL_OPTS=()
	WL_CMD=(sh -c 'bpfworkload pin -value 1234 wl_shared && bpfworkload get wl_shared')
	run_workload
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "bpfworkload pin: ok: pinned array map id "*" with value 1234 at /sys/fs/bpf/wl_shared" ]]
	[[ "${lines[1]}" == "bpfworkload get: ok: read value 1234 from /sys/fs/bpf/wl_shared (array map id "*")" ]]
	# The same map: the same id.
	[ "$(grep -o 'map id [0-9]*' <<<"${lines[0]}")" = "$(grep -o 'map id [0-9]*' <<<"${lines[1]}")" ]
}

@test "podman: pin: each item is needed" {
	WL_ANN=("${PIN[@]}") WL_CAPS=() WL_OPTS=() WL_CMD=(bpfworkload pin wl)
	refused cmds:map_create "create map" EPERM
	refused cap:BPF "create map" EPERM # no token without CAP_BPF
	refused maps:array "create map" EPERM
}

@test "podman: get through podman exec needs no capability and no token, only access to the pin" {
	ann "${PIN[@]}"
	tpodman run -d --name pinner "${USERNS[@]}" "${BPF_OPTS[@]}" "${ANN[@]}" "$IMAGE" \
		sh -c 'bpfworkload pin -value 77 wl && touch /tmp/pinned && sleep 600'
	for _ in $(seq 50); do
		tpodman exec pinner test -e /tmp/pinned && break
		sleep 0.1
	done
	run tpodman exec pinner bpfworkload get wl
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "bpfworkload get: ok: read value 77 from /sys/fs/bpf/wl (array map id "*")" ]]
	# A user without capabilities: the pin is 0600 root, so EACCES...
	run tpodman exec --user 1000:1000 pinner sh -c 'grep CapEff /proc/self/status; bpfworkload get wl'
	echo "$output"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "CapEff:	0000000000000000" ]
	[ "${lines[1]}" = "bpfworkload get: open pin (BPF_OBJ_GET): permission denied (EACCES)" ]
	# ... until the owner opens it up: then BPF_OBJ_GET and the lookup work.
	tpodman exec pinner chmod 0666 /sys/fs/bpf/wl
	run tpodman exec --user 1000:1000 pinner bpfworkload get wl
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "bpfworkload get: ok: read value 77 from /sys/fs/bpf/wl (array map id "*")" ]]
}

@test "podman: a second container, same host uid range, does not see the first one's pin (its own bpffs)" {
	# A bind mount of the first container's bpffs into the second is not
	# possible: runc (and open_tree(OPEN_TREE_CLONE)) cannot bind a mount of
	# another mount namespace (EINVAL). Pins are shared within one container.
	ann "${PIN[@]}"
	tpodman run -d --name pinner "${USERNS[@]}" "${BPF_OPTS[@]}" "${ANN[@]}" "$IMAGE" \
		sh -c 'bpfworkload pin -value 5 wl && touch /tmp/pinned && sleep 600'
	for _ in $(seq 50); do
		tpodman exec pinner test -e /tmp/pinned && break
		sleep 0.1
	done
	run tpodman exec pinner bpfworkload get wl
	[ "$status" -eq 0 ]
	WL_ANN=("${PIN[@]}") WL_CAPS=() WL_OPTS=() WL_CMD=(bpfworkload get wl)
	run_workload
	[ "$status" -eq 1 ]
	[ "$output" = "bpfworkload get: open pin (BPF_OBJ_GET): no such file or directory (ENOENT)" ]
}

# raw_tracepoint with CO-RE reads (CORE in workloads_helpers.bash).

@test "podman: core: a CO-RE read in a raw tracepoint returns the process's own pid, and the program sees the host's tasks too (raw_tracepoint; CAP_PERFMON)" {
	WL_ANN=("${CORE[@]}") WL_CAPS=(PERFMON) WL_OPTS=() WL_CMD=(bpfworkload core)
	run_workload
	[ "$status" -eq 0 ]
	# Level 1: the container's pid namespace; the pid is the one getpid()
	# gives in it. Tasks of the host's pid namespace (level 0) fire the
	# program too: what a tracing grant reaches.
	[[ "$output" =~ ^"bpfworkload core: ok: CO-RE read pid "([0-9]+)" (getpid "([0-9]+)") at pid namespace level 1; the program also saw "([0-9]+)" syscalls of tasks in the host's pid namespace"$ ]]
	[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]
	# The hook warned that the grant reaches the whole host.
	grep 'level=warning' "$HOOK_LOG" | grep -q 'bpf.token/progs delegates raw_tracepoint: with CAP_PERFMON in the container.s user namespace these programs observe the whole host'
}

@test "podman: core: each item is needed (without CAP_PERFMON: prog_load EPERM)" {
	WL_ANN=("${CORE[@]}") WL_CAPS=(PERFMON) WL_OPTS=() WL_CMD=(bpfworkload core)
	refused cap:PERFMON "load object" EPERM
	refused cmds:map_create "load object" EPERM
	refused maps:array "load object" EPERM
	refused attachs:cgroup_inet_ingress "load object" EPERM
	refused progs:raw_tracepoint "load object" EPERM
	refused cmds:prog_load "load object" EPERM
	refused cap:BPF "load object" EPERM
}

# bpf.token/profile: one annotation for the common cases. Each profile's
# workloads run with it alone (and the capabilities the profile names).

@test "podman: profiles: each runs its workloads with the one annotation (socket-filter, ringbuf-telemetry, xdp, tc)" {
	local profile cmd
	for profile_cmd in "socket-filter:socket-filter" "ringbuf-telemetry:ringbuf" "ringbuf-telemetry:socket-filter" "xdp:xdp" "tc:tcx"; do
		profile=${profile_cmd%%:*} cmd=${profile_cmd#*:}
		WL_ANN=("profile=$profile") WL_CAPS=() WL_OPTS=() WL_CMD=(bpfworkload "$cmd" -packets 3)
		case $profile in xdp | tc) WL_CAPS=(NET_ADMIN) ;; esac
		run_workload
		[ "$status" -eq 0 ] || { echo "profile $profile: $cmd failed"; return 1; }
		[[ "$output" == "bpfworkload $cmd: ok: "* ]]
	done
	grep "profile=xdp" "$HOOK_LOG" | grep -q 'delegated bpffs mounted'
}

@test "podman: profiles: cgroup-net runs cgroup-skb and connect-deny" {
	cgroup_opts
	WL_ANN=(profile=cgroup-net) WL_CAPS=(NET_ADMIN) WL_CMD=(bpfworkload cgroup-skb -packets 3)
	run_workload
	[ "$status" -eq 0 ]
	[[ "$output" == "bpfworkload cgroup-skb: ok: cgroup "*": counted 3 ingress and 3 egress datagrams to 127.0.0.1:"* ]]
	WL_CMD=(bpfworkload connect-deny -port 8080 -tries 2)
	run_workload
	[ "$status" -eq 0 ]
	[[ "$output" == "bpfworkload connect-deny: ok: cgroup "*": connect() to 127.0.0.1:8080 refused 2 of 2 times (EPERM)"* ]]
}

@test "podman: profiles: a profile is not a wildcard (xdp does not run tcx), and the explicit keys add to it" {
	WL_ANN=(profile=xdp) WL_CAPS=(NET_ADMIN) WL_OPTS=() WL_CMD=(bpfworkload tcx -packets 1)
	run_workload
	[ "$status" -eq 1 ]
	[[ "$output" == "bpfworkload tcx: load program: "*"(EPERM)" ]]
	WL_ANN=(profile=xdp progs=sched_cls attachs=tcx_ingress)
	run_workload
	[ "$status" -eq 0 ]
}

@test "podman: profiles: an unknown profile refuses the container, naming the closest" {
	WL_ANN=(profile=xpd) WL_CAPS=() WL_OPTS=() WL_CMD=(true)
	run_workload
	[ "$status" -ne 0 ]
	[[ "$output" == *'annotation bpf.token/profile: unknown profile "xpd" (did you mean "xdp"?); profiles: socket-filter, ringbuf-telemetry, cgroup-net, xdp, tc'* ]]
}

@test "podman: the probe names the profiles a token covers, and with -want what is missing" {
	WL_ANN=(profile=xdp) WL_CAPS=() WL_OPTS=(-v "$REPO/bin/bpftoken-probe:/usr/local/bin/bpftoken-probe:ro")
	WL_CMD=(bpftoken-probe -want xdp,tc)
	run_workload
	[ "$status" -eq 3 ]
	[[ "$output" == *"profiles: socket-filter, xdp (the token delegates everything these need)"* ]]
	[[ "$output" == *"want:     xdp: MISSING capability CAP_NET_ADMIN: add CAP_NET_ADMIN (podman: --cap-add NET_ADMIN;"* ]]
	[[ "$output" == *"want:     tc: MISSING progs sched_cls, attachs tcx_ingress:tcx_egress, capability CAP_NET_ADMIN: ask for bpf.token/profile=tc;"* ]]
	WL_CAPS=(NET_ADMIN) WL_CMD=(bpftoken-probe -json -want xdp)
	run_workload
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.profiles, .want]' <<<"$output")" = '[["socket-filter","xdp"],[{"profile":"xdp","ok":true,"missing":{},"missing_caps":[]}]]' ]
}

# The hook's warnings know the table: what it warns about fails as it says.

@test "podman: the hook warns about a program type without the attach type it loads with, and the load fails so" {
	WL_ANN=(cmds=map_create:prog_load maps=array progs=xdp attachs=cgroup_inet_ingress) WL_CAPS=(NET_ADMIN) WL_OPTS=() WL_CMD=(bpfworkload xdp -packets 1)
	run_workload
	[ "$status" -eq 1 ]
	[[ "$output" == "bpfworkload xdp: load program: "*"attach type BPF_XDP: token insufficiently privileged"*"(EPERM)" ]]
	grep 'level=warning' "$HOOK_LOG" | grep -q 'bpf.token/progs delegates xdp, but bpf.token/attachs lacks xdp, which libbpf loads SEC(\\"xdp\\") programs with'
}

@test "podman: the hook warns about network program types without CAP_NET_ADMIN, and the load fails so" {
	WL_ANN=("${TCX[@]}") WL_CAPS=() WL_OPTS=() WL_CMD=(bpfworkload tcx -packets 1)
	run_workload
	[ "$status" -eq 1 ]
	[[ "$output" == "bpfworkload tcx: load program: "*"(EPERM)" ]]
	grep 'level=warning' "$HOOK_LOG" | grep -q 'lacks CAP_NET_ADMIN, which loading or attaching the delegated program types \[sched_cls\] needs'
}

@test "podman: the hook warns about cgroup_sock_addr without any of its hooks" {
	WL_ANN=(cmds=map_create:prog_load maps=array progs=cgroup_sock_addr attachs=cgroup_inet_ingress) WL_CAPS=(NET_ADMIN) WL_OPTS=(--cgroupns=private) WL_CMD=(true)
	run_workload
	[ "$status" -eq 0 ]
	grep 'level=warning' "$HOOK_LOG" | grep -q 'bpf.token/progs delegates cgroup_sock_addr, but bpf.token/attachs has none of the attach types the kernel loads it with (cgroup_inet4_bind, '
}

# With the host's network namespace, an XDP or tc link would attach to the
# host's interfaces: the hook refuses network program types there.
@test "podman: --network host: network program types are refused (they would reach the host's interfaces)" {
	WL_ANN=(profile=xdp) WL_CAPS=(NET_ADMIN) WL_OPTS=(--network host) WL_CMD=(true)
	run_workload
	[ "$status" -ne 0 ]
	[[ "$output" == *"program types xdp delegated to a container that shares the host's network namespace could attach to the host's interfaces and network hooks: give the container a network namespace of its own (podman: a --network other than host)"* ]]
	# A socket filter reaches only its own sockets: granted there.
	WL_ANN=(profile=socket-filter) WL_CMD=(bpfworkload socket-filter -packets 2)
	run_workload
	[ "$status" -eq 0 ]
}
