#!/bin/sh
# generate.sh: derive bpf.json from podman's default seccomp profile.
#
#   examples/seccomp/generate.sh [SOURCE [DEST]]
#
# SOURCE defaults to /usr/share/containers/seccomp.json (containers-common; the
# committed bpf.json was generated from Debian 12's golang-github-containers-common
# 0.50.1+ds1-4, sha256 cc374cf2...281e6c). DEST defaults to bpf.json next to this
# script. Needs jq.
#
# That profile allows bpf() only when CAP_SYS_ADMIN is in the capability set and
# otherwise returns EPERM for it (an explicit ERRNO rule), so a container that
# has only CAP_BPF can never create a BPF token. The result is the same profile
# with "bpf" removed from both conditional rules and one unconditional ALLOW
# rule for "bpf" appended. Everything else is unchanged. Whether bpf() can do
# anything is then up to the kernel: without CAP_BPF and a delegated bpffs
# (a BPF token) it still fails with EPERM when unprivileged BPF is disabled.
#
# Use it with: podman run --cap-add BPF --security-opt seccomp=bpf.json ...
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=${1:-/usr/share/containers/seccomp.json}
dst=${2:-$here/bpf.json}

command -v jq >/dev/null 2>&1 || { echo "generate.sh: jq is required" >&2; exit 1; }
[ -r "$src" ] || { echo "generate.sh: cannot read $src (apt-get install podman?)" >&2; exit 1; }

tmp=$(mktemp "$dst.XXXXXX")
trap 'rm -f "$tmp"' EXIT
jq '
  (.syscalls[] | select(.names | index("bpf")) | .names) |= map(select(. != "bpf"))
  | .syscalls |= map(select((.names | length) > 0))
  | .syscalls += [{
      "names": ["bpf"],
      "action": "SCMP_ACT_ALLOW",
      "args": [],
      "comment": "nri-bpftoken: allow bpf() without CAP_SYS_ADMIN, so that BPF tokens (CAP_BPF + delegated bpffs) can be used",
      "includes": {},
      "excludes": {}
    }]
' "$src" >"$tmp"

# Sanity checks: exactly one rule names bpf, and it is an unconditional allow.
jq -e '[.syscalls[] | select(.names | index("bpf"))]
       | length == 1 and .[0].action == "SCMP_ACT_ALLOW" and .[0].includes == {} and .[0].excludes == {}' \
  "$tmp" >/dev/null || { echo "generate.sh: unexpected result" >&2; exit 1; }

chmod 0644 "$tmp"
mv "$tmp" "$dst"
trap - EXIT
echo "generate.sh: wrote $dst"
