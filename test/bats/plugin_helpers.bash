# Helpers of the CRI suites, on the private containerd of
# test/containerd/lib.bash or CRI-O of test/crio/lib.bash: running
# bin/nri-bpftoken as an external NRI plugin, running containers to their
# end, and the checks both runtimes must pass alike. Needs RT (the lib's
# function prefix: ctd or crio), RUN_ROOT (the runtime's run dir, which holds
# nri.sock) and PLUGIN_LOG, set by containerd_setup_file or crio_setup_file;
# run_to_exit and the checks also need POD_NAME. PLUGIN_LOG_LEVEL (default
# debug) sets the plugin's log level.

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
IMAGE=localhost/bpftoken-test:latest
PROBE=(--mount "$REPO/bin/standin:/usr/local/bin/probe:ro")
# What examples/tokencount (cilium/ebpf, a socket filter) needs.
TOKENCOUNT_ANN=(
	--annotation bpf.token/cmds=map_create,prog_load
	--annotation bpf.token/maps=array
	--annotation bpf.token/progs=socket_filter
	--annotation bpf.token/attachs=cgroup_inet_ingress
)

# write_test_policy: the plugin grants nothing without a policy; this one
# lets pods in "default" have what the tests ask, and pods in "restricted"
# array maps.
write_test_policy() {
	cat >"$POLICY" <<-EOF
		rules:
		  - name: trusted-image
		    match: {namespaces: [restricted], images: ["registry.example.com/trusted*"]}
		    allow: {cmds: any, maps: any, any: true}
		  - name: restricted
		    match: {namespaces: [restricted]}
		    allow: {cmds: map_create, maps: array}
		  - name: test-pods
		    match: {namespaces: [default]}
		    allow: {cmds: any, maps: any, progs: any, attachs: any, paths: [/sys/fs/bpf, /run/bpf]}
	EOF
}

# cri_setup and cri_teardown are the suites' setup and teardown: after each
# test, its pods are removed and the host must be as before.
cri_setup() {
	HOST_BPF_BEFORE=$(grep -c ' - bpf ' /proc/self/mountinfo || true)
}

cri_teardown() {
	rt crictl rmp -fa >/dev/null 2>&1 || true
	assert_host_clean
	if [ "$BATS_TEST_COMPLETED" != 1 ]; then
		rt logs 30
		if [ -f "$PLUGIN_LOG" ]; then
			echo "--- tail of $PLUGIN_LOG" >&2
			tail -n 30 "$PLUGIN_LOG" >&2 || true
		fi
	fi
}

# rt FUNC ARG...: the runtime lib's FUNC (ctd_FUNC or crio_FUNC).
rt() {
	local f=$1
	shift
	"${RT}_$f" "$@"
}

# run_to_exit POD NAME ARGS...: create and start a container, wait for it to
# exit; its logs go to $output and its exit code to $exit_code.
run_to_exit() {
	local pod=$1 name=$2 id
	shift 2
	id=$(rt create_container "$pod" "$POD_NAME" "$name" "$IMAGE" "$@")
	rt start_container "$id"
	rt wait_container "$id" EXITED 30
	exit_code=$(rt crictl inspect -o json "$id" | jq -r .status.exitCode)
	# runc warns in the container's log when CRI-O gives both a pinned user
	# namespace and its mappings; the warning is not the container's output.
	output=$(rt crictl logs "$id" 2>&1 | grep -v '^time=.* level=warning msg="config.json has both a userns path' || true)
	echo "$name (exit $exit_code): $output"
}

verdict() {
	jq -r --arg k "$1" '.[$k] // "missing"' <<<"$output"
}

# assert_host_clean: as many bpffs mounts on the host as before the test
# (HOST_BPF_BEFORE), and no namespace helper left.
assert_host_clean() {
	local now
	now=$(grep -c ' - bpf ' /proc/self/mountinfo || true)
	if [ "$now" != "$HOST_BPF_BEFORE" ]; then
		echo "host has $now bpffs mounts, had $HOST_BPF_BEFORE" >&2
		return 1
	fi
	if pgrep -x bpftoken-helper >/dev/null; then
		echo "namespace helpers left: $(pgrep -a -x bpftoken-helper)" >&2
		return 1
	fi
}

