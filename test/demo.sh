#!/usr/bin/env bash
# make demo: the hook on a real podman, from one command on a fresh Debian 12.
# Installs what is missing, builds, makes a local image (busybox-static plus
# examples/tokencount; no registry), and runs the workload with and without
# delegation. Uses its own podman storage and containers.conf, so it neither
# needs nor changes the machine's podman setup; removes all of it at the end.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

if [ "$(id -u)" != 0 ]; then
	echo "demo: run as root (the hook mounts into containers' namespaces): sudo make demo" >&2
	exit 1
fi
test/podman/install-deps.sh >/dev/null
[ -x bin/oci-hook ] && [ -x bin/tokencount ] || make build >/dev/null

base=$(mktemp -d /tmp/bpftoken-demo.XXXXXX)
mkdir -p "$base/hooks.d"
sed "s|/usr/libexec/oci/hooks.d/bpftoken-oci-hook|$repo/bin/oci-hook|" examples/hooks.d/bpftoken.json >"$base/hooks.d/bpftoken.json"
export TPODMAN_HOOKS_DIR="$base/hooks.d"
# shellcheck source=podman/env.sh
. test/podman/env.sh "$base"
cleanup() {
	tpodman rm -af -t 0 >/dev/null 2>&1 || true
	tpodman system reset -f >/dev/null 2>&1 || true
	rm -rf "$base"
}
trap cleanup EXIT
test/images/build-image.sh --tokencount bin/tokencount --bpfworkload bin/bpfworkload --podman --base "$base" >/dev/null

run=(tpodman run --rm --uidmap 0:100000:65536 --gidmap 0:100000:65536
	--cap-add BPF --security-opt seccomp=examples/seccomp/bpf.json)
ann=(--annotation bpf.token/cmds=map_create:prog_load
	--annotation bpf.token/maps=array
	--annotation bpf.token/progs=socket_filter
	--annotation bpf.token/attachs=cgroup_inet_ingress)

echo "== with delegation: podman run ${ann[*]} ... tokencount"
if out=$("${run[@]}" "${ann[@]}" localhost/bpftoken-test:latest tokencount 2>&1); then
	echo "$out"
	echo "   -> the program loaded and ran through the BPF token"
else
	echo "$out"
	echo "demo: FAILED: the delegated container could not load its program" >&2
	exit 1
fi
echo
echo "== without delegation: podman run ... tokencount"
if out=$("${run[@]}" localhost/bpftoken-test:latest tokencount 2>&1); then
	echo "$out"
	echo "demo: FAILED: the container loaded a program without delegation" >&2
	exit 1
else
	echo "$out"
	echo "   -> refused by the kernel, as it should be"
fi
