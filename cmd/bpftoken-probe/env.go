package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/bpfsys"
	"github.com/nri-bpftoken/nri-bpftoken/internal/procfs"
)

// environment is what, besides the bpffs, decides whether this process can
// use a token.
type environment struct {
	Caps    map[string]bool `json:"caps"` // effective set, e.g. "CAP_BPF": true
	Seccomp seccompState    `json:"seccomp"`
	UserNS  userNSState     `json:"userns"`
	// CgroupNS says whether this process has a cgroup namespace of its own.
	CgroupNS cgroupNSState `json:"cgroupns"`
	// Lockdown is procfs.LockdownFile ("[none] integrity
	// confidentiality"), empty when the file is absent.
	Lockdown string `json:"lockdown,omitempty"`
	errs     []error
}

type seccompState struct {
	Mode      string `json:"mode"`       // "disabled", "strict", "filter" or "unknown"
	BlocksBPF bool   `json:"blocks_bpf"` // something other than the kernel answered bpf()
	// BPFErrno is what bpf() with an unknown command returned: EINVAL is
	// the kernel's own answer; EPERM or ENOSYS come from a filter.
	BPFErrno string `json:"bpf_errno"`
}

// cgroupNSState is what /proc/self/cgroup says about the cgroup namespace.
// Inside a container the host's namespace cannot be compared with, but a
// cgroup namespace made for the container has the container's cgroup as its
// root, where the process is: every line shows the path "/".
type cgroupNSState struct {
	// Private: the file shows this process at the root of its cgroup
	// namespace (or above it, "/.."), as in a namespace of its own.
	Private bool `json:"private"`
	// Cgroup is the process's cgroup as the file shows it: the v2 entry's
	// path, else the first v1 one that is not "/", else "/". "" when unknown.
	Cgroup string `json:"cgroup"`
}

type userNSState struct {
	Initial bool   `json:"initial"`
	UIDMap  string `json:"uid_map"` // the lines of /proc/self/uid_map, "inside outside count" each, joined by "; "
}

// checkedCaps are the capabilities that decide what a token holder may do:
// CAP_BPF to create a token at all, CAP_NET_ADMIN and CAP_PERFMON for the
// program and map types that ask for them, CAP_SYS_ADMIN because podman's
// default seccomp profile lets bpf() through only with it.
var checkedCaps = []struct {
	name string
	bit  uint
}{
	{"CAP_BPF", unix.CAP_BPF},
	{"CAP_NET_ADMIN", unix.CAP_NET_ADMIN},
	{"CAP_PERFMON", unix.CAP_PERFMON},
	{"CAP_SYS_ADMIN", unix.CAP_SYS_ADMIN},
}

// invalidBPFCmd is a bpf command no kernel knows.
const invalidBPFCmd = 0xffff

func readEnvironment() environment {
	var env environment
	var err error
	if env.Caps, err = effectiveCaps(); err != nil {
		env.errs = append(env.errs, err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		env.errs = append(env.errs, fmt.Errorf("seccomp mode unknown: %w", err))
	}
	mode, _ := procfs.Field(string(status), "Seccomp")
	fd, err := bpfsys.Raw(invalidBPFCmd)
	if err == nil {
		unix.Close(fd) // no kernel returns an fd for it, but do not leak one
	}
	env.Seccomp = classifySeccomp(mode, err)
	if uidMap, err := procfs.ReadUIDMap(procfs.Self); err != nil {
		env.errs = append(env.errs, fmt.Errorf("user namespace unknown: %w", err))
	} else {
		env.UserNS = userNSOf(uidMap)
	}
	if b, err := os.ReadFile("/proc/self/cgroup"); err != nil {
		env.errs = append(env.errs, fmt.Errorf("cgroup namespace unknown: %w", err))
	} else {
		env.CgroupNS = parseProcCgroup(string(b))
	}
	if lockdown, err := procfs.ReadLockdown(); err == nil {
		env.Lockdown = lockdown
	}
	return env
}

// effectiveCaps asks the kernel (capget) rather than /proc, which a container
// may not have mounted.
func effectiveCaps() (map[string]bool, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil, fmt.Errorf("capget: %w", err)
	}
	eff := uint64(data[1].Effective)<<32 | uint64(data[0].Effective)
	caps := make(map[string]bool, len(checkedCaps))
	for _, c := range checkedCaps {
		caps[c.name] = eff&(1<<c.bit) != 0
	}
	return caps, nil
}

// classifySeccomp combines the Seccomp field of /proc/self/status with the
// outcome of bpf(invalidBPFCmd, zeroed attr). Only the kernel's bpf() answers
// an unknown command with EINVAL; anything else was said by a seccomp filter
// (EPERM is podman's default profile without CAP_SYS_ADMIN, ENOSYS newer
// runtimes' answer for syscalls a profile does not list) or an LSM.
func classifySeccomp(statusMode string, err error) seccompState {
	s := seccompState{Mode: "unknown", BPFErrno: errnoName(err)}
	switch statusMode {
	case "0":
		s.Mode = "disabled"
	case "1":
		s.Mode = "strict"
	case "2":
		s.Mode = "filter"
	}
	s.BlocksBPF = err != nil && !errors.Is(err, unix.EINVAL)
	return s
}

// userNSOf tells the initial user namespace by its uid map (procfs.IsInitial);
// any other map belongs to a namespace some runtime created.
func userNSOf(uidMap []procfs.IDMap) userNSState {
	lines := make([]string, len(uidMap))
	for i, m := range uidMap {
		lines[i] = fmt.Sprintf("%d %d %d", m.Inside, m.Outside, m.Count)
	}
	return userNSState{Initial: procfs.IsInitial(uidMap), UIDMap: strings.Join(lines, "; ")}
}

// parseProcCgroup reads /proc/self/cgroup ("hierarchy:controllers:path"
// per line; "0::path" for cgroup v2). In a cgroup namespace of the
// container's own, the paths are relative to the container's cgroup and the
// process sits at "/"; in the host's namespace they are full paths such as
// "/system.slice/...". The v2 entry decides when there is one (cgroup v2, or
// hybrid, where v1 controllers may be placed elsewhere); without it, every
// v1 entry must be at "/". A path under "/" can also mean a process in a
// child cgroup of its own namespace (systemd in a container): the warning
// says so. A path above the root ("/../x") appears only in a namespace other
// than the host's. A process at "/" in the host's namespace (the root
// cgroup) passes for private, but no container runs there.
func parseProcCgroup(s string) cgroupNSState {
	atRoot := func(path string) bool {
		return path == "/" || path == "/.." || strings.HasPrefix(path, "/../")
	}
	v1 := cgroupNSState{Private: true}
	seen := false
	for _, line := range strings.Split(s, "\n") {
		id, rest, _ := strings.Cut(line, ":")
		controllers, path, ok := strings.Cut(rest, ":") // a path may hold ':' itself
		if !ok || !strings.HasPrefix(path, "/") {
			continue
		}
		if id == "0" && controllers == "" {
			return cgroupNSState{Private: atRoot(path), Cgroup: path}
		}
		seen = true
		if !atRoot(path) && v1.Private {
			v1 = cgroupNSState{Cgroup: path}
		}
	}
	switch {
	case !seen:
		return cgroupNSState{}
	case v1.Private:
		v1.Cgroup = "/"
	}
	return v1
}

// hasCap reports a capability as present when capget failed, so that the
// probe does not blame a capability it could not check.
func (e environment) hasCap(name string) bool {
	if e.Caps == nil {
		return true
	}
	return e.Caps[name]
}
