// Package engine says what to do about the errors of the engine (pkg/bpffs,
// pkg/userns) that a user can cause or fix, in the same words for the hook
// and the plugin.
//
// Its one hard constraint: it only words errors the engine returns as
// sentinels (errors.Is); an error without one gets no advice rather than a
// guess.
package engine

import (
	"errors"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/bpffs"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/userns"
)

// Hint says what to do about the engine's errors a user can cause or fix,
// as "; ..." to append to the error, or "" for others. who names the front
// end in the words ("the hook", "the plugin").
func Hint(err error, who string) string {
	switch {
	case errors.Is(err, userns.ErrHostUserNamespace):
		return "; a token cannot exist in the host's user namespace: run the container with a user namespace (podman: --userns=auto; Kubernetes: hostUsers: false)"
	case errors.Is(err, userns.ErrNoProcess):
		return "; the container's process exited before " + who + " ran"
	case errors.Is(err, userns.ErrUnexpectedUserNamespace):
		return "; the pid the runtime passed is not this container's process (reused, or a runtime fault): nothing was mounted"
	case errors.Is(err, bpffs.ErrNoTokenSupport):
		return "; BPF tokens need Linux >= 6.9 with bpffs (CONFIG_BPF_SYSCALL)"
	case errors.Is(err, bpffs.ErrNotPrivileged):
		return "; run " + who + " as root on the host (podman: rootful; Kubernetes: the privileged DaemonSet of examples/kubernetes)"
	case errors.Is(err, bpffs.ErrNotDirectory):
		return "; set bpf.token/path to a directory, or to a path the image does not have"
	case errors.Is(err, bpffs.ErrPossibleAttack):
		return "; something in the container renames directories while " + who + " resolves the path: nothing was mounted"
	}
	return ""
}
