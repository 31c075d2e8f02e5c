#!/usr/bin/env bats
# Real eBPF workloads (examples/workloads, bin/bpfworkload in the test image)
# in user-namespaced pods of a real containerd 2.x (test/containerd), through
# the NRI plugin: every workload workloads.bats proves on podman, with the
# pod annotations it uses there, the effect it measured, and one or two
# representative refusals each (podman drops every item). The plugin grants
# only what the policy below allows; the rules are per Kubernetes namespace.
#
# CRI containers here run without a seccomp profile, so only capabilities
# matter besides the token: run_workload gives CAP_BPF and WL_CAPS.

load ../containerd/lib
load plugin_helpers
load workloads_helpers

setup_file() {
	containerd_setup_file "$IMAGE"
	write_workloads_policy
	start_plugin -policy "$POLICY"
}

teardown_file() {
	stop_plugin
	ctd_stop
}

setup() { cri_setup; }
teardown() { cri_teardown; }

# write_workloads_policy: default runs the workloads but the cgroup ones
# (its rule allows their program types, but not hostCgroupNamespace);
# cgroup-host runs the cgroup ones in the host's cgroup namespace (CRI
# containers on this host's cgroups have none of their own); restricted has
# the socket-filter profile only; host-net may have xdp in the host's network
# namespace.
write_workloads_policy() {
	cat >"$POLICY" <<-EOF
		rules:
		  - name: workloads
		    match: {namespaces: [default]}
		    allow:
		      cmds: [map_create, prog_load]
		      maps: [array, ringbuf]
		      progs: [socket_filter, cgroup_skb, cgroup_sock_addr, xdp, sched_cls, raw_tracepoint]
		      attachs: [cgroup_inet_ingress, cgroup_inet_egress, cgroup_inet4_connect, xdp, tcx_ingress]
		      profiles: [xdp, tc]
		  - name: cgroup-workloads
		    match: {namespaces: [cgroup-host]}
		    allow: {profiles: [cgroup-net], hostCgroupNamespace: true}
		  - name: restricted
		    match: {namespaces: [restricted]}
		    allow: {profiles: [socket-filter]}
		  - name: host-network
		    match: {namespaces: [host-net]}
		    allow: {profiles: [xdp], hostNetworkNamespace: true}
	EOF
}

# workload_pod [-drop KEY:ITEM|cap:CAP]: a fresh user-namespaced pod in the
# Kubernetes namespace WL_NS (default: default) with the delegation WL_ANN as
# its annotations; POD_NAME and WL_POD are its name and id. WL_CTR gets the
# ctd_create_container options of its container: CAP_BPF, WL_CAPS, WL_OPTS,
# and with WL_CGROUP2=1 the pod's cgroup v2 directory bind-mounted
# (read-only) at /sys/fs/cgroup/unified. With -drop, without that one item
# or capability (cap:BPF included).
workload_pod() {
	local drop= a c caps cgparent
	if [ "${1:-}" = -drop ]; then drop=$2; fi
	caps=(BPF "${WL_CAPS[@]}")
	local WL_CAPS=("${caps[@]}")
	wl_without "$drop"
	ANN=()
	for a in "${LEFT_ANN[@]}"; do ANN+=(--annotation "bpf.token/$a"); done
	WL_PODS=$((${WL_PODS:-0} + 1))
	POD_NAME=wl-$BATS_TEST_NUMBER-$WL_PODS
	WL_POD=$(ctd_run_pod "$POD_NAME" --userns --namespace "${WL_NS:-default}" "${ANN[@]}")
	WL_CTR=()
	for c in "${LEFT_CAPS[@]}"; do WL_CTR+=(--cap "$c"); done
	WL_CTR+=("${WL_OPTS[@]}")
	if [ "${WL_CGROUP2:-0}" = 1 ]; then
		cgparent=$(jq -r .linux.cgroup_parent "$(ctd_pod_config "$POD_NAME")")
		WL_CTR+=(--mount "/sys/fs/cgroup/unified$cgparent:/sys/fs/cgroup/unified:ro")
	fi
	echo "# pod ${WL_NS:-default}/$POD_NAME: ${ANN[*]}; container wl: ${WL_CTR[*]} -- ${WL_CMD[*]}"
}

