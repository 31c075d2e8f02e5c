#!/bin/sh
# install-deps.sh: what the podman tests and the demo need on a Debian 12 host
# (and musl-tools, which the Makefile links the hook and the plugin with, and
# clang, which compiles the CO-RE workload examples/workloads/bpf/core.bpf.c;
# and for rootless podman, which rootless.bats runs as users it makes:
# catatonit, its pause process (only recommended by podman), passwd's
# useradd, util-linux's runuser, setpriv and nsenter).
# Idempotent: apt-get runs only when a package is missing, and the subordinate
# id ranges for podman --userns=auto are added only when absent. Run as root.
set -eu

pkgs="podman runc conmon uidmap catatonit passwd util-linux busybox-static bats jq musl-tools clang"

missing=
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing="$missing $p"
  fi
done
if [ -n "$missing" ]; then
  echo "install-deps: installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || { echo "install-deps: apt-get update failed: the Debian mirrors must be reachable" >&2; exit 1; }
  # shellcheck disable=SC2086
  apt-get install -y -qq $missing || { echo "install-deps: apt-get install$missing failed (see above)" >&2; exit 1; }
else
  echo "install-deps: all packages present ($pkgs)"
fi

# podman --userns=auto takes its ranges from the "containers" user's entries.
line="containers:2147483647:2147483648"
for f in /etc/subuid /etc/subgid; do
  touch "$f"
  if grep -qx "$line" "$f"; then
    echo "install-deps: $f already has $line"
  else
    # Keep the file's last line terminated before appending.
    if [ -s "$f" ] && [ "$(tail -c 1 "$f" | od -An -c | tr -d ' ')" != '\n' ]; then
      echo >>"$f"
    fi
    echo "$line" >>"$f"
    echo "install-deps: added $line to $f"
  fi
done
