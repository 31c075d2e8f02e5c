#!/usr/bin/env bash
# On a private containerd with the plugin (test/containerd/lib.bash):
# - a user-namespace pod started (runp + create + start) with and without
#   delegation, interleaved;
# - the plugin's resident size idle, and after 100 annotated containers
#   created, started and removed one after another (goal: under 25 MiB, flat).
#   test/bench/containerd.sh [N] [CONTAINERS]
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-20}
many=${2:-100}
# shellcheck source=../containerd/lib.bash
. "$repo/test/containerd/lib.bash"
"$repo/test/containerd/install.sh" >/dev/null
ctd_init
plugin_pid=
cleanup() {
	[ -n "$plugin_pid" ] && kill "$plugin_pid" 2>/dev/null && wait "$plugin_pid" 2>/dev/null
	ctd_stop
}
trap cleanup EXIT
ctd_start >/dev/null
image=localhost/bpftoken-test:latest
"$repo/test/images/build-image.sh" --tokencount "$repo/bin/tokencount" --bpfworkload "$repo/bin/bpfworkload" --out "$CTD_ROOT/image.tar" >/dev/null
ctd_import_image "$CTD_ROOT/image.tar" "$image" >/dev/null
# The plugin grants nothing without a policy: this one allows what the pods ask.
printf 'rules: [{name: bench, allow: {cmds: any, maps: any, progs: any, attachs: any}}]\n' >"$CTD_ROOT/policy.yaml"
"$repo/bin/nri-bpftoken" -socket-path "$CTD_ROOT/nri.sock" -policy "$CTD_ROOT/policy.yaml" \
	-log-level info -log-file "$CTD_ROOT/plugin.log" &
plugin_pid=$!
for _ in $(seq 100); do grep -q 'synchronized with runtime' "$CTD_ROOT/plugin.log" 2>/dev/null && break; sleep 0.1; done

ann=(--annotation bpf.token/cmds=map_create,prog_load --annotation bpf.token/maps=array
	--annotation bpf.token/progs=socket_filter --annotation bpf.token/attachs=cgroup_inet_ingress)
rss() { awk '/^VmRSS/ {print $2}' "/proc/$plugin_pid/status"; }
us() { echo $(($(date +%s%N) / 1000)); }
i=0
# start_pod [ANNOTATIONS...]: runp + create + start a sleeping container;
# prints microseconds; removes the pod afterwards.
start_pod() {
	local t pod id
	i=$((i + 1))
	t=$(us)
	pod=$(ctd_run_pod "b$i" --userns "$@")
	id=$(ctd_create_container "$pod" "b$i" c "$image" --cap BPF -- sleep 600)
	ctd_start_container "$id"
	echo $(($(us) - t))
	ctd_crictl rmp -f "$pod" >/dev/null
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

start_pod >/dev/null # warm up
idle=$(rss)
with=() without=()
for _ in $(seq "$n"); do
	with+=("$(start_pod "${ann[@]}")")
	without+=("$(start_pod)")
done
mw=$(median "${with[@]}")
mo=$(median "${without[@]}")
echo "containerd: user-namespace pod start (runp + create + start), $n each, interleaved, median"
awk -v w="$mw" -v o="$mo" 'BEGIN {
	printf "  %-24s %8.1f ms\n  %-24s %8.1f ms\n", "without delegation", o / 1000, "with delegation", w / 1000
	printf "  with/without: %+.1f%%\n", (w - o) * 100 / o
}'
after_bench=$(rss)
for _ in $(seq "$many"); do start_pod "${ann[@]}" >/dev/null; done
after_many=$(rss)
for _ in $(seq "$many"); do start_pod "${ann[@]}" >/dev/null; done
after_twice=$(rss)
mounted=$(grep -c 'delegated bpffs mounted' "$CTD_ROOT/plugin.log")
awk -v a="$idle" -v b="$after_bench" -v c="$after_many" -v d="$after_twice" -v m="$many" -v k="$mounted" 'BEGIN {
	printf "nri-bpftoken resident size: idle %.1f MiB, after the pod benchmark %.1f MiB, after %d more annotated containers %.1f MiB, after %d more %.1f MiB (goal < 25 MiB, flat); %d bpffs mounted in all\n", a / 1024, b / 1024, m, c / 1024, m, d / 1024, k
}'
durations=$(grep -o 'duration=[0-9.]*[µm]s' "$CTD_ROOT/plugin.log" | sed 's/duration=//' |
	awk '/µs$/ {sub("µs", ""); print $1 / 1000; next} /ms$/ {sub("ms", ""); print $1}' | sort -n)
echo "$durations" | awk '{a[NR]=$1} END {printf "plugin StartContainer handling (from its log): median %.2f ms, p90 %.2f ms, max %.2f ms over %d containers (NRI allows 2000 ms)\n", a[int((NR+1)/2)], a[int(NR*0.9)], a[NR], NR}'
