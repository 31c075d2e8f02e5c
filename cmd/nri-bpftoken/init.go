package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// errNoInit means no process of the container could be found.
var errNoInit = errors.New("no process found for the container")

// containerInit is the container's init process, held by a pidfd so that
// neither the mount nor a kill can reach another process that took its pid.
type containerInit struct {
	pid   int
	pidfd int
}

func (ci *containerInit) close() { unix.Close(ci.pidfd) }

// kill stops the init. At StartContainer it still waits for the runtime's
// start, so the container's process never runs.
func (ci *containerInit) kill() error {
	return unix.PidfdSendSignal(ci.pidfd, unix.SIGKILL, nil, 0)
}

// openInit opens the init of container id. containerd reports its pid at
// StartContainer; CRI-O (1.34) reports 0, and then it is the process in a
// cgroup named after the container and in a user namespace other than the
// plugin's: at StartContainer the runtime's init is the only one, waiting to
// exec the container's process (CRI-O's conmon for the container has a
// cgroup named after it too, but runs in the host's user namespace).
func openInit(id string, pid uint32) (*containerInit, error) {
	if pid > 0 {
		return pinInit(int(pid), "")
	}
	candidates, err := pidsInContainerCgroup("/proc", id)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, pid := range candidates {
		if inOtherUserNamespace(pid) {
			pids = append(pids, pid)
		}
	}
	switch len(pids) {
	case 0:
		return nil, fmt.Errorf("the runtime gave no pid, and %w in a cgroup named after it", errNoInit)
	case 1:
		return pinInit(pids[0], id)
	}
	return nil, fmt.Errorf("the runtime gave no pid, and %d processes (%v) are in the container's cgroup: cannot tell its init", len(pids), pids)
}

// pinInit opens a pidfd for pid; with id set, it then checks that the pid
// still names a process of container id, so that the pidfd is that one.
func pinInit(pid int, id string) (*containerInit, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("open pidfd of the container's init (pid %d): %w", pid, err)
	}
	if id != "" {
		if in, err := inContainerCgroup(fmt.Sprintf("/proc/%d/cgroup", pid), id); err != nil || !in {
			unix.Close(fd)
			return nil, fmt.Errorf("pid %d left the container's cgroup while it was opened: %w", pid, errNoInit)
		}
	}
	return &containerInit{pid: pid, pidfd: fd}, nil
}

// inOtherUserNamespace reports whether pid is in a user namespace other
// than this process's.
func inOtherUserNamespace(pid int) bool {
	var self, other unix.Stat_t
	if unix.Stat("/proc/self/ns/user", &self) != nil || unix.Stat(fmt.Sprintf("/proc/%d/ns/user", pid), &other) != nil {
		return false
	}
	return self.Ino != other.Ino || self.Dev != other.Dev
}

// pidsInContainerCgroup lists the processes under proc whose cgroup is
// named after container id.
func pidsInContainerCgroup(proc, id string) ([]int, error) {
	entries, err := os.ReadDir(proc)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// Processes come and go while the directory is read.
		if in, _ := inContainerCgroup(path.Join(proc, e.Name(), "cgroup"), id); in {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// inContainerCgroup reports whether a /proc/PID/cgroup file puts the process
// in a cgroup named after container id, as runtimes name them: the id
// itself, or a prefix and the id ("crio-ID", "cri-containerd-ID.scope", and
// CRI-O's "crio-conmon-ID" for the container's monitor).
func inContainerCgroup(file, id string) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-ID:controllers:path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		base := strings.TrimSuffix(path.Base(parts[2]), ".scope")
		if base == id || strings.HasSuffix(base, "-"+id) {
			return true, nil
		}
	}
	return false, sc.Err()
}
