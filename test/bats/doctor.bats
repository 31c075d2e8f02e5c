#!/usr/bin/env bats
# The doctor subcommand of both binaries on this machine (as root, Linux >=
# 6.9 with BTF, no lockdown, no hook installed in the system's hooks.d).

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
HOOK=$REPO/bin/oci-hook
PLUGIN=$REPO/bin/nri-bpftoken
STANDIN_ARG=__bpftoken-doctor-standin

setup_file() {
	[ -x "$HOOK" ] && [ -x "$PLUGIN" ] || {
		echo "build first: make build" >&2
		return 1
	}
}

setup() {
	MOUNTS_BEFORE=$(cat /proc/self/mountinfo)
	TMP_BEFORE=$(tmp_leftovers)
	HOOKS_DIR="$BATS_TEST_TMPDIR/hooks.d"
	mkdir -p "$HOOKS_DIR"
	LISTENER_PID=
}

teardown() {
	if [ -n "$LISTENER_PID" ]; then
		kill "$LISTENER_PID" 2>/dev/null || true
		wait "$LISTENER_PID" 2>/dev/null || true
	fi
	# The token check leaves nothing behind: no stand-in, no mount, no
	# temporary rootfs.
	local pids=() f
	for f in /proc/[0-9]*/cmdline; do
		if grep -qsF -- "$STANDIN_ARG" "$f"; then
			pids+=("${f//[^0-9]/}")
		fi
	done
	[ "${#pids[@]}" -eq 0 ] || {
		echo "stand-in processes left: ${pids[*]}" >&2
		return 1
	}
	[ "$(cat /proc/self/mountinfo)" = "$MOUNTS_BEFORE" ] || {
		echo "the mount table changed" >&2
		return 1
	}
	[ "$(tmp_leftovers)" = "$TMP_BEFORE" ] || {
		echo "temporary rootfs left: $(tmp_leftovers)" >&2
		return 1
	}
}

tmp_leftovers() {
	find "${TMPDIR:-/tmp}" /tmp -maxdepth 1 -name 'bpftoken-doctor-*' 2>/dev/null | sort -u
}

# verdict NAME: the verdict of check NAME in the JSON in $output.
verdict() {
	jq -r --arg n "$1" '.[] | select(.name == $n) | .verdict' <<<"$output"
}

field() {
	jq -r --arg n "$1" --arg f "$2" '.[] | select(.name == $n) | .[$f]' <<<"$output"
}

# hook_json PATH: examples/hooks.d/bpftoken.json with hook.path set to PATH.
hook_json() {
	sed "s|/usr/libexec/oci/hooks.d/bpftoken-oci-hook|$1|" "$REPO/examples/hooks.d/bpftoken.json"
}

# listen_unix PATH: something that accepts connections on a unix socket.
listen_unix() {
	if command -v python3 >/dev/null; then
		python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen()
time.sleep(60)' "$1" 3>&- &
	else
		perl -MIO::Socket::UNIX -e '$s = IO::Socket::UNIX->new(Local => $ARGV[0], Listen => 5) or die $!; sleep 60' "$1" 3>&- &
	fi
	LISTENER_PID=$!
	local i
	for i in $(seq 50); do
		[ -S "$1" ] && return 0
		sleep 0.1
	done
	echo "no listener on $1" >&2
	return 1
}

@test "hook doctor: one line per check, the node can work, exit 0" {
	run "$HOOK" doctor
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 8 ] # seven checks and the summary
	[[ "${lines[0]}" == "ok    kernel    Linux "* ]]
	[[ "${lines[1]}" == "ok    tokens    a stand-in container"*"created a BPF token and an array map"* ]]
	[[ "${lines[2]}" == "ok    btf "* ]]
	[[ "${lines[3]}" == "ok    lockdown "* ]]
	[[ "${lines[4]}" == "ok    userns "* ]]
	[[ "${lines[5]}" == "warn  hooks.d   no hooks.d JSON"*"=> fix: install the hook: \`sudo make install\`"* ]]
	[[ "${lines[6]}" == "warn  policy    no policy at /etc/nri-bpftoken/policy.yaml: podman containers get what the admin's annotations ask"*"containers from CRI-O or any other runtime are refused"* ]]
	[[ "${lines[7]}" == "this node can give containers BPF tokens; 2 warning(s)" ]]
}

@test "hook doctor --json: the verdicts on this machine" {
	run "$HOOK" doctor --json
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.[].name] | join(",")' <<<"$output")" = "kernel,tokens,btf,lockdown,userns,hooks.d,policy" ]
	[ "$(jq -r '[.[] | keys | join(",")] | unique | join(" ")' <<<"$output")" = "detail,fix,name,verdict" ]
	[ "$(verdict kernel)" = ok ]
	[ "$(verdict tokens)" = ok ]
	[ "$(verdict btf)" = ok ]
	[ "$(verdict lockdown)" = ok ]
	[ "$(verdict userns)" = ok ]
	# Not installed in /usr/share or /etc/containers/oci/hooks.d here.
	[ "$(verdict hooks.d)" = warn ]
	[[ "$(field hooks.d fix)" == *"make install"* ]]
	[ "$(jq -r '[.[] | select(.verdict == "ok") | .fix] | unique | join("")' <<<"$output")" = "" ]
}

