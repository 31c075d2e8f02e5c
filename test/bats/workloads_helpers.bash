# What the workload suites share, front end aside: workloads.bats (podman,
# the OCI hook) and workloads-containerd.bats (containerd, the NRI plugin).
# Each suite defines run_workload [-drop KEY:ITEM|cap:CAP], which runs WL_CMD
# in a fresh container with the delegation WL_ANN and the capabilities
# WL_CAPS (without the one dropped), and sets status and output as bats' run
# does; refused builds on it.

# The delegation of each workload of examples/workloads, as KEY=ITEM:ITEM
# (bpf.token/KEY). The capabilities besides CAP_BPF are each test's WL_CAPS.
SOCKET_FILTER=(cmds=map_create:prog_load maps=array progs=socket_filter attachs=cgroup_inet_ingress)
CGROUP_SKB=(cmds=map_create:prog_load maps=array progs=cgroup_skb attachs=cgroup_inet_ingress:cgroup_inet_egress)
CONNECT_DENY=(cmds=map_create:prog_load maps=array progs=cgroup_sock_addr attachs=cgroup_inet4_connect)
XDP=(cmds=map_create:prog_load maps=array progs=xdp attachs=xdp)
TCX=(cmds=map_create:prog_load maps=array progs=sched_cls attachs=tcx_ingress)
RINGBUF=(cmds=map_create:prog_load maps=ringbuf progs=socket_filter attachs=cgroup_inet_ingress)
PIN=(cmds=map_create maps=array)
# raw_tracepoint with CO-RE reads of the kernel's task and pid structs: the
# tracing class, which sees the whole host (docs/workloads.md).
# The object carries BTF, but cilium/ebpf relocates in user space and loads
# the program without it when btf_load is not delegated.
CORE=(cmds=map_create:prog_load maps=array progs=raw_tracepoint attachs=cgroup_inet_ingress)

# ann KEY=ITEMS...: the --annotation options for a delegation, in ANN (the
# option both podman run and ctd_run_pod take).
ann() {
	local a
	ANN=()
	for a in "$@"; do ANN+=(--annotation "bpf.token/$a"); done
}

# wl_without [DROP]: WL_ANN and WL_CAPS without DROP (KEY:ITEM, or cap:CAP),
# in LEFT_ANN (KEY=ITEMS; a key left without items is left out) and
# LEFT_CAPS.
wl_without() {
	local drop=${1:-} a key item items left
	LEFT_ANN=() LEFT_CAPS=()
	for a in "${WL_ANN[@]}"; do
		key=${a%%=*}
		left=()
		IFS=: read -ra items <<<"${a#*=}"
		for item in "${items[@]}"; do
			[ "$key:$item" = "$drop" ] || left+=("$item")
		done
		[ ${#left[@]} -eq 0 ] || LEFT_ANN+=("$key=$(IFS=:; echo "${left[*]}")")
	done
	for item in "${WL_CAPS[@]}"; do
		[ "cap:$item" = "$drop" ] || LEFT_CAPS+=("$item")
	done
}

# refused DROP STEP ERRNO: without item DROP, the workload fails at STEP with
# ERRNO (its one-line report: "bpfworkload NAME: STEP: ... (ERRNO)").
refused() {
	run_workload -drop "$1"
	[ "$status" -eq 1 ] || { echo "without $1: exit $status, want 1"; return 1; }
	[[ "$output" == *"bpfworkload ${WL_CMD[1]}: $2: "*"($3)" ]] ||
		{ echo "without $1: want the step '$2' refused with $3"; return 1; }
}
