package userns_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/userns"
)

// startAs starts `unshare ARGS... sleep 600` as host uid and returns its
// pid once sleep runs.
func startAs(t *testing.T, uid uint32, args ...string) int {
	t.Helper()
	cmd := exec.Command("unshare", append(args, "sleep", "600")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		t.Fatalf("unshare as %d: %v", uid, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for range 500 {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid)); string(comm) == "sleep\n" {
			return cmd.Process.Pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("unshare %v as %d did not start", args, uid)
	return 0
}

func TestOwner(t *testing.T) {
	testenv.Privileged(t)
	const user = 4243001
	tests := []struct {
		name    string
		pid     int
		want    uint32
		wantErr error
	}{
		{"a user's namespaces", startAs(t, user, "--user", "--map-root-user", "--mount"), user, nil},
		// Nested: the user's namespace's root makes another inside; the
		// chain still starts with the user.
		{"nested in a user's", startAs(t, user, "--user", "--map-root-user", "--mount", "unshare", "--user", "--map-root-user", "--mount"), user, nil},
		{"root's namespaces", testenv.StartInUserNS(t), 0, nil},
		{"the user's user namespace, the host's mount namespace", startAs(t, user, "--user", "--map-root-user"), 0, userns.ErrForeignNamespace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fd, err := unix.PidfdOpen(tt.pid, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			ns, err := userns.OpenByPidfd(fd)
			if err != nil {
				t.Fatal(err)
			}
			defer ns.Close()
			got, err := ns.Owner()
			if !errors.Is(err, tt.wantErr) || err == nil && got != tt.want {
				t.Fatalf("Owner = %d, %v; want %d, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestOpenByPidfdRefuses(t *testing.T) {
	testenv.Privileged(t)
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := userns.OpenByPidfd(int(f.Fd())); !errors.Is(err, userns.ErrNotPidfd) {
		t.Errorf("a regular file: %v, want ErrNotPidfd", err)
	}
	// An exited and reaped process: its pidfd names no process.
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd.Wait()
	if _, err := userns.OpenByPidfd(fd); !errors.Is(err, userns.ErrNoProcess) {
		t.Errorf("a reaped process: %v, want ErrNoProcess", err)
	}
	// The host's own: no user namespace of its own.
	self, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(self)
	if _, err := userns.OpenByPidfd(self); !errors.Is(err, userns.ErrHostUserNamespace) {
		t.Errorf("this process: %v, want ErrHostUserNamespace", err)
	}
}
