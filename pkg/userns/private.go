package userns

import "golang.org/x/sys/unix"

// PrivateNamespace reports whether a runtime's word on a container's
// namespace of one kind (as the OCI runtime spec and NRI name them: "user",
// "cgroup", "network", "mount"...) gives it one of its own: a new one (path
// empty), or one joined by a path that names another than the caller's. An
// unreadable path counts as not private: the answer decides what may be
// granted.
func PrivateNamespace(kind, path string) bool {
	if path == "" {
		return true
	}
	// /proc/<pid>/ns names two kinds otherwise.
	proc := map[string]string{"network": "net", "mount": "mnt"}[kind]
	if proc == "" {
		proc = kind
	}
	var self, other unix.Stat_t
	if unix.Stat(path, &other) != nil || unix.Stat("/proc/self/ns/"+proc, &self) != nil {
		return false
	}
	return self.Dev != other.Dev || self.Ino != other.Ino
}
