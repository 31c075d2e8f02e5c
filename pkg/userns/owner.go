package userns

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrNotPidfd means an fd that should hold a process is something else.
var ErrNotPidfd = errors.New("not a pidfd")

// ErrForeignNamespace means a process's namespaces do not all belong to one
// chain of user namespaces that a single host user created below the
// caller's: they are someone else's, or the host's.
var ErrForeignNamespace = errors.New("namespaces not created by one host user")

// maxUserNSDepth is the kernel's limit on nested user namespaces (32); a
// walk up the chain never takes more steps.
const maxUserNSDepth = 33

// pidfsMagic is PIDFS_MAGIC (Linux 6.9); before that a pidfd is an anonymous
// inode named [pidfd].
const pidfsMagic = 0x50494446

// OpenByPidfd is OpenPidfd for a pidfd received from another process, whose
// pid the caller learns from the pidfd itself. It fails with ErrNotPidfd
// when fd is not a pidfd, and with ErrNoProcess when its process has exited
// or lives in a pid namespace the caller cannot see.
func OpenByPidfd(pidfd int) (*Namespaces, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(pidfd, &st); err != nil {
		return nil, fmt.Errorf("fstatfs fd %d: %w", pidfd, err)
	}
	if st.Type != pidfsMagic {
		link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", pidfd))
		if err != nil || link != "anon_inode:[pidfd]" {
			return nil, fmt.Errorf("fd %d: %w", pidfd, ErrNotPidfd)
		}
	}
	pid, err := pidOfPidfd(pidfd)
	if err != nil {
		return nil, fmt.Errorf("fd %d: %w: %w", pidfd, ErrNotPidfd, err)
	}
	if pid <= 0 {
		// -1: reaped; 0: in a pid namespace that is not the caller's.
		return nil, fmt.Errorf("pidfd: the process has exited or is in a pid namespace this one cannot see (pid %d): %w", pid, ErrNoProcess)
	}
	return OpenPidfd(pidfd, pid)
}

// Owner returns the host uid that owns the process's user namespace chain:
// the creator of the outermost user namespace below the caller's on the
// way from the process's. It fails with ErrForeignNamespace unless the
// process's mount namespace belongs to that same chain, so that whoever owns
// the chain also has every privilege over where a mount would go.
//
// A user owns every namespace nested in one they created (the kernel gives
// the creator all capabilities there), so the chain's owner is who decides
// what happens in the process's namespaces.
func (n *Namespaces) Owner() (uint32, error) {
	self, err := os.Open("/proc/self/ns/user")
	if err != nil {
		return 0, err
	}
	defer self.Close()
	userTop, err := topUserNS(int(n.user.Fd()), int(self.Fd()))
	if err != nil {
		return 0, fmt.Errorf("user namespace of pid %d: %w", n.Pid, err)
	}
	defer unix.Close(userTop)
	mntUser, err := unix.IoctlRetInt(int(n.mount.Fd()), unix.NS_GET_USERNS)
	if err != nil {
		return 0, fmt.Errorf("owner of the mount namespace of pid %d: %w", n.Pid, err)
	}
	mntTop, err := topUserNS(mntUser, int(self.Fd()))
	unix.Close(mntUser)
	if err != nil {
		return 0, fmt.Errorf("mount namespace of pid %d: %w", n.Pid, err)
	}
	defer unix.Close(mntTop)
	same, err := sameNS(userTop, mntTop)
	if err != nil {
		return 0, err
	}
	if !same {
		return 0, fmt.Errorf("pid %d: %w: its mount namespace belongs to another user namespace chain than its user namespace", n.Pid, ErrForeignNamespace)
	}
	uid, err := unix.IoctlGetUint32(userTop, unix.NS_GET_OWNER_UID)
	if err != nil {
		return 0, fmt.Errorf("owner of the user namespace of pid %d: %w", n.Pid, err)
	}
	return uid, nil
}

// topUserNS returns a new fd of the user namespace that is a child of the
// caller's (self) on the way up from the user namespace fd. It fails with
// ErrForeignNamespace when fd is the caller's own user namespace, or not
// below it.
func topUserNS(fd, self int) (int, error) {
	if same, err := sameNS(fd, self); err != nil || same {
		if err != nil {
			return -1, err
		}
		return -1, fmt.Errorf("%w: it is the host's", ErrForeignNamespace)
	}
	cur, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	for range maxUserNSDepth {
		parent, err := unix.IoctlRetInt(cur, unix.NS_GET_PARENT)
		if err != nil {
			unix.Close(cur)
			if errors.Is(err, unix.EPERM) {
				// The parent lies outside the caller's user namespace.
				return -1, fmt.Errorf("%w: it is not below this service's user namespace", ErrForeignNamespace)
			}
			return -1, fmt.Errorf("parent user namespace: %w", err)
		}
		same, err := sameNS(parent, self)
		if err != nil || same {
			unix.Close(parent)
			if err != nil {
				unix.Close(cur)
				return -1, err
			}
			return cur, nil
		}
		unix.Close(cur)
		cur = parent
	}
	unix.Close(cur)
	return -1, fmt.Errorf("%w: more than %d nested user namespaces", ErrForeignNamespace, maxUserNSDepth)
}

// sameNS reports whether two namespace fds refer to the same namespace.
func sameNS(a, b int) (bool, error) {
	var sa, sb unix.Stat_t
	if err := unix.Fstat(a, &sa); err != nil {
		return false, fmt.Errorf("stat namespace: %w", err)
	}
	if err := unix.Fstat(b, &sb); err != nil {
		return false, fmt.Errorf("stat namespace: %w", err)
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino, nil
}
