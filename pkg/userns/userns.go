// Package userns lets a privileged host process act inside a container's user
// and mount namespaces.
//
// Its one hard constraint: a multi-threaded process cannot join a user
// namespace (setns(CLONE_NEWUSER) fails with EINVAL), and every Go program is
// multi-threaded. So the one step that must run inside the container's user
// namespace, opening a filesystem context owned by it, runs in a
// single-threaded child started by the C code of package fscontext (see there
// why a child of our own and not a re-exec of the binary). Joining just the mount namespace needs no
// child: it works on a locked OS thread that has unshared its filesystem
// attributes, and that thread is never handed back to the scheduler.
package userns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/procfs"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/userns/fscontext"
)

var (
	// ErrHostUserNamespace means the process shares the caller's (the host's)
	// user namespace: a BPF token cannot be created for it.
	ErrHostUserNamespace = errors.New("no user namespace of its own")
	// ErrNoProcess means the process is gone (or never existed).
	ErrNoProcess = errors.New("no such process")
)

// Namespaces holds open handles on the user and mount namespaces of one
// process, and a pidfd that pins that process for as long as they are open.
type Namespaces struct {
	Pid   int
	pidfd int
	user  *os.File
	mount *os.File
	// uidMap and gidMap are the process's id mappings, read while pinned.
	uidMap, gidMap []procfs.IDMap
}

// Open opens the user and mount namespaces of pid. It fails with
// ErrHostUserNamespace when pid is in the caller's own user namespace, and
// with ErrNoProcess when pid does not exist or died while being opened (its
// pid may have been reused, so the handles would not be its).
func Open(pid int) (*Namespaces, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
	}
	// A pidfd pins the identity of the process: while it is alive, its pid
	// names it and nothing else, so what /proc/<pid> shows is its own.
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
		}
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) {
			// A thread id, not a process's: the state must name the process.
			return nil, fmt.Errorf("pid %d is not a process (a thread's id?): %w", pid, ErrNoProcess)
		}
		return nil, fmt.Errorf("open pidfd of pid %d: %w", pid, err)
	}
	ns, err := openPinned(pidfd, pid)
	if err != nil {
		unix.Close(pidfd)
	}
	return ns, err
}

// OpenPidfd is Open for the process a caller already holds by pidfd (and
// whose pid is pid): everything is read from that process, never from
// whichever process has its number later. The caller keeps its pidfd.
func OpenPidfd(pidfd, pid int) (*Namespaces, error) {
	if got, err := pidOfPidfd(pidfd); err != nil || got != pid {
		return nil, fmt.Errorf("pidfd %d does not hold pid %d (%d, %v): %w", pidfd, pid, got, err, ErrNoProcess)
	}
	own, err := unix.FcntlInt(uintptr(pidfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicate pidfd of pid %d: %w", pid, err)
	}
	ns, err := openPinned(own, pid)
	if err != nil {
		unix.Close(own)
	}
	return ns, err
}

// pidOfPidfd reads the pid a pidfd refers to from its fdinfo; -1 once the
// process has been reaped.
func pidOfPidfd(pidfd int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", pidfd))
	if err != nil {
		return 0, err
	}
	if v, ok := procfs.Field(string(data), "Pid"); ok {
		return strconv.Atoi(v)
	}
	return 0, errors.New("not a pidfd")
}

// openPinned opens what Namespaces holds while pidfd (owned from here on)
// pins pid, and checks afterwards that pid was alive all along.
func openPinned(pidfd, pid int) (*Namespaces, error) {
	ns := &Namespaces{Pid: pid, pidfd: -1}
	var err error
	fail := func(err error) (*Namespaces, error) {
		ns.Close()
		return nil, err
	}
	if ns.user, err = openNS(pid, "user"); err != nil {
		return fail(err)
	}
	if ns.mount, err = openNS(pid, "mnt"); err != nil {
		return fail(err)
	}
	if ns.uidMap, err = procfs.ReadUIDMap(pid); err != nil {
		return fail(err)
	}
	if ns.gidMap, err = procfs.ReadGIDMap(pid); err != nil {
		return fail(err)
	}
	// Signal 0 checks that the process is still there: ESRCH once it has
	// exited. EPERM says it is there, and that the caller may not signal
	// it (a service without CAP_KILL, as bpftokend's unit leaves it).
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil && !errors.Is(err, unix.EPERM) {
		return fail(fmt.Errorf("pid %d exited while its namespaces were opened: %w", pid, ErrNoProcess))
	}
	ns.pidfd = pidfd
	same, err := sameFile(ns.user, "/proc/self/ns/user")
	if err != nil {
		return fail(err)
	}
	if same {
		return fail(fmt.Errorf("pid %d: %w", pid, ErrHostUserNamespace))
	}
	return ns, nil
}

func openNS(pid int, kind string) (*os.File, error) {
	path := fmt.Sprintf("/proc/%d/ns/%s", pid, kind)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("open %s namespace of pid %d: %w", kind, pid, ErrNoProcess)
		}
		return nil, fmt.Errorf("open %s namespace of pid %d: %w", kind, pid, err)
	}
	return f, nil
}

