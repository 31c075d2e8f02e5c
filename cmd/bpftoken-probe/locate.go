package main

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/bpfsys"
	"github.com/nri-bpftoken/nri-bpftoken/internal/procfs"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// Where the bpffs path came from, as reported in "path_source".
const (
	sourceFlag      = "flag"
	sourceEnv       = spec.LibbpfTokenPathEnv
	sourceMountInfo = "mountinfo"
)

// attempt is one bpffs the probe tried to create a token from.
type attempt struct {
	Path  string `json:"path"`
	Errno string `json:"errno,omitempty"` // the failing call's errno name, "" on success
	Error string `json:"error,omitempty"` // one line: what failed, why, and the fix
}

// tokenFailure is why one path gave no token, before it is explained.
type tokenFailure struct {
	path     string
	op       string // "open" or "BPF_TOKEN_CREATE"
	err      error
	notBPFFS bool // statfs says the path is on another file system
}

// createToken opens path as libbpf and cilium/ebpf do and asks for a token.
// The caller owns the returned fd; a failure is returned as data to explain
// rather than as an error to wrap.
func createToken(path string) (int, *tokenFailure) {
	dir, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &tokenFailure{path: path, op: "open", err: err}
	}
	defer unix.Close(dir)
	token, err := bpfsys.TokenCreate(dir)
	if err != nil {
		var st unix.Statfs_t
		notBPFFS := unix.Fstatfs(dir, &st) == nil && uint32(st.Type) != unix.BPF_FS_MAGIC
		return -1, &tokenFailure{path: path, op: "BPF_TOKEN_CREATE", err: err, notBPFFS: notBPFFS}
	}
	return token, nil
}

// explainFailure turns a failure into one line with the cause and the fix.
// It follows the order of the kernel's checks in token_create
// (kernel/bpf/token.c): root of a bpffs (EINVAL), same user namespace as the
// bpffs and CAP_BPF in it (EPERM), not the initial user namespace or lockdown
// (EOPNOTSUPP), something delegated (ENOENT). A seccomp filter answers EPERM
// before any of them.
func explainFailure(f *tokenFailure, env environment, kernelRelease string) string {
	what := fmt.Sprintf("%s %s failed with %s", f.op, f.path, errnoName(f.err))
	return what + ": " + failureCause(f, env, kernelRelease)
}

func failureCause(f *tokenFailure, env environment, kernelRelease string) string {
	if f.op == "open" {
		switch {
		case errors.Is(f.err, unix.ENOENT):
			return "no such directory: pass the mount point of the delegated bpffs (-path or " + spec.LibbpfTokenPathEnv + ")"
		case errors.Is(f.err, unix.ENOTDIR):
			return "not a directory: pass the mount point of the delegated bpffs"
		default:
			return "cannot open the bpffs root: check its permissions (the delegated bpffs belongs to the container's root)"
		}
	}
	switch {
	case errors.Is(f.err, unix.EPERM):
		switch {
		case env.Seccomp.BlocksBPF:
			return seccompBlocks + ": " + seccompFix
		case !env.hasCap("CAP_BPF"):
			return "the process lacks CAP_BPF: add it (podman: --cap-add BPF; Kubernetes: capabilities.add: [BPF])"
		default:
			return "the bpffs belongs to another user namespace: it must be mounted for this container's user namespace (by the bpftoken OCI hook or NRI plugin), not bind-mounted from the host or another container"
		}
	case errors.Is(f.err, unix.EOPNOTSUPP):
		switch {
		case env.UserNS.Initial:
			return "the process is in the initial user namespace, where the kernel refuses tokens: run it in a container with a user namespace of its own (podman: --userns=auto)"
		case lockdownActive(env.Lockdown):
			return fmt.Sprintf("the kernel is in lockdown (%s), which refuses tokens: only a host booted without lockdown can delegate", env.Lockdown)
		default:
			return "the kernel refuses tokens here: the initial user namespace or kernel lockdown (/sys/kernel/security/lockdown)"
		}
	case errors.Is(f.err, unix.ENOENT):
		return "the bpffs delegates nothing (no delegate_* mount options): ask for delegation (podman: --annotation bpf.token/cmds=... with the bpftoken hook installed)"
	case errors.Is(f.err, unix.EINVAL):
		if f.notBPFFS {
			return "not a bpffs: pass the mount point of the delegated bpffs"
		}
		return "not the root of a bpffs (a subdirectory, or a bind mount of one), or a kernel without BPF tokens (they need Linux >= 6.9; this is " + kernelRelease + "): pass the mount point itself"
	case errors.Is(f.err, unix.ENOSYS):
		return "bpf() is not available: a seccomp filter refuses it, or the kernel lacks CONFIG_BPF_SYSCALL"
	default:
		return "unexpected error from the kernel"
	}
}

// seccompFix is the remedy for a filter that blocks bpf(). "seccomp blocks
// bpf()" is the phrase scripts look for.
const (
	seccompBlocks = "seccomp blocks bpf()"
	seccompFix    = "run with a profile that allows it (podman: --security-opt seccomp=examples/seccomp/bpf.json; docker's and containerd's default profiles allow it with CAP_BPF)"
)

// lockdownActive reads /sys/kernel/security/lockdown's content, where the
// active mode is in brackets: "[none] integrity confidentiality". Content
// it cannot read counts as active: that is what the refusal then suggests.
func lockdownActive(s string) bool {
	mode, ok := procfs.ParseLockdown(s)
	return s != "" && (!ok || mode != "none")
}

// noBPFFSMessage is the token error when the mount scan finds no bpffs.
const noBPFFSMessage = "no bpffs is mounted here (none in /proc/self/mountinfo): the container got no delegation: start it with bpf.token/ annotations and the bpftoken OCI hook or NRI plugin installed (podman: --annotation bpf.token/cmds=map_create:prog_load ...)"

func kernelRelease() string {
	release, err := procfs.KernelRelease()
	if err != nil {
		return "unknown"
	}
	return release
}