# run_workload [-drop ...]: workload_pod, and in it the container wl running
# WL_CMD to its end: status and output (its log) as bats' run gives them.
run_workload() {
	workload_pod "$@"
	run_to_exit "$WL_POD" wl "${WL_CTR[@]}" -- "${WL_CMD[@]}"
	status=$exit_code
}

# create_refused [-drop ...]: workload_pod, then crictl create of wl under
# bats' run: the creation must fail; status and output are crictl's, with
# the quotes of its klog line unescaped.
create_refused() {
	workload_pod "$@"
	run ctd_create_container "$WL_POD" "$POD_NAME" wl "$IMAGE" "${WL_CTR[@]}" -- "${WL_CMD[@]}"
	echo "$output"
	output=${output//\\\"/\"}
	[ "$status" -ne 0 ]
}

# plugin_log_of CONTAINER: the plugin's log lines about container CONTAINER
# of pod POD_NAME (namespace WL_NS).
plugin_log_of() {
	grep -F "container=\"pod ${WL_NS:-default}/$POD_NAME container $1\"" "$PLUGIN_LOG"
}

@test "containerd: socket-filter counts its datagrams (array, socket_filter, cgroup_inet_ingress; CAP_BPF)" {
	WL_ANN=("${SOCKET_FILTER[@]}") WL_CAPS=() WL_OPTS=() WL_CMD=(bpfworkload socket-filter -packets 7)
	run_workload
	[ "$status" -eq 0 ]
	[[ "$output" == "bpfworkload socket-filter: ok: socket filter counted 7 of 7 datagrams on 127.0.0.1:"* ]]
	plugin_log_of wl | grep -q 'delegated bpffs mounted'
}

@test "containerd: socket-filter refusals (without cgroup_inet_ingress: prog_load EPERM; without CAP_BPF: no token)" {
	WL_ANN=("${SOCKET_FILTER[@]}") WL_CAPS=() WL_OPTS=() WL_CMD=(bpfworkload socket-filter -packets 1)
	refused attachs:cgroup_inet_ingress "load program" EPERM
	[[ "$output" == *"attach type BPF_CGROUP_INET_INGRESS: token insufficiently privileged"* ]]
	refused cap:BPF "create map" EPERM
}

@test "containerd: ringbuf: a socket filter's records arrive in user space (ringbuf, socket_filter, cgroup_inet_ingress; CAP_BPF)" {
	WL_ANN=("${RINGBUF[@]}") WL_CAPS=() WL_OPTS=() WL_CMD=(bpfworkload ringbuf -packets 5)
	run_workload
	[ "$status" -eq 0 ]
	[ "$output" = "bpfworkload ringbuf: ok: 5 ring buffer records read, packet lengths 18..58 bytes (150 bytes of payload + 8-byte UDP headers)" ]
}

@test "containerd: ringbuf refusals (without the ringbuf map type: map_create EPERM)" {
	WL_ANN=("${RINGBUF[@]}") WL_CAPS=() WL_OPTS=() WL_CMD=(bpfworkload ringbuf -packets 1)
	refused maps:ringbuf "create map" EPERM
	refused progs:socket_filter "load program" EPERM
}

@test "containerd: xdp drops and counts the datagrams to one port, another still works (xdp, xdp; CAP_NET_ADMIN; BPF link)" {
	WL_ANN=("${XDP[@]}") WL_CAPS=(NET_ADMIN) WL_OPTS=() WL_CMD=(bpfworkload xdp -packets 5)
	run_workload
	[ "$status" -eq 0 ]
	[[ "$output" == "bpfworkload xdp: ok: xdp on lo (generic, BPF link) dropped 5 of 5 datagrams to port "*" (counter 5, 0 received); port "*" received 5 of 5" ]]
}

@test "containerd: xdp refusals (without the xdp attach type or CAP_NET_ADMIN: prog_load EPERM)" {
	WL_ANN=("${XDP[@]}") WL_CAPS=(NET_ADMIN) WL_OPTS=() WL_CMD=(bpfworkload xdp -packets 1)
	refused attachs:xdp "load program" EPERM
	[[ "$output" == *"attach type BPF_XDP: token insufficiently privileged"* ]]
	refused cap:NET_ADMIN "load program" EPERM
}

# The notes and bpfworkload's doc expect a CRI pod's network namespace to be
# owned by the host's user namespace, where RTM_SETLINK is EPERM
# (netlink_ns_capable). containerd 2.4 creates a user-namespaced pod's
# network namespace inside the pod's user namespace: netlink works there,
# as in podman's own. The host's network namespace (a user-namespaced pod
# with host network, which CRI accepts and Kubernetes' validation does not)
# is owned by the host's user namespace: there netlink XDP is EPERM. (Only
# -netlink runs there: with a BPF link, XDP would attach to the host's lo.)
@test "containerd: xdp through netlink works in the pod's network namespace (owned by the pod's user namespace), EPERM in the host's" {
	WL_ANN=("${XDP[@]}") WL_CAPS=(NET_ADMIN) WL_OPTS=() WL_CMD=(bpfworkload xdp -netlink -packets 3)
	run_workload
	[ "$status" -eq 0 ]
	[[ "$output" == "bpfworkload xdp: ok: xdp on lo (generic, netlink) dropped 3 of 3 datagrams to port "*" (counter 3, 0 received); port "*" received 3 of 3" ]]
	# Who owns the pod's network namespace: the pod's user namespace.
	local spid userns owner
	spid=$(ctd_crictl inspectp -o json "$WL_POD" | jq -er '.info.pid | select(. > 0)')
	userns=$(stat -L -c %i "/proc/$spid/ns/user")
	owner=$(lsns -n -t net -o ONS -p "$spid" | tr -d ' ')
	echo "pod sandbox $spid: user namespace $userns, its network namespace owned by $owner (host's: $(stat -L -c %i /proc/self/ns/user))"
	[ "$owner" = "$userns" ]
	[ "$owner" != "$(stat -L -c %i /proc/self/ns/user)" ]
}

# A pod in the host's network namespace (user-namespaced with host network,
# which CRI accepts and Kubernetes' validation does not) could attach XDP or
# tc to the host's interfaces with a BPF link: the plugin refuses network
# program types there unless the rule says hostNetworkNamespace: true.
# Where it does, netlink XDP is still EPERM: the "cannot" row.
@test "containerd: in the host's network namespace: network program types refused unless the rule allows them; netlink XDP EPERM there" {
	ann "${XDP[@]}"
	POD_NAME=wl-hostnet
	pod=$(ctd_run_pod "$POD_NAME" --userns --hostnet "${ANN[@]}")
	run ctd_create_container "$pod" "$POD_NAME" wl "$IMAGE" --cap BPF --cap NET_ADMIN -- true
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"pod default/wl-hostnet container wl: denied by policy: program types xdp delegated to a container that shares the host's network namespace could attach to the host's interfaces and network hooks: give the container a network namespace of its own (Kubernetes: hostNetwork: false), or set hostNetworkNamespace: true in rule "*"workloads"* ]]
	POD_NAME=wl-hostnet-allowed
	pod=$(ctd_run_pod "$POD_NAME" --namespace host-net --userns --hostnet --annotation bpf.token/profile=xdp)
	run_to_exit "$pod" wl --cap BPF --cap NET_ADMIN -- sh -c 'readlink /proc/self/ns/net; bpfworkload xdp -netlink -packets 1'
	[ "$exit_code" = 1 ]
	[ "$output" = "$(readlink /proc/self/ns/net)
bpfworkload xdp: attach (netlink): operation not permitted (EPERM)" ]
}

