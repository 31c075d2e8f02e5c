// Package procfs reads what /proc and /sys say about the kernel and a
// process: the kernel's release, its lockdown mode, sysctls, the fields of
// /proc status files, and a process's uid and gid maps. It says what the
// kernel wrote and judges nothing: what a value means for BPF tokens is its
// callers' to say.
//
// Its one hard constraint: it builds without cgo, for the static probe that
// users copy into containers, so it imports nothing beyond the standard
// library and golang.org/x/sys/unix.
package procfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Self names the calling process where a function takes a pid: its files
// are read from /proc/self. It is no pid a caller could be handed: not 0,
// which the kernel shows for a process outside the caller's pid namespace.
const Self = -1

// procPath returns /proc/<pid>/<file>, /proc/self/<file> for Self.
func procPath(pid int, file string) string {
	if pid == Self {
		return "/proc/self/" + file
	}
	return "/proc/" + strconv.Itoa(pid) + "/" + file
}

// Field returns the value of key in content made of "Key:\tvalue" lines, as
// /proc/<pid>/status and /proc/<pid>/fdinfo/<fd> are.
func Field(content, key string) (string, bool) {
	for _, line := range strings.Split(content, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// Sysctl returns the value of the sysctl name ("user.max_user_namespaces"),
// read from /proc/sys and trimmed; the error wraps the read's (os.ErrNotExist
// when the kernel has no such sysctl).
func Sysctl(name string) (string, error) {
	data, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		return "", fmt.Errorf("sysctl %s: %w", name, err)
	}
	return strings.TrimSpace(string(data)), nil
}
