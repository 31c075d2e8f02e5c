// Package userns lets a privileged host process act inside a container's user
// and mount namespaces.
//
// Its one hard constraint: a multi-threaded process cannot join a user
// namespace (setns(CLONE_NEWUSER) fails with EINVAL), and every Go program is
// multi-threaded. So the one step that must run inside the container's user
// namespace, opening a filesystem context owned by it, runs in a
// single-threaded child started by the C code of package nsenter (see there
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
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/userns/nsenter"
)

var (
	// ErrHostUserNamespace means the process shares the caller's (the host's)
	// user namespace: a BPF token cannot be created for it.
	ErrHostUserNamespace = errors.New("no user namespace of its own")
	// ErrNoProcess means the process is gone (or never existed).
	ErrNoProcess = errors.New("no such process")
)

// DefaultHelperTimeout bounds the helper when the context has no deadline.
const DefaultHelperTimeout = 5 * time.Second

// Namespaces holds open handles on the user and mount namespaces of one process.
type Namespaces struct {
	Pid   int
	user  *os.File
	mount *os.File
}

// Open opens the user and mount namespaces of pid. It fails with
// ErrHostUserNamespace when pid is in the caller's own user namespace, and
// with ErrNoProcess when pid does not exist or died while being opened (its
// pid may have been reused, so the handles would not be its).
func Open(pid int) (*Namespaces, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
	}
	// A pidfd pins the identity of the process: if it is still alive after the
	// namespace files are open, those files are its own.
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
	defer unix.Close(pidfd)

	ns := &Namespaces{Pid: pid}
	if ns.user, err = openNS(pid, "user"); err != nil {
		return nil, err
	}
	if ns.mount, err = openNS(pid, "mnt"); err != nil {
		ns.Close()
		return nil, err
	}
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		ns.Close()
		return nil, fmt.Errorf("pid %d exited while its namespaces were opened: %w", pid, ErrNoProcess)
	}
	same, err := sameFile(ns.user, "/proc/self/ns/user")
	if err != nil {
		ns.Close()
		return nil, err
	}
	if same {
		ns.Close()
		return nil, fmt.Errorf("pid %d: %w", pid, ErrHostUserNamespace)
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

// Close releases the namespace handles.
func (n *Namespaces) Close() error {
	var errs []error
	for _, f := range []*os.File{n.user, n.mount} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	n.user, n.mount = nil, nil
	return errors.Join(errs...)
}

// RootIDs returns the host uid and gid that the namespace's root (uid and
// gid 0) maps to, or -1 for an id that is not mapped.
func (n *Namespaces) RootIDs() (uid, gid int, err error) {
	if uid, err = rootID(n.Pid, "uid_map"); err != nil {
		return -1, -1, err
	}
	if gid, err = rootID(n.Pid, "gid_map"); err != nil {
		return -1, -1, err
	}
	return uid, gid, nil
}

func rootID(pid int, file string) (int, error) {
	path := fmt.Sprintf("/proc/%d/%s", pid, file)
	data, err := os.ReadFile(path)
	if err != nil {
		return -1, fmt.Errorf("read %s: %w", path, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		inside, err1 := strconv.ParseUint(f[0], 10, 32)
		outside, err2 := strconv.ParseUint(f[1], 10, 32)
		count, err3 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || err3 != nil {
			return -1, fmt.Errorf("parse %s: bad line %q", path, line)
		}
		if inside == 0 && count > 0 {
			return int(outside), nil
		}
	}
	return -1, nil
}

// OpenFSContext opens a filesystem context (fsopen) of type fstype from
// inside the namespaces, as the namespace's root user, so that the
// superblock created from it belongs to the namespace's user namespace and
// its root directory to the namespace's root. The caller owns the returned
// fd (O_CLOEXEC) and must close it. Failures inside the helper are
// *HelperError.
func (n *Namespaces) OpenFSContext(ctx context.Context, fstype string) (int, error) {
	timeout := DefaultHelperTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = time.Until(deadline)
		if timeout <= 0 {
			return -1, fmt.Errorf("open %s fs context in namespaces of pid %d: %w", fstype, n.Pid, context.DeadlineExceeded)
		}
	}
	fd, err := nsenter.FSOpen(int(n.user.Fd()), int(n.mount.Fd()), fstype, timeout)
	if err != nil {
		return -1, fmt.Errorf("open %s fs context in namespaces of pid %d: %w", fstype, n.Pid, err)
	}
	return fd, nil
}

// HelperError is a failure inside the namespace helper: the step that failed
// and the errno it got (errors.Is works on the errno).
type HelperError = nsenter.Error

// Do runs fn on an OS thread that has joined the mount namespace. The thread
// is discarded afterwards (never returned to the Go scheduler), so nothing
// else in the program ever runs in that namespace.
func (n *Namespaces) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// The main thread is never terminated (the runtime parks it
			// instead), and it would keep the container's mount namespace
			// alive. Hold it while another thread does the work.
			defer runtime.UnlockOSThread()
			errc <- n.Do(fn)
			return
		}
		// No UnlockOSThread: the goroutine exits locked, and the runtime then
		// terminates the thread instead of reusing it.
		if err := n.join(); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// DoHere runs fn as Do does, but on the calling goroutine's own OS thread,
// and leaves the goroutine locked to that thread, inside the mount
// namespace, for the rest of its life: when the goroutine ends, the runtime
// ends the thread with it, except the program's main thread, which Go never
// ends and which then stays there until the program exits. This spares starting a thread and handing the result back to
// another (0.3 ms of the OCI hook's 6 ms here), which only a program that
// ends right after can use. After DoHere, the calling goroutine must not
// rely on the host's mount namespace or the process's working directory:
// paths resolve in the container.
func (n *Namespaces) DoHere(fn func() error) error {
	runtime.LockOSThread()
	if err := n.join(); err != nil {
		return err
	}
	return fn()
}

// join moves the calling thread, locked to its goroutine, into the mount
// namespace.
func (n *Namespaces) join() error {
	// setns(CLONE_NEWNS) needs filesystem attributes (root, cwd) that no
	// other thread shares.
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare fs attributes: %w", err)
	}
	if err := unix.Setns(int(n.mount.Fd()), unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("join mount namespace of pid %d: %w", n.Pid, err)
	}
	return nil
}