# containerd_setup_file IMAGE: build (or reuse) containerd, start it on
# private paths, import the test image as IMAGE, and set PLUGIN_LOG and
# POLICY (the file a suite writes its policy to).
containerd_setup_file() {
	"$REPO/test/containerd/install.sh" >&3 2>&1
	ctd_init
	ctd_start
	"$REPO/test/images/build-image.sh" --tokencount "$REPO/bin/tokencount" --bpfworkload "$REPO/bin/bpfworkload" --core-obj "$REPO/bin/core.bpf.o" --out "$CTD_ROOT/image.tar" >/dev/null
	ctd_import_image "$CTD_ROOT/image.tar" "$1"
	RT=ctd
	plugin_paths "$CTD_ROOT"
}

# crio_setup_file IMAGE [CRIO_START_ARG...]: the same for CRI-O: build (or
# reuse), import the test image, start crio with the args.
crio_setup_file() {
	local image=$1
	shift
	"$REPO/test/containerd/install.sh" >&3 2>&1
	crio_init
	"$REPO/test/images/build-image.sh" --tokencount "$REPO/bin/tokencount" --bpfworkload "$REPO/bin/bpfworkload" --core-obj "$REPO/bin/core.bpf.o" --out "$CRIO_ROOT/image.tar" >/dev/null
	crio_import_image "$CRIO_ROOT/image.tar" "$image"
	crio_start "$@"
	RT=crio
	plugin_paths "$CRIO_ROOT"
}

plugin_paths() {
	export RT RUN_ROOT=$1
	export PLUGIN_LOG="$1/nri-bpftoken.log"
	export POLICY="$1/policy.yaml"
}

# start_plugin ARGS...: start the plugin with ARGS added; returns once
# containerd has configured and synchronized it.
start_plugin() {
	local before
	before=$(grep -c 'connected to runtime' "$PLUGIN_LOG" 2>/dev/null || true)
	"$REPO/bin/nri-bpftoken" -idx 10 -socket-path "$RUN_ROOT/nri.sock" -state-dir "$RUN_ROOT/state" \
		-log-level "${PLUGIN_LOG_LEVEL:-debug}" -log-file "$PLUGIN_LOG" "$@" 3>&- &
	echo $! >"$RUN_ROOT/nri-bpftoken.pid"
	wait_for_log "connected to runtime" $((before + 1))
	wait_for_log "synchronized with runtime" $((before + 1))
}

