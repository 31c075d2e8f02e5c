// Package testenv decides whether privileged tests can run here, and fails
// them instead of skipping when BPFTOKEN_REQUIRE_PRIVILEGED=1 (as in CI),
// where a skipped privileged test would hide a broken machine or change.
//
// Its one hard constraint: it is the one place tests skip, so that no skip
// escapes BPFTOKEN_REQUIRE_PRIVILEGED=1.
package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/procfs"
)

// RequireEnv is the variable that turns skips of privileged tests into
// failures.
const RequireEnv = "BPFTOKEN_REQUIRE_PRIVILEGED"

var (
	once   sync.Once
	reason string
)

// Privileged skips (or, with BPFTOKEN_REQUIRE_PRIVILEGED=1, fails) t unless
// it runs as root on a kernel with BPF tokens and user namespaces, and not
// with -short (make test-unit).
func Privileged(t testing.TB) {
	t.Helper()
	if why := WhyNotPrivileged(); why != "" {
		Unavailable(t, why)
	}
}

// WhyNotPrivileged says why privileged tests cannot run here, or "" when
// they can. Flags must be parsed (as in a test, or after flag.Parse in
// TestMain).
func WhyNotPrivileged() string {
	if testing.Short() {
		return "privileged test, left out by -short (make test-unit)"
	}
	once.Do(func() { reason = whyNot() })
	return reason
}

// Required reports whether privileged tests must run (BPFTOKEN_REQUIRE_PRIVILEGED=1).
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Unavailable skips t because the machine lacks what it needs (why says
// what), or fails it with BPFTOKEN_REQUIRE_PRIVILEGED=1, where the machine
// must have it. It is the one place tests skip.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("test cannot run: %s (%s=1 forbids skipping)", why, RequireEnv)
	}
	t.Skipf("test skipped: %s", why)
}

func whyNot() string {
	if os.Geteuid() != 0 {
		return "not running as root"
	}
	release, err := procfs.KernelRelease()
	if err != nil {
		return err.Error()
	}
	if !procfs.KernelAtLeast(release, 6, 9) {
		return fmt.Sprintf("kernel %s has no BPF tokens (needs 6.9)", release)
	}
	if limit, err := procfs.Sysctl("user.max_user_namespaces"); err == nil && limit == "0" {
		return "user namespaces are disabled (user.max_user_namespaces=0)"
	}
	return ""
}

// ContainerProcAttr makes a started process look like a container's init:
// in a new user namespace (0 -> 100000, 65536 ids), as its root, and in a new
// mount namespace.
//
// No Pdeathsig: it fires when the forking thread exits, and code under test
// (userns.Namespaces.DoOnThrowawayThread) ends threads on purpose.
func ContainerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}},
		Credential:  &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true},
	}
}

// StartInUserNS starts "sleep" in a new user namespace (0 -> 100000, 65536
// ids) and a new mount namespace, as root there, and returns its pid; the
// process is killed when the test ends.
func StartInUserNS(t testing.TB) int {
	t.Helper()
	Privileged(t)
	cmd := exec.Command("sleep", "600")
	cmd.SysProcAttr = ContainerProcAttr()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start process in a user namespace: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd.Process.Pid
}

// HungFUSE mounts at dir, in the calling thread's mount namespace, a FUSE
// file system whose daemon never answers, as a FUSE daemon that stopped
// does: every access at or below dir blocks until release, which aborts the
// connection (those accesses then fail with ENOTCONN) and detaches the
// mount where it is visible to the caller. Release runs at the end of the
// test too.
func HungFUSE(t testing.TB, dir string) (release func()) {
	t.Helper()
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		Unavailable(t, fmt.Sprintf("open /dev/fuse: %v", err))
	}
	opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0", fd)
	if err := unix.Mount("bpftoken-test", dir, "fuse", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		unix.Close(fd)
		t.Fatalf("mount a FUSE file system at %s: %v", dir, err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			// The last close of the device aborts the connection.
			unix.Close(fd)
			_ = unix.Unmount(dir, unix.MNT_DETACH)
		})
	}
	t.Cleanup(release)
	return release
}

// DialAs connects a SOCK_SEQPACKET unix socket to path as host uid:uid
// without supplementary groups, as a process of that user would: the
// kernel records the connecting thread's credentials (SO_PEERCRED), so a
// locked thread takes them for the connect and is then thrown away. Root
// only.
func DialAs(path string, uid uint32) (*net.UnixConn, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		for _, c := range [][4]uintptr{{unix.SYS_SETGROUPS, 0, 0}, {unix.SYS_SETRESGID, uintptr(uid), uintptr(uid), uintptr(uid)}, {unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)}} {
			if _, _, e := unix.RawSyscall(c[0], c[1], c[2], c[3]); e != 0 {
				ch <- result{-1, fmt.Errorf("syscall %d: %w", c[0], e)}
				return
			}
		}
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err == nil {
			if err = unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
				unix.Close(fd)
			}
		}
		ch <- result{fd, err}
	}()
	r := <-ch
	if r.err != nil {
		return nil, fmt.Errorf("connect to %s as uid %d: %w", path, uid, r.err)
	}
	f := os.NewFile(uintptr(r.fd), path)
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	return c.(*net.UnixConn), nil
}
