#!/usr/bin/env bats
# bpftoken-probe (cmd/bpftoken-probe) inside real podman containers, mounted
# the way a user would copy it in: what it reports for several delegations
# (checked with jq on its -json output), and why there is no token when
# there is none.

bats_require_minimum_version 1.5.0

load podman_helpers

setup_file() { podman_setup_file; }
teardown_file() { podman_teardown_file; }
setup() { podman_setup; }
teardown() { podman_teardown; }

PROBE_MOUNT=(-v "$REPO/bin/bpftoken-probe:/usr/local/bin/bpftoken-probe:ro")

# probe PODMAN_RUN_OPTS... -- PROBE_ARGS...: runs the probe in a fresh
# container; its stdout goes to $output (podman's own chatter to $stderr).
probe() {
	local opts=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	shift
	run --separate-stderr tpodman run --rm "${opts[@]}" "${PROBE_MOUNT[@]}" "$IMAGE" bpftoken-probe "$@"
	echo "$output"
	echo "stderr: $stderr"
}

# j FILTER: the jq filter applied to the JSON in $output, compact.
j() {
	jq -c "$1" <<<"$output"
}

# has_warning TEXT: one of the warnings contains TEXT.
has_warning() {
	jq -e --arg t "$1" 'any(.warnings[]; contains($t))' <<<"$output" >/dev/null
}

@test "maps only: the token info lists map_create and the two map types, and the mount agrees" {
	probe "${USERNS[@]}" "${BPF_OPTS[@]}" \
		--annotation bpf.token/cmds=map_create --annotation bpf.token/maps=array:hash -- -json
	[ "$status" -eq 0 ]
	[ "$(j .token.ok)" = true ]
	[ "$(j .path)" = '"/sys/fs/bpf"' ]
	[ "$(j .path_source)" = '"mountinfo"' ]
	[ "$(j .info_source)" = '"token_info"' ]
	[ "$(j .cmds)" = '["map_create"]' ]
	[ "$(j .maps)" = '["hash","array"]' ]
	[ "$(j .progs)" = '[]' ]
	[ "$(j .attachs)" = '[]' ]
	[ "$(j .mount.maps)" = '["hash","array"]' ]
	[ "$(j .mount.matches_token)" = true ]
	[ "$(j .caps.CAP_BPF)" = true ]
	[ "$(j .seccomp.blocks_bpf)" = false ]
	[ "$(j .userns.initial)" = false ]
	[ "$(j .userns.uid_map)" = '"0 100000 65536"' ]
	[ "$(j .warnings)" = '[]' ]
}

@test "socket_filter with cgroup_inet_ingress: token info, probing and text output agree" {
	probe "${USERNS[@]}" "${BPF_OPTS[@]}" "${TOKENCOUNT_ANN[@]}" -- -json
	[ "$status" -eq 0 ]
	[ "$(j .info_source)" = '"token_info"' ]
	[ "$(j .cmds)" = '["map_create","prog_load"]' ]
	[ "$(j .maps)" = '["array"]' ]
	[ "$(j .progs)" = '["socket_filter"]' ]
	[ "$(j .attachs)" = '["cgroup_inet_ingress"]' ]
	[ "$(j .warnings)" = '[]' ]
	[ "$(j .probes)" = null ]

	# The same learnt by trying, as on kernels before 6.17: each type loads
	# or is refused for real, and the result matches the token info.
	probe "${USERNS[@]}" "${BPF_OPTS[@]}" "${TOKENCOUNT_ANN[@]}" -- -json -probe
	[ "$status" -eq 0 ]
	[ "$(j .info_source)" = '"probing"' ]
	[ "$(j .maps)" = '["array"]' ]
	[ "$(j .progs)" = '["socket_filter"]' ]
	[ "$(j .attachs)" = '["cgroup_inet_ingress"]' ]
	[ "$(j .cmds)" = '["map_create","prog_load"]' ]
	[ "$(j .probes.maps.array)" = '"ok"' ]
	[ "$(j .probes.maps.hash)" = '"EPERM"' ]
	[ "$(j .probes.progs.socket_filter)" = '"ok"' ]
	[ "$(j .probes.progs.xdp)" = '"EPERM"' ]
	[ "$(j .probes.attachs.cgroup_inet_ingress)" = '"ok"' ]
	[ "$(j .probes.attachs.xdp)" = '"EPERM"' ]
	[ "$(j .probes.cmds.btf_load)" = '"EPERM"' ]
	[ "$(j .probes.prog_pair)" = '"socket_filter/cgroup_inet_ingress"' ]
	[ "$(j .warnings)" = '[]' ]

	probe "${USERNS[@]}" "${BPF_OPTS[@]}" "${TOKENCOUNT_ANN[@]}" --
	[ "$status" -eq 0 ]
	[[ "$output" == *"token:    created"* ]]
	[[ "$output" == *"  maps:    array"* ]]
	[[ "$output" == *"  attachs: cgroup_inet_ingress"* ]]
	[[ "$output" != *"warnings:"* ]]
}

