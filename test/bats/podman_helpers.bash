# Shared setup for the podman bats suite: an isolated podman (test/podman),
# the hook from bin/ installed in a private hooks.d, and the local test image.

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
IMAGE=localhost/bpftoken-test:latest
USERNS=(--uidmap 0:100000:65536 --gidmap 0:100000:65536)
# What a BPF workload needs besides the token: CAP_BPF, and a seccomp profile
# that lets bpf() through (podman's default allows it only with SYS_ADMIN).
BPF_OPTS=(--cap-add BPF --security-opt "seccomp=$REPO/examples/seccomp/bpf.json")
# The delegation tokencount needs (cilium/ebpf loading a socket filter).
TOKENCOUNT_ANN=(
	--annotation bpf.token/cmds=map_create:prog_load
	--annotation bpf.token/maps=array
	--annotation bpf.token/progs=socket_filter
	--annotation bpf.token/attachs=cgroup_inet_ingress
)

podman_setup_file() {
	export PODMAN_BASE="$BATS_FILE_TMPDIR/podman"
	mkdir -p "$PODMAN_BASE/hooks.d"
	export HOOK_LOG="$PODMAN_BASE/hook.log"
	# The hooks.d JSON users install, pointing at the binary under test.
	sed -e "s|/usr/libexec/oci/hooks.d/bpftoken-oci-hook|$REPO/bin/oci-hook|" \
		-e "s|\"--log-level\", \"warning\"|\"--log-level\", \"debug\", \"--log-file\", \"$HOOK_LOG\"|" \
		"$REPO/examples/hooks.d/bpftoken.json" >"$PODMAN_BASE/hooks.d/bpftoken.json"
	export TPODMAN_HOOKS_DIR="$PODMAN_BASE/hooks.d"
	# shellcheck source=../podman/env.sh
	. "$REPO/test/podman/env.sh" "$PODMAN_BASE"
	"$REPO/test/images/build-image.sh" --tokencount "$REPO/bin/tokencount" --bpfworkload "$REPO/bin/bpfworkload" --core-obj "$REPO/bin/core.bpf.o" --podman --base "$PODMAN_BASE" >/dev/null
}

podman_teardown_file() {
	# shellcheck source=../podman/env.sh
	. "$REPO/test/podman/env.sh" "$PODMAN_BASE"
	tpodman rm -af -t 0 >/dev/null 2>&1 || true
	tpodman system reset -f >/dev/null 2>&1 || true
	# Overlay mounts podman could not drop would keep the directory busy.
	grep -F " $PODMAN_BASE/" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	rm -rf "$PODMAN_BASE"
}

podman_setup() {
	# shellcheck source=../podman/env.sh
	. "$REPO/test/podman/env.sh" "$PODMAN_BASE"
	HOST_BPF_BEFORE=$(host_bpf_mounts)
}

# After every test: the container is gone, and the host shows no bpffs more
# than before and no namespace helper.
podman_teardown() {
	remove_all_containers
	assert_host_clean
}

# podman 4.3 here sometimes fails to remove a container that just exited
# ("userdata/shm: device or resource busy"); a later attempt succeeds.
remove_all_containers() {
	for _ in 1 2 3 4 5; do
		tpodman rm -af -t 0 >/dev/null 2>&1 || true
		[ -z "$(tpodman ps -aq)" ] && return 0
		sleep 1
	done
}

host_bpf_mounts() {
	grep -c ' - bpf ' /proc/self/mountinfo || true
}

assert_host_clean() {
	local now
	now=$(host_bpf_mounts)
	if [ "$now" != "$HOST_BPF_BEFORE" ]; then
		echo "host has $now bpffs mounts, had $HOST_BPF_BEFORE:" >&2
		grep ' - bpf ' /proc/self/mountinfo >&2
		return 1
	fi
	if pgrep -x bpftoken-helper >/dev/null; then
		echo "namespace helper processes left: $(pgrep -a -x bpftoken-helper)" >&2
		return 1
	fi
	if [ -n "$(tpodman ps -aq)" ]; then
		echo "containers left: $(tpodman ps -a)" >&2
		return 1
	fi
}

# run_probe OPTS... -- DIR: the probe (test/standin) inside a container; its
# JSON verdicts go to $output.
probe_args=(-v "$REPO/bin/standin:/usr/local/bin/probe:ro")

# verdict KEY: one probe verdict from the JSON in $output.
verdict() {
	jq -r --arg k "$1" '.[$k] // "missing"' <<<"$output"
}

# build_annotated_image NAME ANNOTATION...: an image FROM the test image
# whose manifest carries the annotations (KEY=VALUE each), as an image
# author writes them: podman < 4.6 copies them into its containers.
build_annotated_image() {
	local name=$1 ctx="$BATS_TEST_TMPDIR/ctx" a args=()
	shift
	for a in "$@"; do args+=(--annotation "$a"); done
	mkdir -p "$ctx"
	echo "FROM $IMAGE" >"$ctx/Containerfile"
	tpodman build -q "${args[@]}" -t "$name" "$ctx" >/dev/null
}
