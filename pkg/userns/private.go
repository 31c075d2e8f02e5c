package userns

import "golang.org/x/sys/unix"

// PrivateNamespace reports whether a runtime's word on a container's
// namespace of one kind ("user", "cgroup", as /proc/<pid>/ns names them)
// gives it one of its own: a new one (path empty), or one joined by a path
// that names another than the caller's. An unreadable path counts as not
// private: the answer decides what may be granted.
func PrivateNamespace(kind, path string) bool {
	if path == "" {
		return true
	}
	var self, other unix.Stat_t
	if unix.Stat(path, &other) != nil || unix.Stat("/proc/self/ns/"+kind, &self) != nil {
		return false
	}
	return self.Dev != other.Dev || self.Ino != other.Ino
}