@test "progs=socket_filter without its attach type: listed, refused by the kernel, and warned about" {
	probe "${USERNS[@]}" "${BPF_OPTS[@]}" \
		--annotation bpf.token/cmds=prog_load --annotation bpf.token/progs=socket_filter -- -json -probe
	[ "$status" -eq 0 ]
	[ "$(j .mount.progs)" = '["socket_filter"]' ]
	[ "$(j .mount.attachs)" = '[]' ]
	# Nothing loads: every program and attach type is refused.
	[ "$(j .probes.progs.socket_filter)" = '"EPERM"' ]
	[ "$(j .probes.prog_pair)" = null ]
	[ "$(j .progs)" = '[]' ]
	[ "$(j .attachs)" = '[]' ]
	has_warning "lacks cgroup_inet_ingress (attach type 0)"
	[ "$(j '[.warnings[] | select(contains("lacks cgroup_inet_ingress"))] | length')" = 1 ]

	# Reading the token info says the same without trying.
	probe "${USERNS[@]}" "${BPF_OPTS[@]}" \
		--annotation bpf.token/cmds=prog_load --annotation bpf.token/progs=socket_filter -- -json
	[ "$status" -eq 0 ]
	[ "$(j .progs)" = '["socket_filter"]' ]
	[ "$(j .attachs)" = '[]' ]
	has_warning "lacks cgroup_inet_ingress (attach type 0)"
}

@test "maps=any: reported as any by the token and the mount, with a warning" {
	probe "${USERNS[@]}" "${BPF_OPTS[@]}" \
		--annotation bpf.token/cmds=map_create --annotation bpf.token/maps=any -- -json
	[ "$status" -eq 0 ]
	[ "$(j .maps)" = '["any"]' ]
	[ "$(j .mount.maps)" = '["any"]' ]
	[ "$(j .mount.matches_token)" = true ]
	has_warning "bpf.token/maps=any"
	[ "$(j '.warnings | length')" = 1 ]
}

@test "xdp without CAP_NET_ADMIN: warned about; with attach type xdp it needs no attach type 0" {
	probe "${USERNS[@]}" "${BPF_OPTS[@]}" \
		--annotation bpf.token/cmds=prog_load --annotation bpf.token/progs=xdp --annotation bpf.token/attachs=xdp -- -json
	[ "$status" -eq 0 ]
	[ "$(j .progs)" = '["xdp"]' ]
	[ "$(j .attachs)" = '["xdp"]' ]
	[ "$(j .caps.CAP_NET_ADMIN)" = false ]
	has_warning "lacks CAP_NET_ADMIN"
	# XDP programs are loaded with attach type xdp (workloads.bats runs one
	# with exactly this delegation).
	[ "$(j '[.warnings[] | select(contains("cgroup_inet_ingress"))] | length')" = 0 ]
}