@test "hook doctor --hooks-dir: a JSON pointing at this binary is ok" {
	hook_json "$HOOK" >"$HOOKS_DIR/bpftoken.json"
	run "$HOOK" doctor --json --hooks-dir "$HOOKS_DIR"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(verdict hooks.d)" = ok ]
	[[ "$(field hooks.d detail)" == *"$HOOKS_DIR/bpftoken.json"* ]]
	[ "$(field hooks.d fix)" = "" ]

	# Through a symlink, and among other directories.
	ln -s "$HOOK" "$BATS_TEST_TMPDIR/hook-link"
	mkdir "$BATS_TEST_TMPDIR/other.d"
	hook_json "$BATS_TEST_TMPDIR/hook-link" >"$BATS_TEST_TMPDIR/other.d/bpftoken.json"
	rm "$HOOKS_DIR/bpftoken.json"
	run "$HOOK" doctor --json --hooks-dir "$HOOKS_DIR" --hooks-dir "$BATS_TEST_TMPDIR/other.d"
	echo "$output"
	[ "$(verdict hooks.d)" = ok ]
}

@test "hook doctor --hooks-dir: a JSON pointing elsewhere, or at the wrong stage, is a warning" {
	# A copy of the hook is another binary (another inode).
	cp "$HOOK" "$BATS_TEST_TMPDIR/bpftoken-oci-hook"
	hook_json "$BATS_TEST_TMPDIR/bpftoken-oci-hook" >"$HOOKS_DIR/bpftoken.json"
	run "$HOOK" doctor --json --hooks-dir "$HOOKS_DIR"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(verdict hooks.d)" = warn ]
	[[ "$(field hooks.d detail)" == *"points at another binary"* ]]
	[[ "$(field hooks.d fix)" == *"make install"* ]]

	hook_json "$HOOK" | sed 's/createRuntime/prestart/' >"$HOOKS_DIR/bpftoken.json"
	run "$HOOK" doctor --hooks-dir "$HOOKS_DIR"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[5]}" == "warn  hooks.d "*'lack "createRuntime"'*"=> fix: edit $HOOKS_DIR/bpftoken.json"* ]]

	echo '{"version": "1.0.0", "hook": {' >"$HOOKS_DIR/bpftoken.json"
	run "$HOOK" doctor --json --hooks-dir "$HOOKS_DIR"
	[ "$(verdict hooks.d)" = warn ]
	[[ "$(field hooks.d detail)" == *"bpftoken.json: not valid JSON"* ]]
}

@test "plugin doctor: no NRI socket is a failure with the fix, exit 1" {
	run "$PLUGIN" doctor -socket-path /nonexistent
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "${lines[5]}" == "fail  nri       connect to /nonexistent: no such file or directory: no runtime with NRI enabled is listening there  => fix: "*"examples/nri/containerd-config.toml"* ]]
	[[ "${lines[6]}" == "this node cannot give containers BPF tokens: 1 check(s) failed" ]]

	run "$PLUGIN" doctor --json -socket-path /nonexistent
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$(jq -r '[.[].name] | join(",")' <<<"$output")" = "kernel,tokens,btf,lockdown,userns,nri" ]
	[ "$(verdict tokens)" = ok ]
	[ "$(verdict nri)" = fail ]
	[[ "$(field nri fix)" == *"examples/nri/containerd-config.toml"* ]]
}

@test "plugin doctor: a socket something listens on is ok, exit 0" {
	sock="$BATS_TEST_TMPDIR/nri.sock"
	listen_unix "$sock"
	run "$PLUGIN" doctor --json -socket-path "$sock"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(verdict nri)" = ok ]
	[ "$(verdict tokens)" = ok ]
	[[ "$(field nri detail)" == *"$sock"* ]]

	run "$PLUGIN" doctor -socket-path "$sock"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[5]}" == "ok    nri       a runtime accepts NRI connections on $sock" ]]
	[[ "${lines[6]}" == "this node can give containers BPF tokens" ]]
}

@test "doctor: usage errors exit 2, --help exits 0, each binary's --help mentions doctor" {
	run "$HOOK" doctor --bogus
	[ "$status" -eq 2 ]
	run "$HOOK" doctor extra
	[ "$status" -eq 2 ]
	[[ "$output" == *'unexpected argument "extra"'* ]]
	run "$HOOK" doctor -socket-path /x
	[ "$status" -eq 2 ]
	[[ "$output" == *"not defined: -socket-path"* ]]
	run "$PLUGIN" doctor --hooks-dir /x
	[ "$status" -eq 2 ]
	[[ "$output" == *"not defined: -hooks-dir"* ]]
	run "$HOOK" doctor --hooks-dir ""
	[ "$status" -eq 2 ]
	[[ "$output" == *"empty directory"* ]]
	run "$PLUGIN" doctor -socket-path
	[ "$status" -eq 2 ]
	[[ "$output" == *"flag needs an argument"* ]]

	run "$HOOK" doctor --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--hooks-dir"* ]]
	run "$PLUGIN" doctor -help
	[ "$status" -eq 0 ]
	[[ "$output" == *"-socket-path"* ]]

	run "$HOOK" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"bpftoken-oci-hook doctor [--json]"* ]]
	run "$PLUGIN" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"nri-bpftoken doctor [--json]"* ]]
}

@test "doctor: the hook without doctor still behaves as a hook" {
	# No annotation in the state: exit 0 at once, as before.
	run "$HOOK" <<<'{"ociVersion":"1.2.0","id":"x","status":"creating","pid":1,"bundle":"/nonexistent","annotations":{"a":"b"}}'
	echo "$output"
	[ "$status" -eq 0 ]
	run "$HOOK" --version
	[ "$status" -eq 0 ]
	[[ "$output" == "bpftoken-oci-hook "* ]]
}