@test "containerd: tcx counts the datagrams at lo's ingress (sched_cls, tcx_ingress; CAP_NET_ADMIN)" {
	WL_ANN=("${TCX[@]}") WL_CAPS=(NET_ADMIN) WL_OPTS=() WL_CMD=(bpfworkload tcx -packets 8)
	run_workload
	[ "$status" -eq 0 ]
	[[ "$output" == "bpfworkload tcx: ok: tcx ingress on lo counted 8 of 8 datagrams to 127.0.0.1:"*", all 8 received" ]]
}

@test "containerd: tcx refusals (without tcx_ingress or CAP_NET_ADMIN: prog_load EPERM)" {
	WL_ANN=("${TCX[@]}") WL_CAPS=(NET_ADMIN) WL_OPTS=() WL_CMD=(bpfworkload tcx -packets 1)
	refused attachs:tcx_ingress "load program" EPERM
	[[ "$output" == *"attach type BPF_TCX_INGRESS: token insufficiently privileged"* ]]
	refused cap:NET_ADMIN "load program" EPERM
}

@test "containerd: core: a CO-RE read in a raw tracepoint returns the process's own pid, and the program sees the host's tasks too (raw_tracepoint; CAP_PERFMON)" {
	WL_ANN=("${CORE[@]}") WL_CAPS=(PERFMON) WL_OPTS=() WL_CMD=(bpfworkload core)
	run_workload
	[ "$status" -eq 0 ]
	# Level 1: the container's pid namespace; the pid is the one getpid()
	# gives in it (1 here: the workload is the container's first process).
	[[ "$output" =~ ^"bpfworkload core: ok: CO-RE read pid "([0-9]+)" (getpid "([0-9]+)") at pid namespace level 1; the program also saw "([0-9]+)" syscalls of tasks in the host's pid namespace"$ ]]
	[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]
	# The plugin warned that the grant reaches the whole host.
	plugin_log_of wl | grep 'level=warning' | grep -q 'bpf.token/progs delegates raw_tracepoint: with CAP_PERFMON in the container.s user namespace these programs observe the whole host'
}

