package integration

// Faults: the hook killed with SIGKILL at random points, and the container
// killed at random points while the hook runs. Neither may leave a helper
// process, a host mount or an fd in the container behind, and the next
// hook run must work.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
)

const faultIterations = 200

// faultRand returns a generator seeded from BPFTOKEN_FAULT_SEED, or from
// the clock (logged, to replay a failing run).
func faultRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("BPFTOKEN_FAULT_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("BPFTOKEN_FAULT_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("random delays seeded with BPFTOKEN_FAULT_SEED=%d", seed)
	return rand.New(rand.NewPCG(seed, seed>>1|1))
}

// becomeSubreaper makes the test process the reaper of orphaned
// descendants until t ends. A helper orphaned by a killed hook then comes
// to us instead of pid 1, so the test can require it to die on its own and
// reap it at once. Left to pid 1 it would stay a zombie named
// bpftoken-helper with PPid 1 until init gets round to reaping (on the test
// VMs about a second later), and checks for orphans would depend on timing.
func becomeSubreaper(t *testing.T) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("become child subreaper: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); err != nil {
			t.Errorf("stop being child subreaper: %v", err)
		}
	})
}

// procStat returns the parent pid and command name of pid.
func procStat(pid int) (ppid int, comm string, ok bool) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, "", false
	}
	ppid = -1
	for _, line := range strings.Split(string(status), "\n") {
		if v, found := strings.CutPrefix(line, "Name:"); found {
			comm = strings.TrimSpace(v)
		}
		if v, found := strings.CutPrefix(line, "PPid:"); found {
			ppid, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return ppid, comm, true
}

// reapOrphanedHelpers finds the helpers a dead hook left to us (named
// bpftoken-helper, or still the hook's own name "oci-hook" if it died
// before naming itself), requires each to exit on its own within a few
// seconds (their parent-death signal is SIGKILL), and reaps them. It
// returns how many there were.
func reapOrphanedHelpers(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	n := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, comm, ok := procStat(pid)
		if !ok || ppid != self || (comm != "bpftoken-helper" && comm != "oci-hook") {
			continue
		}
		n++
		if !waitExit(pid, 5*time.Second) {
			t.Errorf("helper %d (%s) outlived its hook by 5 s", pid, comm)
			unix.Kill(pid, unix.SIGKILL)
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
			t.Errorf("reap helper %d: %v", pid, err)
		}
	}
	return n
}

// waitExit waits until pid has exited (a zombie counts), through a pidfd.
func waitExit(pid int, timeout time.Duration) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return errors.Is(err, unix.ESRCH)
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(timeout)
	for {
		ms := int(time.Until(deadline).Milliseconds())
		if ms <= 0 {
			return false
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err == nil && n > 0
	}
}

// exited reports whether pid (a child not yet waited for) has exited.
func exited(pid int) bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	return err == nil && info.Signo != 0
}

// startHook starts the real hook with the state on stdin.
func startHook(t *testing.T, state string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "oci-hook"))
	cmd.Stdin = strings.NewReader(state)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start hook: %v", err)
	}
	return cmd, &stderr
}

// waitHook waits for the hook to exit, failing t if it takes longer than
// its own deadline allows, and returns its exit code (-1: killed).
func waitHook(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan struct{})
	timer := time.AfterFunc(20*time.Second, func() {
		t.Errorf("hook still running after 20 s; killing it")
		cmd.Process.Kill()
	})
	defer timer.Stop()
	go func() { cmd.Wait(); close(done) }()
	<-done
	return cmd.ProcessState.ExitCode()
}

// checkNormalRun runs the hook on c and requires one delegated bpffs.
func checkNormalRun(t *testing.T, c *container, what string) {
	t.Helper()
	res := runHook(t, c.state())
	if res.code != 0 {
		t.Fatalf("%s: hook exited %d: %s", what, res.code, res.stderr)
	}
	m := c.bpfMounts()
	if len(m) != 1 || !strings.Contains(m[0], " "+filepath.Join(c.Rootfs, "sys/fs/bpf")+" ") || !strings.Contains(m[0], "delegate_cmds=map_create") {
		t.Fatalf("%s: container has bpffs mounts %q, want one at /sys/fs/bpf", what, m)
	}
}

