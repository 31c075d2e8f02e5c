package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
)

func TestInContainerCgroup(t *testing.T) {
	const id = "95337a301de33439711c0fa80299017f64e55a8c1951e38bfa2f2e2f74c696d4"
	tests := []struct {
		name, content string
		want          bool
	}{
		{"CRI-O cgroupfs, cgroup v1", "12:pids:/crio-6d41/pod1/crio-" + id + "\n1:name=systemd:/crio-6d41/pod1/crio-" + id + "\n", true},
		{"CRI-O systemd, cgroup v2", "0::/kubepods.slice/kubepods-pod1.slice/crio-" + id + ".scope\n", true},
		{"containerd systemd", "0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + id + ".scope\n", true},
		{"the bare id", "0::/k8s.io/" + id + "\n", true},
		// openInit tells it from the init by its user namespace.
		{"CRI-O's conmon of the container", "8:pids:/crio-6d41/pod1/crio-conmon-" + id + "\n", true},
		{"another container", "0::/kubepods.slice/crio-" + id[1:] + "0.scope\n", false},
		{"id as a parent directory", "0::/crio-" + id + "/child\n", false},
		{"host process", "0::/init.scope\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "cgroup")
			if err := os.WriteFile(f, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := inContainerCgroup(f, id)
			if err != nil || got != tt.want {
				t.Errorf("inContainerCgroup(%q) = %v, %v; want %v", tt.content, got, err, tt.want)
			}
		})
	}
}

// On the real kernel: a stand-in container (a process in a user namespace
// of its own) moved into a cgroup named as CRI-O names a container's is
// found, pinned and killed through its pidfd; a host process in the cgroup
// of the container's monitor is not taken for it.
func TestOpenInitFindsAndKillsTheProcessInTheContainersCgroup(t *testing.T) {
	var root string
	for _, dir := range []string{"/sys/fs/cgroup/pids", "/sys/fs/cgroup"} {
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err == nil {
			root = dir
			break
		}
	}
	pid := testenv.StartInUserNS(t)
	if root == "" {
		t.Fatal("no pids (cgroup v1) or unified (v2) cgroup hierarchy under /sys/fs/cgroup")
	}
	id := fmt.Sprintf("%064x", time.Now().UnixNano())
	monitor := exec.Command("sleep", "60")
	if err := monitor.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { monitor.Process.Kill(); monitor.Wait() })
	moveToCgroup(t, filepath.Join(root, "crio-conmon-"+id), monitor.Process.Pid)
	moveToCgroup(t, filepath.Join(root, "crio-"+id), pid)

	init, err := openInit(id, 0)
	if err != nil {
		t.Fatalf("openInit: %v", err)
	}
	defer init.close()
	if init.pid != pid {
		t.Fatalf("openInit found pid %d, want the stand-in %d", init.pid, pid)
	}
	if err := init.kill(); err != nil {
		t.Fatal(err)
	}
	// A pidfd polls readable once its process has exited.
	fds := []unix.PollFd{{Fd: int32(init.pidfd), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 5000); err != nil || n != 1 {
		t.Fatalf("the stand-in %d has not exited 5 s after kill (poll: %d, %v)", pid, n, err)
	}
	if _, err := openInit("0"+id[1:], 0); !errors.Is(err, errNoInit) {
		t.Errorf("openInit of a container without processes = %v, want errNoInit", err)
	}
}

// moveToCgroup creates cgroup dir and moves pid into it; when the test
// ends, what is left there goes back to the parent and dir is removed.
func moveToCgroup(t *testing.T, dir string, pid int) {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		for _, p := range strings.Fields(string(procs)) {
			_ = os.WriteFile(filepath.Join(filepath.Dir(dir), "cgroup.procs"), []byte(p), 0o644)
		}
		if err := os.Remove(dir); err != nil {
			t.Errorf("remove cgroup %s: %v", dir, err)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		t.Fatal(err)
	}
}
