package userns_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/userns"
)

func TestOpenRefuses(t *testing.T) {
	testenv.Privileged(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pid  int
		want error
	}{
		{"own process", os.Getpid(), userns.ErrHostUserNamespace},
		{"exited process", dead.Process.Pid, userns.ErrNoProcess},
		{"pid zero", 0, userns.ErrNoProcess},
		{"negative pid", -5, userns.ErrNoProcess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, err := userns.Open(tt.pid)
			if !errors.Is(err, tt.want) {
				if ns != nil {
					ns.Close()
				}
				t.Fatalf("Open(%d) = %v, want %v", tt.pid, err, tt.want)
			}
		})
	}
}

func TestRootIDs(t *testing.T) {
	pid := testenv.StartInUserNS(t)
	ns, err := userns.Open(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	uid, gid, err := ns.RootIDs()
	if err != nil || uid != 100000 || gid != 100000 {
		t.Errorf("RootIDs() = %d, %d, %v; want 100000, 100000", uid, gid, err)
	}
}

func TestOpenFSContextBelongsToTheNamespace(t *testing.T) {
	pid := testenv.StartInUserNS(t)
	ns, err := userns.Open(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	fd, err := ns.OpenFSContext(context.Background(), "bpf")
	if err != nil {
		t.Fatalf("OpenFSContext: %v", err)
	}
	defer unix.Close(fd)
	if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("fs context fd lacks FD_CLOEXEC (flags %#x, %v)", flags, err)
	}
	// Only a context opened inside the user namespace makes a superblock
	// owned by it: creating it from here works, and its root belongs to the
	// namespace's root (the helper became uid 0 there).
	if err := unix.FsconfigSetString(fd, "delegate_cmds", "0x1"); err != nil {
		t.Fatal(err)
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		t.Fatalf("create superblock: %v", err)
	}
	mnt, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(mnt)
	var st unix.Stat_t
	if err := unix.Fstat(mnt, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 100000 || st.Gid != 100000 {
		t.Errorf("bpffs root owned by %d:%d, want the namespace's root 100000:100000", st.Uid, st.Gid)
	}
}

func TestOpenFSContextReportsHelperErrors(t *testing.T) {
	pid := testenv.StartInUserNS(t)
	ns, err := userns.Open(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	_, err = ns.OpenFSContext(context.Background(), "no-such-fs")
	var helperErr *userns.HelperError
	if !errors.As(err, &helperErr) || helperErr.Step != "fsopen" || !errors.Is(err, unix.ENODEV) {
		t.Errorf("OpenFSContext(no-such-fs) = %v, want the helper's fsopen ENODEV", err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := ns.OpenFSContext(ctx, "bpf"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("OpenFSContext with an expired deadline = %v, want DeadlineExceeded", err)
	}
}

// openStandin opens the namespaces of a new stand-in container and returns
// them with the mount namespaces of this process and of the container.
func openStandin(t *testing.T) (ns *userns.Namespaces, self, container string) {
	pid := testenv.StartInUserNS(t)
	ns, err := userns.Open(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	self, _ = os.Readlink("/proc/self/ns/mnt")
	container, _ = os.Readlink("/proc/" + itoa(pid) + "/ns/mnt")
	return ns, self, container
}

func TestDoJoinsOnlyOneThread(t *testing.T) {
	ns, self, want := openStandin(t)
	var inside string
	if err := ns.Do(func() error {
		var err error
		inside, err = os.Readlink("/proc/thread-self/ns/mnt")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inside != want {
		t.Errorf("Do ran in %s, want the container's %s", inside, want)
	}
	if after, _ := os.Readlink("/proc/self/ns/mnt"); after != self {
		t.Errorf("the process left its mount namespace: %s -> %s", self, after)
	}
}

func TestDoHereStaysAndEndsWithItsGoroutine(t *testing.T) {
	ns, self, want := openStandin(t)
	type result struct {
		inside, after string
		tid           int
		err           error
	}
	done := make(chan result)
	// Its own goroutine, off the main thread: the test's goroutine would
	// carry the namespace into cleanups, and the main thread, which Go
	// never ends, would keep it for the rest of the test binary.
	offMainThread(func() {
		var r result
		r.err = ns.DoHere(func() error {
			r.tid = unix.Gettid()
			var err error
			r.inside, err = os.Readlink("/proc/thread-self/ns/mnt")
			return err
		})
		r.after, _ = os.Readlink("/proc/thread-self/ns/mnt")
		done <- r
	})
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.inside != want || r.after != want {
		t.Errorf("DoHere ran in %s and its goroutine went on in %s, want the container's %s for both", r.inside, r.after, want)
	}
	if now, _ := os.Readlink("/proc/self/ns/mnt"); now != self {
		t.Errorf("the process's main thread left its mount namespace: %s -> %s", self, now)
	}
	// The goroutine has ended locked: the runtime ends its thread.
	task := "/proc/self/task/" + itoa(r.tid)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(task); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %d, in the container's mount namespace, outlived its goroutine", r.tid)
		}
	}
}

// offMainThread runs fn in a new goroutine on a thread other than the
// main one.
func offMainThread(fn func()) {
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			defer runtime.UnlockOSThread()
			offMainThread(fn)
			return
		}
		fn()
	}()
}

func itoa(i int) string { return strconv.Itoa(i) }
