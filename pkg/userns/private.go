package userns

import "golang.org/x/sys/unix"

// PrivateNamespace reports whether a runtime's word on a container's
// namespace of one kind (as the OCI runtime spec and NRI name them: "user",
// "cgroup", "network", "mount"...) gives it one of its own: a new one (path
// empty), or one joined by a path that names neither the caller's nor that
// of pid 1 when it can be read (the host's, for a caller in the host's pid
// namespace: a plugin in a pod of its own has namespaces of its own too).
// An unreadable path
// counts as not private: the answer decides what may be granted.
func PrivateNamespace(kind, path string) bool {
	if path == "" {
		return true
	}
	// /proc/<pid>/ns names two kinds otherwise.
	proc := map[string]string{"network": "net", "mount": "mnt"}[kind]
	if proc == "" {
		proc = kind
	}
	var other unix.Stat_t
	if unix.Stat(path, &other) != nil {
		return false
	}
	var self, init unix.Stat_t
	if unix.Stat("/proc/self/ns/"+proc, &self) != nil || self.Dev == other.Dev && self.Ino == other.Ino {
		return false
	}
	// pid 1 may be out of reach (a sandbox's supervisor, ptrace rules):
	// then the caller's own is all there is to compare with.
	if unix.Stat("/proc/1/ns/"+proc, &init) == nil && init.Dev == other.Dev && init.Ino == other.Ino {
		return false
	}
	return true
}
