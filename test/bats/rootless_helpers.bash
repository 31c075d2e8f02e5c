# Shared setup for the rootless suite: two real unprivileged users with
# subordinate id ranges, each running its own rootless podman (runuser, no
# login session), the hook from bin/ in a private hooks.d, and bpftokend
# from bin/, started by hand (no systemd here) with the capabilities its
# systemd unit leaves it, on a socket and a policy of the suite's own.

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
RL_USERS=(bpftoken-rl1 bpftoken-rl2)
# Everything the users run or read: the repository may not be theirs to read.
RL_DIR=/tmp/bpftoken-rootless-test
# What a BPF workload needs besides the token, as in podman_helpers.bash.
RL_BPF_OPTS=(--cap-add BPF --security-opt "seccomp=$RL_DIR/bpf.json")

# rl_setup_file makes the users, RL_DIR, their podman config and image, and
# starts the service.
rl_setup_file() {
	rm -rf "$RL_DIR"
	mkdir -p "$RL_DIR/hooks.d" "$RL_DIR/images"
	chmod 0755 "$RL_DIR"
	local u uid
	for u in "${RL_USERS[@]}"; do
		id "$u" >/dev/null 2>&1 || useradd -m -s /bin/sh "$u"
		rl_subids "$u"
		uid=$(id -u "$u")
		mkdir -p "/run/user/$uid"
		chown "$u:$u" "/run/user/$uid"
		chmod 0700 "/run/user/$uid"
	done
	export RL_HOOK_LOG="$RL_DIR/hook.log"
	install -m 0755 "$REPO/bin/oci-hook" "$RL_DIR/oci-hook"
	touch "$RL_HOOK_LOG"
	chmod 0666 "$RL_HOOK_LOG"
	# The hooks.d JSON users install, pointing at the binary under test and
	# the suite's socket.
	sed -e "s|/usr/libexec/oci/hooks.d/bpftoken-oci-hook|$RL_DIR/oci-hook|" \
		-e "s|\"--log-level\", \"warning\"|\"--log-level\", \"debug\", \"--log-file\", \"$RL_HOOK_LOG\", \"--service\", \"$RL_DIR/bpftokend.sock\"|" \
		"$REPO/examples/hooks.d/bpftoken.json" >"$RL_DIR/hooks.d/bpftoken.json"
	cat >"$RL_DIR/containers.conf" <<-'EOF'
		# Rootless podman on these VMs: runc (crun refuses hybrid cgroups),
		# no systemd, no network but lo.
		[containers]
		netns = "none"
		[engine]
		runtime = "runc"
		cgroup_manager = "cgroupfs"
		events_logger = "file"
	EOF
	cp "$REPO/examples/seccomp/bpf.json" "$RL_DIR/bpf.json"
	chmod -R a+rX "$RL_DIR"
	cp "$REPO/bin/images/bpftoken-workload.tar" "$RL_DIR/images/"
	chmod 0644 "$RL_DIR/images/bpftoken-workload.tar"
	RL_IMAGE=$(rl_image_name)
	export RL_IMAGE
	for u in "${RL_USERS[@]}"; do
		rl_podman "$u" load -q -i "$RL_DIR/images/bpftoken-workload.tar" >/dev/null
	done
	# A rootful podman of its own (test/podman/env.sh), for root's containers.
	rl_rootful load -q -i "$RL_DIR/images/bpftoken-workload.tar" >/dev/null
	rl_write_policy
	rl_start_service
}

# rl_rootful ARGS...: an isolated rootful podman (test/podman/env.sh) with
# its storage under RL_DIR and no hooks.
rl_rootful() {
	(
		TPODMAN_HOOKS_DIR="$RL_DIR/rootful/hooks.d"
		# shellcheck source=../podman/env.sh
		. "$REPO/test/podman/env.sh" "$RL_DIR/rootful"
		tpodman "$@"
	)
}

rl_teardown_file() {
	local u
	rl_stop_service
	rl_rootful rm -af -t 0 >/dev/null 2>&1 || true
	rl_rootful system reset -f >/dev/null 2>&1 || true
	grep -F " $RL_DIR/" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	for u in "${RL_USERS[@]}"; do
		rl_podman "$u" rm -af -t 0 >/dev/null 2>&1 || true
		rl_podman "$u" system reset -f >/dev/null 2>&1 || true
		pkill -u "$u" >/dev/null 2>&1 || true
	done
	rm -rf "$RL_DIR"
}

