package userns

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
)

// The runtime's word on a namespace: OCI's kind names map to /proc's
// ("network" is net, "mount" is mnt), the caller's own namespace and pid
// 1's are not private, and neither is a path that cannot be read.
func TestPrivateNamespace(t *testing.T) {
	testenv.Privileged(t)
	child := exec.Command("sleep", "60")
	child.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS | syscall.CLONE_NEWCGROUP}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	other := func(proc string) string { return fmt.Sprintf("/proc/%d/ns/%s", child.Process.Pid, proc) }
	tests := []struct {
		kind, path string
		want       bool
	}{
		{"network", "", true},
		{"network", "/proc/self/ns/net", false},
		{"network", other("net"), true},
		{"network", "/nonexistent/netns", false},
		{"mount", "/proc/self/ns/mnt", false},
		{"mount", other("mnt"), true},
		{"cgroup", "/proc/self/ns/cgroup", false},
		{"cgroup", other("cgroup"), true},
		{"user", "/proc/self/ns/user", false},
	}
	// pid 1's: the host's, for a plugin in a pod of its own; where it can
	// be read (not in every sandbox).
	if _, err := os.Readlink("/proc/1/ns/net"); err == nil {
		tests = append(tests, struct {
			kind, path string
			want       bool
		}{"network", "/proc/1/ns/net", false})
	}
	for _, tt := range tests {
		if got := PrivateNamespace(tt.kind, tt.path); got != tt.want {
			t.Errorf("PrivateNamespace(%q, %q) = %v, want %v", tt.kind, tt.path, got, tt.want)
		}
	}
}
