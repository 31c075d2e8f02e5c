# env.sh: an isolated rootful podman for tests and demos. Source it (bash):
#
#   . test/podman/env.sh BASEDIR        # or: TPODMAN_BASE=BASEDIR; . test/podman/env.sh
#   tpodman run --rm localhost/bpftoken-test:latest true
#
# Everything podman writes goes under BASEDIR: image/container storage
# (graphroot BASEDIR/storage, runroot BASEDIR/run), libpod state and events
# (BASEDIR/tmp), network config (BASEDIR/networks). It exports
# CONTAINERS_CONF (test/podman/containers.conf) and CONTAINERS_STORAGE_CONF
# (BASEDIR/storage.conf, written here), and defines tpodman = podman with those
# settings plus --hooks-dir "$TPODMAN_HOOKS_DIR" (read at each call; default
# BASEDIR/hooks.d, empty, so the machine's OCI hooks never run).
#
# Clean up with: tpodman rm -af -t 0; tpodman system reset -f  (or unmount
# leftovers under BASEDIR/storage and remove BASEDIR).

_tp_base=${1:-${TPODMAN_BASE:-}}
if [ -z "$_tp_base" ]; then
  echo "env.sh: usage: . env.sh BASEDIR" >&2
  return 1 2>/dev/null || exit 1
fi
mkdir -p "$_tp_base" && _tp_base=$(cd "$_tp_base" && pwd) || return 1 2>/dev/null || exit 1

if [ -n "${BASH_SOURCE:-}" ]; then
  TPODMAN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
elif [ -z "${TPODMAN_DIR:-}" ]; then
  echo "env.sh: not sourced from bash: set TPODMAN_DIR to the test/podman directory" >&2
  return 1 2>/dev/null || exit 1
fi

# overlay (kernel overlayfs on ext4) works here as root and is fast; set
# TPODMAN_STORAGE_DRIVER=vfs for file systems where overlay does not.
: "${TPODMAN_STORAGE_DRIVER:=overlay}"

export TPODMAN_BASE="$_tp_base" TPODMAN_DIR TPODMAN_STORAGE_DRIVER
export TPODMAN_HOOKS_DIR="${TPODMAN_HOOKS_DIR:-$TPODMAN_BASE/hooks.d}"
mkdir -p "$TPODMAN_BASE/storage" "$TPODMAN_BASE/run" "$TPODMAN_BASE/tmp" \
  "$TPODMAN_BASE/networks" "$TPODMAN_BASE/hooks.d"

cat >"$TPODMAN_BASE/storage.conf" <<EOT
[storage]
driver = "$TPODMAN_STORAGE_DRIVER"
graphroot = "$TPODMAN_BASE/storage"
runroot = "$TPODMAN_BASE/run"
EOT

export CONTAINERS_CONF="$TPODMAN_DIR/containers.conf"
export CONTAINERS_STORAGE_CONF="$TPODMAN_BASE/storage.conf"
unset _tp_base

tpodman() {
  podman --tmpdir "$TPODMAN_BASE/tmp" \
    --network-config-dir "$TPODMAN_BASE/networks" \
    --hooks-dir "$TPODMAN_HOOKS_DIR" \
    "$@"
}