stop_plugin() {
	local pid
	pid=$(cat "$RUN_ROOT/nri-bpftoken.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -f "$RUN_ROOT/nri-bpftoken.pid"
}

# wait_for_log TEXT COUNT: until the plugin's log has COUNT lines with TEXT.
wait_for_log() {
	local i
	for i in $(seq 100); do
		[ "$(grep -c "$1" "$PLUGIN_LOG" 2>/dev/null || true)" -ge "$2" ] && return 0
		sleep 0.1
	done
	echo "plugin log never had $2 x '$1'" >&2
	return 1
}

# The checks both runtimes must pass alike; the plugin's suites call them
# with pod annotations, crio-hook.bats some of them with the container's.

# check_pod_wide NAME: every container of a pod with pod-wide annotations
# runs tokencount through its token.
check_pod_wide() {
	POD_NAME=$1
	pod=$(rt run_pod "$1" --userns "${TOKENCOUNT_ANN[@]}")
	run_to_exit "$pod" one --cap BPF -- tokencount -packets 5
	[ "$exit_code" = 0 ]
	[[ "$output" == *"loaded socket_filter via BPF token, counted 5 packets"* ]]
	run_to_exit "$pod" two --cap BPF -- tokencount -packets 6
	[ "$exit_code" = 0 ]
	[[ "$output" == *"counted 6 packets"* ]]
}

# check_per_container NAME: a pod's bpf.token/container.<name> keys override
# its pod-wide ones for that container, and "none" opts one out.
check_per_container() {
	POD_NAME=$1
	pod=$(rt run_pod "$1" --userns "${TOKENCOUNT_ANN[@]}" \
		--annotation 'bpf.token/container.hashes={"cmds": "map_create", "maps": ["hash"]}' \
		--annotation 'bpf.token/container.plain=none')
	run_to_exit "$pod" hashes --cap BPF "${PROBE[@]}" -- probe -probe /sys/fs/bpf
	[ "$exit_code" = 0 ]
	[ "$(verdict token)" = ok ]
	[ "$(verdict hash)" = ok ]
	[ "$(verdict array)" = EPERM ]
	[ "$(verdict socket_filter)" = EPERM ]
	run_to_exit "$pod" plain --cap BPF -- sh -c "grep -c ' - bpf ' /proc/self/mountinfo"
	[ "$output" = 0 ]
	run_to_exit "$pod" counts --cap BPF -- tokencount -packets 2
	[ "$exit_code" = 0 ]
	[[ "$output" == *"counted 2 packets"* ]]
}

# check_no_annotation NAME: a pod that asks for nothing gets no bpffs, and
# tokencount fails with EPERM.
check_no_annotation() {
	POD_NAME=$1
	pod=$(rt run_pod "$1" --userns)
	run_to_exit "$pod" c --cap BPF -- sh -c "grep -c ' - bpf ' /proc/self/mountinfo"
	[ "$output" = 0 ]
	run_to_exit "$pod" d --cap BPF -- tokencount
	[ "$exit_code" = 1 ]
	[[ "$output" == *EPERM* ]]
}

# check_policy_ceiling: a request above its rule is refused, naming the rule
# and the items; one within it gets what it asked and nothing more.
check_policy_ceiling() {
	pod=$(rt run_pod over --userns --namespace restricted --annotation bpf.token/cmds=map_create --annotation bpf.token/maps=array,hash)
	run rt create_container "$pod" over c "$IMAGE" --cap BPF -- true
	echo "$output"
	[ "$status" -ne 0 ]
	output=${output//\\\"/\"} # crictl's klog line escapes quotes
	[[ "$output" == *"pod restricted/over container c: denied by policy: rule \"restricted\" of policy $POLICY does not allow maps hash (allowed: array)"* ]]
	POD_NAME=within
	pod=$(rt run_pod within --userns --namespace restricted --annotation bpf.token/cmds=map_create --annotation bpf.token/maps=array)
	run_to_exit "$pod" c --cap BPF "${PROBE[@]}" -- probe -probe /sys/fs/bpf
	[ "$(verdict array)" = ok ]
	[ "$(verdict hash)" = EPERM ]
}

# check_forged_image_key: a pod that writes the runtimes' image keys into
# its annotations (CRI-O copies them into the container's) does not choose
# the image the policy sees: only the runtime's own key counts.
check_forged_image_key() {
	pod=$(rt run_pod forged --userns --namespace restricted \
		--annotation io.kubernetes.cri.image-name=registry.example.com/trusted:1 \
		--annotation io.kubernetes.cri-o.ImageName=registry.example.com/trusted:1 \
		--annotation bpf.token/cmds=map_create --annotation bpf.token/maps=array,hash)
	run rt create_container "$pod" forged c "$IMAGE" --cap BPF -- true
	echo "$output"
	[ "$status" -ne 0 ]
	output=${output//\\\"/\"}
	[[ "$output" == *"rule \"restricted\" of policy $POLICY does not allow maps hash (allowed: array)"* ]]
}

# check_learnt_at_synchronize NAME: a container created while the plugin
# was away, asking more than its rule allows, is refused when it starts: the
# plugin decides every start from the container and its pod, not from what
# it learnt at Synchronize.
check_learnt_at_synchronize() {
	local id
	stop_plugin
	pod=$(rt run_pod "$1" --userns --namespace restricted --annotation bpf.token/cmds=any \
		--annotation bpf.token/maps=any --annotation bpf.token/progs=any --annotation bpf.token/attachs=any)
	id=$(rt create_container "$pod" "$1" c "$IMAGE" --cap BPF -- sh -c 'echo the workload ran')
	start_plugin -policy "$POLICY"
	run rt start_container "$id"
	echo "start: $status: $output"
	# (logrus quotes the error: \" around the rule's name)
	grep 'container refused at start' "$PLUGIN_LOG" | grep -q "pod restricted/$1 container c: denied by policy: rule ..restricted"
	run rt crictl logs "$id"
	echo "logs: $output"
	[[ "$output" != *"the workload ran"* ]]
}

# check_pod_scope NAME: bpf.token/scope: pod gives the pod one bpffs: a map
# pinned by one container is read by another, and by a container started
# after the first ended and after the plugin restarted; another pod has none
# of it; removing the pod leaves no mount and no superblock anywhere.
check_pod_scope() {
	local id scope=(--annotation bpf.token/scope=pod --annotation bpf.token/cmds=map_create --annotation bpf.token/maps=array)
	POD_NAME=$1
	pod=$(rt run_pod "$1" --userns "${scope[@]}")
	run_to_exit "$pod" pinner --cap BPF "${PROBE[@]}" -- probe -pin /sys/fs/bpf counter 42
	[ "$exit_code" = 0 ]
	[[ "$output" == *pinned* ]]
	run_to_exit "$pod" reader --cap BPF "${PROBE[@]}" -- probe -get /sys/fs/bpf counter
	[ "$exit_code" = 0 ]
	[ "$output" = 42 ]
	# The pod's bpffs is on the host, root's only, while the pod exists.
	grep -q " $RUN_ROOT/state/pods/$pod .* - bpf " /proc/self/mountinfo
	# A container that pinned is killed, the plugin restarts, and the
	# container starts again as kubelet restarts one (a new container of the
	# same name): the map is still there, with its value.
	id=$(rt create_container "$pod" "$1" worker "$IMAGE" --cap BPF "${PROBE[@]}" -- \
		sh -c 'probe -pin /sys/fs/bpf worker 7 && exec sleep 600')
	rt start_container "$id"
	for _ in $(seq 50); do
		[[ "$(rt crictl logs "$id" 2>&1)" == *pinned* ]] && break
		sleep 0.1
	done
	rt crictl stop -t 0 "$id" >/dev/null
	rt crictl rm "$id" >/dev/null
	stop_plugin
	start_plugin -policy "$POLICY"
	run_to_exit "$pod" worker --cap BPF "${PROBE[@]}" -- sh -c 'probe -get /sys/fs/bpf worker && probe -get /sys/fs/bpf counter'
	[ "$exit_code" = 0 ]
	[ "$output" = "7
42" ]
	# Another pod, the same annotations: a bpffs of its own, without the pin.
	POD_NAME=$1-other
	other=$(rt run_pod "$1-other" --userns "${scope[@]}")
	run_to_exit "$other" reader --cap BPF "${PROBE[@]}" -- probe -get /sys/fs/bpf counter
	[ "$exit_code" = 1 ]
	[[ "$output" == *"no such file or directory"* ]]
	rt crictl stopp "$pod" "$other" >/dev/null
	rt crictl rmp "$pod" "$other" >/dev/null
	[ ! -e "$RUN_ROOT/state/pods/$pod" ]
	[ ! -e "$RUN_ROOT/state/pods/$other" ]
	[ -z "$(grep " $RUN_ROOT/state/" /proc/self/mountinfo)" ]
	# No process anywhere has a delegated bpffs left.
	local left pid
	left=$(grep -H ' - bpf .*delegate_' /proc/[0-9]*/mountinfo 2>/dev/null || true)
	for pid in $(cut -d/ -f3 <<<"$left" | sort -u); do
		echo "pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)) still has a delegated bpffs" >&2
	done
	[ -z "$left" ]
}

# check_removal_leaves_nothing NAME pod|container: a running container with
# a bpffs (annotations on the pod or on the container), then its pod
# removed: nothing is left on the host.
check_removal_leaves_nothing() {
	local pod_ann=() ctr_ann=() id pid
	if [ "$2" = pod ]; then pod_ann=("${TOKENCOUNT_ANN[@]}"); else ctr_ann=("${TOKENCOUNT_ANN[@]}"); fi
	pod=$(rt run_pod "$1" --userns "${pod_ann[@]}")
	id=$(rt create_container "$pod" "$1" c "$IMAGE" --cap BPF "${ctr_ann[@]}" -- sleep 600)
	rt start_container "$id"
	pid=$(rt container_pid "$id")
	grep -q ' /sys/fs/bpf .* - bpf ' "/proc/$pid/mountinfo"
	rt crictl stopp "$pod" >/dev/null
	rt crictl rmp "$pod" >/dev/null
	[ -z "$(rt crictl pods -q --id "$pod")" ]
	assert_host_clean
}
