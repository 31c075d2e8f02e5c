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

	"github.com/nri-bpftoken/nri-bpftoken/internal/procfs"
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
	uid, gid := ns.RootIDs()
	if uid != 100000 || gid != 100000 {
		t.Errorf("RootIDs() = %d, %d; want 100000, 100000", uid, gid)
	}
}

func TestOpenFSContextBelongsToTheNamespace(t *testing.T) {
	pid := testenv.StartInUserNS(t)
	ns, err := userns.Open(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	fd, err := ns.OpenFSContext("bpf")
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
	_, err = ns.OpenFSContext("no-such-fs")
	var helperErr *userns.HelperError
	if !errors.As(err, &helperErr) || helperErr.Step != "fsopen" || !errors.Is(err, unix.ENODEV) {
		t.Errorf("OpenFSContext(no-such-fs) = %v, want the helper's fsopen ENODEV", err)
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

func TestDoOnThrowawayThreadJoinsOnlyOneThread(t *testing.T) {
	ns, self, want := openStandin(t)
	var inside string
	if err := ns.DoOnThrowawayThread(context.Background(), func(userns.Commit) error {
		var err error
		inside, err = os.Readlink("/proc/thread-self/ns/mnt")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inside != want {
		t.Errorf("DoOnThrowawayThread ran in %s, want the container's %s", inside, want)
	}
	if after, _ := os.Readlink("/proc/self/ns/mnt"); after != self {
		t.Errorf("the process left its mount namespace: %s -> %s", self, after)
	}
}

func TestDoAndStayStaysAndEndsWithItsGoroutine(t *testing.T) {
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
		r.err = ns.DoAndStay(func(userns.Commit) error {
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
		t.Errorf("DoAndStay ran in %s and its goroutine went on in %s, want the container's %s for both", r.inside, r.after, want)
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

// A hung volume in the container (a FUSE daemon that stopped) blocks the
// thread that resolves a path through it for as long as it hangs. DoOnThrowawayThread gives
// up at the deadline, the function's Commit then says false, and the
// thread is counted until it returns.
func TestDoOnThrowawayThreadGivesUpOnAHungFileSystem(t *testing.T) {
	ns, _, _ := openStandin(t)
	dir := t.TempDir()
	var release func()
	// The FUSE mount exists only in the container's mount namespace.
	if err := ns.DoOnThrowawayThread(context.Background(), func(userns.Commit) error {
		release = testenv.HungFUSE(t, dir)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	committed := make(chan bool, 1)
	start := time.Now()
	err := ns.DoOnThrowawayThread(ctx, func(commit userns.Commit) error {
		var st unix.Stat_t
		err := unix.Stat(dir+"/x", &st)
		committed <- commit()
		return err
	})

	if !errors.Is(err, userns.ErrGaveUp) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DoOnThrowawayThread on a hung file system = %v, want ErrGaveUp and DeadlineExceeded", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("DoOnThrowawayThread returned after %s, long after its deadline", waited)
	}
	if n := userns.Abandoned(); n != 1 {
		t.Errorf("Abandoned() = %d with one thread stuck, want 1", n)
	}
	release()
	if c := <-committed; c {
		t.Error("the function's Commit said true after DoOnThrowawayThread gave up")
	}
	for deadline := time.Now().Add(5 * time.Second); userns.Abandoned() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Abandoned() = %d after the file system answered, want 0", userns.Abandoned())
		}
	}
}

// The namespaces are those of the process the pidfd holds, and the runtime's
// word on the user namespace is checked against them.
func TestOpenPidfdAndCheck(t *testing.T) {
	pid := testenv.StartInUserNS(t)
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	if ns, err := userns.OpenPidfd(pidfd, os.Getpid()); !errors.Is(err, userns.ErrNoProcess) {
		if ns != nil {
			ns.Close()
		}
		t.Fatalf("OpenPidfd with another pid = %v, want ErrNoProcess", err)
	}
	ns, err := userns.OpenPidfd(pidfd, pid)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	other := testenv.StartInUserNS(t) // same mappings, another namespace
	m := []procfs.IDMap{{Inside: 0, Outside: 100000, Count: 65536}}
	tests := []struct {
		name   string
		expect userns.Expect
		ok     bool
	}{
		{"nothing expected", userns.Expect{}, true},
		{"its own namespace", userns.Expect{Path: "/proc/" + itoa(pid) + "/ns/user"}, true},
		{"its mappings", userns.Expect{UIDMap: m, GIDMap: m}, true},
		{"another namespace with the same mappings", userns.Expect{Path: "/proc/" + itoa(other) + "/ns/user"}, false},
		{"the host's namespace", userns.Expect{Path: "/proc/self/ns/user"}, false},
		{"other uid mappings", userns.Expect{UIDMap: []procfs.IDMap{{Inside: 0, Outside: 200000, Count: 65536}}}, false},
		{"a path that does not exist", userns.Expect{Path: "/nonexistent"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ns.Check(tt.expect)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, userns.ErrUnexpectedUserNamespace)) {
				t.Errorf("Check(%+v) = %v, want ok=%v", tt.expect, err, tt.ok)
			}
		})
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
