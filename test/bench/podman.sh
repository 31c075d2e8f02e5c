#!/usr/bin/env bash
# podman run of the same container with and without delegation, interleaved,
# on an isolated podman (test/podman/env.sh). Goal: at most 5% slower.
#   test/bench/podman.sh [N]
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-20}
base=$(mktemp -d /tmp/bpftoken-bench-podman.XXXXXX)
mkdir -p "$base/hooks.d"
sed "s|/usr/libexec/oci/hooks.d/bpftoken-oci-hook|$repo/bin/oci-hook|" "$repo/examples/hooks.d/bpftoken.json" >"$base/hooks.d/bpftoken.json"
export TPODMAN_HOOKS_DIR="$base/hooks.d"
# shellcheck source=../podman/env.sh
. "$repo/test/podman/env.sh" "$base"
cleanup() {
	tpodman rm -af -t 0 >/dev/null 2>&1 || true
	tpodman system reset -f >/dev/null 2>&1 || true
	rm -rf "$base"
}
trap cleanup EXIT
"$repo/test/images/build-image.sh" --tokencount "$repo/bin/tokencount" --bpfworkload "$repo/bin/bpfworkload" --podman --base "$base" >/dev/null

run=(tpodman run --rm --uidmap 0:100000:65536 --gidmap 0:100000:65536 --cap-add BPF
	--security-opt "seccomp=$repo/examples/seccomp/bpf.json")
ann=(--annotation bpf.token/cmds=map_create:prog_load --annotation bpf.token/maps=array
	--annotation bpf.token/progs=socket_filter --annotation bpf.token/attachs=cgroup_inet_ingress)
ms() { echo $(($(date +%s%N) / 1000)); }
"${run[@]}" localhost/bpftoken-test:latest true # warm up
with=() without=()
for _ in $(seq "$n"); do
	t=$(ms); "${run[@]}" "${ann[@]}" localhost/bpftoken-test:latest true; with+=($(($(ms) - t)))
	t=$(ms); "${run[@]}" localhost/bpftoken-test:latest true; without+=($(($(ms) - t)))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mw=$(median "${with[@]}")
mo=$(median "${without[@]}")
echo "podman run --rm ... true, $n runs each (interleaved), median wall time"
awk -v w="$mw" -v o="$mo" 'BEGIN {
	printf "  %-24s %8.1f ms\n  %-24s %8.1f ms\n", "without delegation", o / 1000, "with delegation", w / 1000
	printf "  with/without: %+.1f%% (goal <= +5%%)\n", (w - o) * 100 / o
}'