# rl_subids USER gives USER 65536 subordinate uids and gids unless it has
# some: useradd on Debian 12 allocates them, an older user may lack them.
rl_subids() {
	local u=$1 f start
	for f in /etc/subuid /etc/subgid; do
		touch "$f"
		grep -q "^$u:" "$f" && continue
		# After the highest range below the containers user's (which
		# podman --userns=auto uses, at 2^31).
		start=$(awk -F: '$2 < 2147483647 && $2 + $3 > m { m = $2 + $3 } END { print (m < 100000 ? 100000 : m) }' "$f")
		echo "$u:$start:65536" >>"$f"
	done
}

# rl_image_name reads the workload image's name from its archive.
rl_image_name() {
	tar -xOf "$RL_DIR/images/bpftoken-workload.tar" manifest.json | jq -r '.[0].RepoTags[0]'
}

# rl_as USER CMD...: CMD as USER, with the environment of a login that
# rootless podman needs.
rl_as() {
	local u=$1 uid home
	shift
	uid=$(id -u "$u")
	home=$(getent passwd "$u" | cut -d: -f6)
	(cd / && runuser -u "$u" -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$home" USER="$u" \
		XDG_RUNTIME_DIR="/run/user/$uid" CONTAINERS_CONF="$RL_DIR/containers.conf" "$@")
}

# rl_podman USER ARGS...: USER's rootless podman, with the suite's hooks.d.
rl_podman() {
	local u=$1
	shift
	rl_as "$u" podman --hooks-dir "$RL_DIR/hooks.d" "$@"
}

# rl_write_policy [YAML]: the suite's policy (default: rl1 may have the
# socket-filter profile at /sys/fs/bpf or /run/bpf; rl2 has no rule).
rl_write_policy() {
	if [ $# -gt 0 ]; then
		printf '%s\n' "$1" >"$RL_DIR/policy.yaml"
		return
	fi
	cat >"$RL_DIR/policy.yaml" <<-EOF
		rules:
		  - name: rl1
		    match: {users: [${RL_USERS[0]}]}
		    allow:
		      profiles: [socket-filter]
		      paths: [/sys/fs/bpf, /run/bpf]
		  - name: rootful-podman
		    allow:
		      cmds: any
		      maps: any
		      progs: any
		      attachs: any
		      any: true
	EOF
}

# The capabilities examples/systemd/bpftokend.service leaves the service:
# running it with exactly these proves the unit's list is enough.
rl_unit_caps() {
	sed -n 's/^CapabilityBoundingSet=//p' "$REPO/examples/systemd/bpftokend.service" |
		tr ' ' '\n' | sed 's/^CAP_//' | tr 'A-Z' 'a-z' | sed 's/^/+/' | paste -sd, -
}

rl_start_service() {
	export RL_SERVICE_LOG="$RL_DIR/bpftokend.log"
	# Its own output closed: bats waits for whatever holds its fds.
	setpriv --bounding-set "-all,$(rl_unit_caps)" --inh-caps=-all --no-new-privs -- \
		"$REPO/bin/bpftokend" --listen "$RL_DIR/bpftokend.sock" --policy "$RL_DIR/policy.yaml" \
		--log-level debug --log-file "$RL_SERVICE_LOG" </dev/null >/dev/null 2>&1 3>&- &
	RL_SERVICE_PID=$!
	# Tests restart it: teardown_file, in another process, reads the pid here.
	echo "$RL_SERVICE_PID" >"$RL_DIR/bpftokend.pid"
	export RL_SERVICE_PID
	local _
	for _ in $(seq 100); do
		[ -S "$RL_DIR/bpftokend.sock" ] && return 0
		sleep 0.05
	done
	echo "bpftokend did not start:" >&2
	cat "$RL_SERVICE_LOG" >&2
	return 1
}

# rl_stop_service [SIGNAL]
rl_stop_service() {
	local pid
	pid=$(cat "$RL_DIR/bpftokend.pid" 2>/dev/null) || return 0
	kill "-${1:-TERM}" "$pid" 2>/dev/null || true
	# Not always this shell's child: wait by polling.
	while kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid")" != Z ]; do sleep 0.05; done
	wait "$pid" 2>/dev/null || true
	rm -f "$RL_DIR/bpftokend.pid"
	RL_SERVICE_PID=
}

# rl_service_fds: how many fds the service holds.
rl_service_fds() {
	ls "/proc/$RL_SERVICE_PID/fd" | wc -l
}

# rl_ctr_pid USER NAME: the host pid of USER's container NAME.
rl_ctr_pid() {
	rl_podman "$1" inspect -f '{{.State.Pid}}' "$2"
}