@test "containerd: core refusals (without CAP_PERFMON or raw_tracepoint: prog_load EPERM)" {
	WL_ANN=("${CORE[@]}") WL_CAPS=(PERFMON) WL_OPTS=() WL_CMD=(bpfworkload core)
	refused cap:PERFMON "load object" EPERM
	refused progs:raw_tracepoint "load object" EPERM
}

# A CRI container here has no cgroup namespace of its own (containerd gives
# none on cgroup v1 hosts, hybrid included): the plugin refuses cgroup
# program types unless the rule says hostCgroupNamespace: true. The refusal
# comes at CreateContainer, so crictl create fails with the plugin's reason.
@test "containerd: cgroup-skb and connect-deny are refused in the host's cgroup namespace when the rule does not say hostCgroupNamespace" {
	WL_ANN=("${CGROUP_SKB[@]}") WL_CAPS=(NET_ADMIN) WL_OPTS=() WL_CGROUP2=1 WL_CMD=(bpfworkload cgroup-skb -packets 1)
	create_refused
	[[ "$output" == *"pod default/$POD_NAME container wl: denied by policy: program types cgroup_skb delegated to a container that shares the host's cgroup namespace could attach to any cgroup it can open, other containers' included: give the container a cgroup namespace of its own, or set hostCgroupNamespace: true in rule \"workloads\" of policy $POLICY"* ]]
	WL_ANN=("${CONNECT_DENY[@]}") WL_CMD=(bpfworkload connect-deny -tries 1)
	create_refused
	[[ "$output" == *"pod default/$POD_NAME container wl: denied by policy: program types cgroup_sock_addr delegated to a container that shares the host's cgroup namespace"*"in rule \"workloads\" of policy $POLICY"* ]]
	# Nothing was created.
	[ -z "$(ctd_crictl ps -a -q --pod "$WL_POD")" ]
}