func TestHookKilledAtRandomPoints(t *testing.T) {
	testenv.Privileged(t)
	becomeSubreaper(t)
	rng := faultRand(t)
	host := snapshotHost(t)
	var killed, finished, orphans, leftMounted int
	for i := range faultIterations {
		delay := time.Duration(rng.Int64N(int64(5*time.Millisecond) + 1))
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			c := startContainer(t, nil)
			c.writeConfig(config{annotations: minimalDelegation})
			fdsBefore := fds(t, c.Pid)

			cmd, stderr := startHook(t, c.state())
			time.Sleep(delay) // the fault's random point, not a synchronisation
			cmd.Process.Signal(syscall.SIGKILL)
			code := waitHook(t, cmd)
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				killed++
			} else {
				finished++
				if code != 0 {
					t.Errorf("hook finished before the kill with exit %d: %s", code, stderr)
				}
			}
			orphans += reapOrphanedHelpers(t)

			if h := helperProcesses(t); len(h) > 0 {
				t.Errorf("helpers orphaned to pid 1: %v", h)
			}
			if got := fds(t, c.Pid); !slices.Equal(got, fdsBefore) {
				t.Errorf("container's fds changed: before %v, after %v", fdsBefore, got)
			}
			switch m := c.bpfMounts(); len(m) {
			case 0:
			case 1:
				// Killed after the move_mount: a complete mount, inside
				// the rootfs, which the next run finds.
				leftMounted++
				if !strings.Contains(m[0], " "+filepath.Join(c.Rootfs, "sys/fs/bpf")+" ") {
					t.Errorf("killed hook left a bpffs outside the mount path: %q", m[0])
				}
			default:
				t.Errorf("killed hook left %d bpffs mounts: %q", len(m), m)
			}
			checkHostUnchanged(t, host)

			// The runtime retries, or the next container comes.
			checkNormalRun(t, c, "run after the kill, same container")
			fresh := startContainer(t, nil)
			fresh.writeConfig(config{annotations: minimalDelegation})
			checkNormalRun(t, fresh, "run after the kill, fresh container")
			checkHostUnchanged(t, host)
		})
	}
	t.Logf("%d hooks killed, %d finished before the kill; %d orphaned helpers died on their own; %d kills left a complete mount",
		killed, finished, orphans, leftMounted)
}

func TestContainerKilledWhileHookRuns(t *testing.T) {
	testenv.Privileged(t)
	becomeSubreaper(t)
	rng := faultRand(t)
	host := snapshotHost(t)
	outcomes := map[string]int{}
	for i := range faultIterations {
		delay := time.Duration(rng.Int64N(int64(6*time.Millisecond) + 1))
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			c := startContainer(t, nil)
			c.writeConfig(config{annotations: minimalDelegation})

			cmd, stderr := startHook(t, c.state())
			time.Sleep(delay) // the fault's random point, not a synchronisation
			c.cmd.Process.Kill()
			if exited(cmd.Process.Pid) {
				outcomes["(hook had exited before the container was killed)"]++
			}
			c.cmd.Wait()
			code := waitHook(t, cmd)
			switch code {
			case 0:
				if stderr.Len() != 0 {
					t.Errorf("hook succeeded with output on stderr: %q", stderr)
				}
				outcomes["mounted"]++
			case 1:
				checkOneLine(t, stderr.String(), []string{"bpftoken-oci-hook: ", "container " + c.id + ": "})
				// The reason, without the parts that differ between runs.
				msg := strings.TrimPrefix(strings.TrimSpace(stderr.String()), "bpftoken-oci-hook: container "+c.id+": ")
				outcomes[strings.Join(strings.FieldsFunc(msg, func(r rune) bool { return r >= '0' && r <= '9' }), "N")]++
			default:
				t.Errorf("hook exited %d, want 0 or 1: %s", code, stderr)
			}
			if n := reapOrphanedHelpers(t); n > 0 {
				t.Errorf("the hook (exit %d) left %d helpers behind", code, n)
			}
			if h := helperProcesses(t); len(h) > 0 {
				t.Errorf("helpers orphaned to pid 1: %v", h)
			}
			checkHostUnchanged(t, host)
		})
	}
	for msg, n := range outcomes {
		t.Logf("%4d x %s", n, msg)
	}
	// A container that stays alive still gets its bpffs.
	c := startContainer(t, nil)
	c.writeConfig(config{annotations: minimalDelegation})
	checkNormalRun(t, c, "run after the kills")
	checkHostUnchanged(t, host)
}

// A hung volume on the way to the mount path (here a FUSE file system whose
// daemon never answers, at <rootfs>/sys/fs; an NFS server gone does the
// same) blocks the system call that resolves the path. The hook still ends
// at its deadline with one line, nothing mounted and no helper left, and
// the runtime refuses the container.
func TestHookGivesUpOnAHungVolume(t *testing.T) {
	before := snapshotHost(t)
	var release func()
	c := startContainer(t, func(rootfs string) { release = testenv.HungFUSE(t, filepath.Join(rootfs, "sys/fs")) })
	c.writeConfig(config{annotations: minimalDelegation})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "oci-hook"), "--timeout", "1s")
	cmd.Stdin = strings.NewReader(c.state())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	release()
	if ctx.Err() != nil {
		t.Fatalf("the hook was still running 30 s after its 1 s deadline; stderr %q", stderr.String())
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Fatalf("hook = %v, want exit code 1; stderr %q", err, stderr.String())
	}
	checkOneLine(t, stderr.String(), []string{"bpftoken-oci-hook: ", "container " + c.id + ": ", "no answer within 1s", "nothing was mounted"})
	if m := c.bpfMounts(); len(m) != 0 {
		t.Errorf("the container got a bpffs after the deadline: %v", m)
	}
	checkHostUnchanged(t, before)
}