@test "bpf.token/path=/run/bpf: found by the mount scan, with the libbpf hint; LIBBPF_BPF_TOKEN_PATH and -path work too" {
	probe "${USERNS[@]}" "${BPF_OPTS[@]}" "${TOKENCOUNT_ANN[@]}" --annotation bpf.token/path=/run/bpf -- -json
	[ "$status" -eq 0 ]
	[ "$(j .path)" = '"/run/bpf"' ]
	[ "$(j .path_source)" = '"mountinfo"' ]
	[ "$(j .token.ok)" = true ]
	[ "$(j .progs)" = '["socket_filter"]' ]
	has_warning "LIBBPF_BPF_TOKEN_PATH=/run/bpf"

	probe "${USERNS[@]}" "${BPF_OPTS[@]}" "${TOKENCOUNT_ANN[@]}" --annotation bpf.token/path=/run/bpf \
		-e LIBBPF_BPF_TOKEN_PATH=/run/bpf -- -json
	[ "$status" -eq 0 ]
	[ "$(j .path_source)" = '"LIBBPF_BPF_TOKEN_PATH"' ]
	[ "$(j .token.ok)" = true ]
	[ "$(j .warnings)" = '[]' ]

	probe "${USERNS[@]}" "${BPF_OPTS[@]}" "${TOKENCOUNT_ANN[@]}" --annotation bpf.token/path=/run/bpf -- -json -path /run/bpf
	[ "$status" -eq 0 ]
	[ "$(j .path_source)" = '"flag"' ]
	[ "$(j .maps)" = '["array"]' ]

	# The wrong path: /sys/fs/bpf is an empty sysfs directory here.
	probe "${USERNS[@]}" "${BPF_OPTS[@]}" "${TOKENCOUNT_ANN[@]}" --annotation bpf.token/path=/run/bpf -- -json -path /sys/fs/bpf
	[ "$status" -eq 1 ]
	[ "$(j .token.errno)" = '"EINVAL"' ]
	[[ "$(j .token.error)" == *"not a bpffs"* ]]
}

@test "no delegation: exit 1, no bpffs found, and the fix" {
	probe "${USERNS[@]}" "${BPF_OPTS[@]}" -- -json
	[ "$status" -eq 1 ]
	[ "$(j .token.ok)" = false ]
	[ "$(j .path)" = '""' ]
	[ "$(j .attempts)" = '[]' ]
	[ "$(j .cmds)" = '[]' ]
	[ "$(j .mount)" = null ]
	[[ "$(j .token.error)" == *"no bpffs is mounted here"*"bpf.token/"* ]]

	probe "${USERNS[@]}" "${BPF_OPTS[@]}" --
	[ "$status" -eq 1 ]
	[[ "$output" == *"token:    NOT created: no bpffs is mounted here"* ]]
}

@test "missing CAP_BPF: EPERM explained, the capability reported, the mount still shown" {
	probe "${USERNS[@]}" --security-opt "seccomp=$REPO/examples/seccomp/bpf.json" \
		--annotation bpf.token/cmds=map_create --annotation bpf.token/maps=array -- -json
	[ "$status" -eq 1 ]
	[ "$(j .token.ok)" = false ]
	[ "$(j .token.errno)" = '"EPERM"' ]
	[[ "$(j .token.error)" == *"lacks CAP_BPF"*"--cap-add BPF"* ]]
	[ "$(j .caps.CAP_BPF)" = false ]
	[ "$(j .seccomp.blocks_bpf)" = false ]
	[ "$(j .mount.maps)" = '["array"]' ]
	[ "$(j .maps)" = '[]' ]
	has_warning "container lacks CAP_BPF"
}

@test "podman's default seccomp profile: seccomp blocks bpf() reported" {
	probe "${USERNS[@]}" --cap-add BPF \
		--annotation bpf.token/cmds=map_create --annotation bpf.token/maps=array -- -json
	[ "$status" -eq 1 ]
	[ "$(j .seccomp.mode)" = '"filter"' ]
	[ "$(j .seccomp.blocks_bpf)" = true ]
	[ "$(j .seccomp.bpf_errno)" = '"EPERM"' ]
	[ "$(j .caps.CAP_BPF)" = true ]
	[ "$(j .token.errno)" = '"EPERM"' ]
	[[ "$(j .token.error)" == *"seccomp blocks bpf()"*"--security-opt seccomp="* ]]

	probe "${USERNS[@]}" --cap-add BPF \
		--annotation bpf.token/cmds=map_create --annotation bpf.token/maps=array --
	[ "$status" -eq 1 ]
	[[ "$output" == *"seccomp:  filter; blocks bpf() (an invalid command got EPERM)"* ]]
}

@test "usage errors exit 2; --version names the build" {
	probe "${USERNS[@]}" -- -no-such-flag
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"flag provided but not defined: -no-such-flag"* ]]
	probe "${USERNS[@]}" -- --version
	[ "$status" -eq 0 ]
	[[ "$output" == "bpftoken-probe "* ]]
}