# Under a rule with hostCgroupNamespace: true. containerd (cgroupfs driver)
# puts a container at <pod cgroup parent>/<container id> in every hierarchy,
# the pod's cgroup v2 directory at /sys/fs/cgroup/unified/ctd-<run>/pod<uid>;
# runc mounts only the v1 hierarchies in the container, so the test
# bind-mounts the pod's v2 directory at /sys/fs/cgroup/unified. Without a
# cgroup namespace the mount's root is the pod's cgroup path and
# /proc/self/cgroup gives the full one: bpfworkload's directory is
# /sys/fs/cgroup/unified/<container id> (the sandbox's is its sibling).
@test "containerd: cgroup-skb counts ingress and egress of its own cgroup under a hostCgroupNamespace rule (cgroup_skb, ingress+egress; CAP_NET_ADMIN)" {
	WL_NS=cgroup-host WL_ANN=("${CGROUP_SKB[@]}") WL_CAPS=(NET_ADMIN) WL_OPTS=() WL_CGROUP2=1 WL_CMD=(bpfworkload cgroup-skb -packets 6)
	run_workload
	[ "$status" -eq 0 ]
	local id
	id=$(ctd_crictl ps -a -q --pod "$WL_POD" --name wl)
	[[ "$output" == "bpfworkload cgroup-skb: ok: cgroup /sys/fs/cgroup/unified/$id: counted 6 ingress and 6 egress datagrams to 127.0.0.1:"* ]]
	[ -d "/sys/fs/cgroup/unified$(jq -r .linux.cgroup_parent "$(ctd_pod_config "$POD_NAME")")/$WL_POD" ]
	# Without CAP_NET_ADMIN the program loads; attaching it is refused.
	WL_CMD=(bpfworkload cgroup-skb -packets 1)
	refused cap:NET_ADMIN "attach (BPF_LINK_CREATE)" EPERM
}

@test "containerd: connect-deny refuses connect() to one port, not to another, under a hostCgroupNamespace rule (cgroup_sock_addr, cgroup_inet4_connect; CAP_NET_ADMIN)" {
	WL_NS=cgroup-host WL_ANN=("${CONNECT_DENY[@]}") WL_CAPS=(NET_ADMIN) WL_OPTS=() WL_CGROUP2=1 WL_CMD=(bpfworkload connect-deny -port 8080 -tries 4)
	run_workload
	[ "$status" -eq 0 ]
	[[ "$output" == "bpfworkload connect-deny: ok: cgroup /sys/fs/cgroup/unified/"*": connect() to 127.0.0.1:8080 refused 4 of 4 times (EPERM), program counted 4; connect() to 127.0.0.1:"*" succeeded" ]]
	WL_CMD=(bpfworkload connect-deny -tries 1)
	refused cap:NET_ADMIN "load program" EPERM
}

@test "containerd: bpf.token/scope: pod: one container pins, a second one started after it exited gets the same map; pin and get in one container" {
	local pod map_id
	ann scope=pod "${PIN[@]}"
	POD_NAME=pinpod
	pod=$(ctd_run_pod "$POD_NAME" --userns "${ANN[@]}")
	run_to_exit "$pod" pinner --cap BPF -- bpfworkload pin -value 4321 wl_pod
	[ "$exit_code" = 0 ]
	[[ "$output" =~ ^"bpfworkload pin: ok: pinned array map id "([0-9]+)" with value 4321 at /sys/fs/bpf/wl_pod"$ ]]
	map_id=${BASH_REMATCH[1]}
	# The reader starts after the pinner exited; it needs no capability.
	run_to_exit "$pod" reader -- bpfworkload get wl_pod
	[ "$exit_code" = 0 ]
	[ "$output" = "bpfworkload get: ok: read value 4321 from /sys/fs/bpf/wl_pod (array map id $map_id)" ]
	run_to_exit "$pod" both --cap BPF -- sh -c 'bpfworkload pin -value 1234 wl_shared && bpfworkload get wl_shared'
	[ "$exit_code" = 0 ]
	[[ "$output" =~ ^"bpfworkload pin: ok: pinned array map id "([0-9]+)" with value 1234 at /sys/fs/bpf/wl_shared"$'\n'"bpfworkload get: ok: read value 1234 from /sys/fs/bpf/wl_shared (array map id "([0-9]+)")"$ ]]
	[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]
}