func sameFile(f *os.File, path string) (bool, error) {
	var a, b unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &a); err != nil {
		return false, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	if err := unix.Stat(path, &b); err != nil {
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
	return a.Dev == b.Dev && a.Ino == b.Ino, nil
}

// Close releases the namespace handles and the pidfd.
func (n *Namespaces) Close() error {
	var errs []error
	for _, f := range []*os.File{n.user, n.mount} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	if n.pidfd >= 0 {
		errs = append(errs, unix.Close(n.pidfd))
	}
	n.user, n.mount, n.pidfd = nil, nil, -1
	return errors.Join(errs...)
}

// ErrUnexpectedUserNamespace means the process is not in the user namespace
// the runtime said its container has.
var ErrUnexpectedUserNamespace = errors.New("process is not in the container's user namespace")

// Expect is what the runtime says of a container's user namespace; zero
// fields are not checked.
type Expect struct {
	// Path names the namespace: /proc/<pid>/ns/user of a process known to
	// be in it, or a bind mount of it.
	Path string
	// UIDMap and GIDMap are the mappings the runtime gave it.
	UIDMap, GIDMap []procfs.IDMap
}

// Check fails with ErrUnexpectedUserNamespace unless the process's user
// namespace is the one e describes.
func (n *Namespaces) Check(e Expect) error {
	if e.Path != "" {
		same, err := sameFile(n.user, e.Path)
		if err != nil {
			return fmt.Errorf("pid %d: %w: %w", n.Pid, ErrUnexpectedUserNamespace, err)
		}
		if !same {
			return fmt.Errorf("pid %d: %w (%s names another)", n.Pid, ErrUnexpectedUserNamespace, e.Path)
		}
	}
	if e.UIDMap != nil && !sameMaps(n.uidMap, e.UIDMap) {
		return fmt.Errorf("pid %d: %w: its uid_map is %v, the container's is %v", n.Pid, ErrUnexpectedUserNamespace, n.uidMap, e.UIDMap)
	}
	if e.GIDMap != nil && !sameMaps(n.gidMap, e.GIDMap) {
		return fmt.Errorf("pid %d: %w: its gid_map is %v, the container's is %v", n.Pid, ErrUnexpectedUserNamespace, n.gidMap, e.GIDMap)
	}
	return nil
}

// sameMaps compares mappings as sets: the kernel shows them in the order
// they were written, which runtimes need not keep.
func sameMaps(a, b []procfs.IDMap) bool {
	if len(a) != len(b) {
		return false
	}
	for _, m := range a {
		if !slices.Contains(b, m) {
			return false
		}
	}
	return true
}

// RootIDs returns the host uid and gid that the namespace's root (uid and
// gid 0) maps to, or -1 for an id that is not mapped.
func (n *Namespaces) RootIDs() (uid, gid int) {
	return procfs.RootID(n.uidMap), procfs.RootID(n.gidMap)
}

// MapsHost reports whether host uid and gid both have an id in the
// namespace: the kernel's test (capable_wrt_inode_uidgid) for whether the
// namespace's root may act on a file of that owner and group.
func (n *Namespaces) MapsHost(uid, gid uint32) bool {
	return procfs.MapsOutside(n.uidMap, uid) && procfs.MapsOutside(n.gidMap, gid)
}

// OpenFSContext opens a filesystem context (fsopen) of type fstype from
// inside the namespaces, as the namespace's root user, so that the
// superblock created from it belongs to the namespace's user namespace and
// its root directory to the namespace's root. The caller owns the returned
// fd (O_CLOEXEC) and must close it. Failures inside the helper are
// *HelperError. The helper makes only system calls that never wait on a
// file system (setns, setresuid, fsopen), so it needs no deadline.
func (n *Namespaces) OpenFSContext(fstype string) (int, error) {
	fd, err := fscontext.Open(int(n.user.Fd()), int(n.mount.Fd()), fstype)
	if err != nil {
		return -1, fmt.Errorf("open %s fs context in namespaces of pid %d: %w", fstype, n.Pid, err)
	}
	return fd, nil
}

// HelperError is a failure inside the namespace helper: the step that failed
// and the errno it got (errors.Is works on the errno).
type HelperError = fscontext.Error

// Commit is what DoOnThrowawayThread gives fn: fn calls it right before the step it cannot
// take back (a mount), and when it returns false the caller has given up
// waiting, so fn must undo what it did and return. After a true, the caller
// waits for fn however long it takes: the steps after a commit must never
// wait on a file system the container controls.
type Commit func() bool

// ErrGaveUp means DoOnThrowawayThread stopped waiting for its function, which goes on on a
// thread of its own (see DoOnThrowawayThread).
var ErrGaveUp = errors.New("gave up waiting")

// abandoned counts the threads DoOnThrowawayThread gave up on that still run (stuck in a
// system call on a hung file system of a container).
var abandoned atomic.Int64

// Abandoned returns how many threads DoOnThrowawayThread gave up on are still running: a
// long-lived caller refuses more work while too many are, so that hung
// volumes cannot pile threads up.
func Abandoned() int { return int(abandoned.Load()) }

// DoOnThrowawayThread runs fn on an OS thread that has joined the mount
// namespace, and that thread never comes back: it is discarded afterwards
// (never returned to the Go scheduler), so nothing else in the program ever
// runs in that namespace.
//
// When ctx ends before fn calls its Commit, DoOnThrowawayThread returns ctx's error at once
// and leaves the thread behind: a system call on a hung volume (a FUSE
// daemon that stopped, an NFS server gone) can block it for ever, and no
// signal but a fatal one, which would end the whole process, interrupts it.
// Whenever it returns, fn's Commit says false and fn undoes its work.
func (n *Namespaces) DoOnThrowawayThread(ctx context.Context, fn func(Commit) error) error {
	const (
		running = iota
		committed
		finished
		gaveUp
	)
	var state atomic.Int32
	commit := func() bool { return state.CompareAndSwap(running, committed) }
	// The thread may outlive this call, and n with it: it joins through an fd of
	// its own, never one a caller may have closed and the number reused.
	mnt, err := unix.FcntlInt(n.mount.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("duplicate mount namespace fd of pid %d: %w", n.Pid, err)
	}
	errc := make(chan error, 1)
	onThrowawayThread(func() {
		err := join(mnt, n.Pid)
		unix.Close(mnt)
		if err == nil {
			err = fn(commit)
		}
		if !state.CompareAndSwap(running, finished) && state.Load() == gaveUp {
			abandoned.Add(-1)
		}
		errc <- err
	})
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		if state.CompareAndSwap(running, gaveUp) {
			abandoned.Add(1)
			return fmt.Errorf("work in the mount namespace of pid %d: %w: %w (a file system on the way, such as a FUSE or NFS volume, does not answer)", n.Pid, ErrGaveUp, ctx.Err())
		}
		// fn has committed: the rest is bounded, wait for it.
		return <-errc
	}
}

// onThrowawayThread runs fn on a new goroutine locked to an OS thread that
// is not the main thread, and never unlocks it: when fn returns, the runtime
// ends the thread. The main thread is never ended (the runtime parks it
// instead), and it would keep a container's mount namespace alive.
func onThrowawayThread(fn func()) {
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// Hold the main thread until fn runs on another, or the new
			// goroutine may land on it again, and again.
			defer runtime.UnlockOSThread()
			started := make(chan struct{})
			onThrowawayThread(func() {
				close(started)
				fn()
			})
			<-started
			return
		}
		fn()
	}()
}

// DoAndStay runs fn as DoOnThrowawayThread does, but on the calling goroutine's own OS thread,
// and leaves the goroutine locked to that thread, inside the mount
// namespace, for the rest of its life: when the goroutine ends, the runtime
// ends the thread with it, except the program's main thread, which Go never
// ends and which then stays there until the program exits. This spares
// starting a thread and handing the result back to another (0.3 ms of the
// OCI hook's 6 ms here), which only a program that ends right after can
// use. After DoAndStay, the calling goroutine must not rely on the host's mount
// namespace or the process's working directory: paths resolve in the
// container. Nothing here can give up on fn: a caller that needs a deadline
// ends the process when it passes (which ends a blocked system call too).
func (n *Namespaces) DoAndStay(fn func(Commit) error) error {
	runtime.LockOSThread()
	if err := join(int(n.mount.Fd()), n.Pid); err != nil {
		return err
	}
	return fn(func() bool { return true })
}

// join moves the calling thread, locked to its goroutine, into the mount
// namespace mntns (of pid, for messages).
func join(mntns, pid int) error {
	// setns(CLONE_NEWNS) needs filesystem attributes (root, cwd) that no
	// other thread shares.
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare fs attributes: %w", err)
	}
	if err := unix.Setns(mntns, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("join mount namespace of pid %d: %w", pid, err)
	}
	return nil
}