@test "containerd: pin refusals (without map_create: map_create EPERM)" {
	WL_ANN=("${PIN[@]}") WL_CAPS=() WL_OPTS=() WL_CMD=(bpfworkload pin wl)
	refused cmds:map_create "create map" EPERM
	refused maps:array "create map" EPERM
}

# bpf.token/profile through the plugin: pod-wide, per container, and judged
# by a rule that names profiles.
@test "containerd: profiles: a pod with profile xdp runs xdp, a container with {profile: tc} runs tcx, and xdp does not run tcx" {
	POD_NAME=profiles
	pod=$(ctd_run_pod "$POD_NAME" --userns --annotation bpf.token/profile=xdp --annotation 'bpf.token/container.tc={profile: tc}')
	run_to_exit "$pod" xdp --cap BPF --cap NET_ADMIN -- bpfworkload xdp -packets 3
	[ "$exit_code" = 0 ]
	[[ "$output" == "bpfworkload xdp: ok: xdp on lo (generic, BPF link) dropped 3 of 3 datagrams to port "*" (counter 3, 0 received); port "*" received 3 of 3" ]]
	run_to_exit "$pod" tc --cap BPF --cap NET_ADMIN -- bpfworkload tcx -packets 3
	[ "$exit_code" = 0 ]
	[[ "$output" == "bpfworkload tcx: ok: tcx ingress on lo counted 3 of 3 datagrams to 127.0.0.1:"*", all 3 received" ]]
	run_to_exit "$pod" other --cap BPF --cap NET_ADMIN -- bpfworkload tcx -packets 1
	[ "$exit_code" = 1 ]
	[[ "$output" == "bpfworkload tcx: load program: "*"(EPERM)" ]]
	# The plugin names the profile in the delegation it logs for the
	# container (its "delegation requested" line); its "delegated bpffs
	# mounted" line gives the superblock's options, the profile's items.
	plugin_log_of xdp | grep 'delegation requested' | grep -q 'delegation="profile=xdp cmds='
	plugin_log_of xdp | grep 'delegated bpffs mounted' | grep -q 'delegate_progs=socket_filter:xdp,delegate_attachs=cgroup_inet_ingress:xdp"'
	plugin_log_of tc | grep 'delegation requested' | grep -q 'delegation="profile=tc cmds='
}

@test "containerd: profiles: a rule with profiles [socket-filter] refuses profile xdp, naming the rule and the items, and runs socket-filter" {
	WL_NS=restricted WL_ANN=(profile=xdp) WL_CAPS=(NET_ADMIN) WL_OPTS=() WL_CMD=(bpfworkload xdp -packets 1)
	create_refused
	[[ "$output" == *"pod restricted/$POD_NAME container wl: denied by policy: rule \"restricted\" of policy $POLICY does not allow progs xdp (allowed: socket_filter); attachs xdp (allowed: cgroup_inet_ingress): ask for less, or widen the rule"* ]]
	WL_ANN=(profile=socket-filter) WL_CAPS=() WL_CMD=(bpfworkload socket-filter -packets 2)
	run_workload
	[ "$status" -eq 0 ]
	[[ "$output" == "bpfworkload socket-filter: ok: socket filter counted 2 of 2 datagrams on 127.0.0.1:"* ]]
}

# The plugin's warnings know the table: what it warns about fails as it says.
@test "containerd: the plugin warns about xdp without the xdp attach type, and the load fails so" {
	WL_ANN=(cmds=map_create:prog_load maps=array progs=xdp attachs=cgroup_inet_ingress) WL_CAPS=(NET_ADMIN) WL_OPTS=() WL_CMD=(bpfworkload xdp -packets 1)
	run_workload
	[ "$status" -eq 1 ]
	[[ "$output" == "bpfworkload xdp: load program: "*"attach type BPF_XDP: token insufficiently privileged"*"(EPERM)" ]]
	plugin_log_of wl | grep 'level=warning' | grep -q 'bpf.token/progs delegates xdp, but bpf.token/attachs lacks xdp, which libbpf loads SEC(\\"xdp\\") programs with'
}
