package bpffs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/mountinfo"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/userns"
)

var (
	// ErrOtherMount means something other than this container's delegated
	// bpffs is already mounted at the mount path.
	ErrOtherMount = errors.New("another filesystem is already mounted there")
	// ErrSharedMount means the mount path lies on a mount that propagates to
	// other mount namespaces, so a mount there could appear on the host.
	ErrSharedMount = errors.New("mount path is on a shared mount")
	// ErrVerify means the mount was made but does not look as requested.
	ErrVerify = errors.New("mounted bpffs does not match the request")
)

// Target says where a delegated bpffs goes.
type Target struct {
	// Pid is a process in the container: runc's init at createRuntime, the
	// container's process after pivot_root. ProvisionWith ignores it: the
	// namespaces given there name the process.
	Pid int
	// Rootfs is the container's root directory as seen from its own mount
	// namespace: the bundle's root.path before pivot_root, "/" after it.
	Rootfs string
	// Delegation holds the delegate masks and the path inside the container.
	Delegation spec.Delegation
	// Expect is what the runtime says the container's user namespace is;
	// a process elsewhere is refused (userns.ErrUnexpectedUserNamespace).
	Expect userns.Expect
	// Unprivileged says that an unprivileged user owns the container's
	// mount namespace and chose Rootfs, and sees the host's files there:
	// the mount path's missing directories are then made (and removed
	// again on failure) only in directories whose owner and group the
	// container's user namespace maps, where the container's root could
	// make them itself (ErrNotContainers otherwise).
	Unprivileged bool
}

// Result describes a provisioned bpffs.
type Result struct {
	// MountID is the kernel's id of the bpffs mount in the container.
	MountID uint64
	// SuperOptions are the superblock options the kernel shows for it.
	SuperOptions string
	// AlreadyMounted is true when an identical delegated bpffs was already
	// there (the hook ran twice) and nothing was mounted.
	AlreadyMounted bool
}

// Provision gives the container at t a delegated bpffs at
// t.Delegation.Path. On error nothing it made is left behind: no mount, no
// directory it created, no helper process, no fd. When ctx ends first it
// returns at once (see userns.Namespaces.DoOnThrowawayThread); the work it leaves behind,
// stuck on a hung file system, mounts nothing when it resumes.
func Provision(ctx context.Context, t Target) (*Result, error) {
	ns, err := userns.Open(t.Pid)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	return ProvisionWith(ctx, ns, t)
}

// ProvisionAndStay is Provision for a program that ends right after it, as
// the OCI hook does: the work inside the container's mount namespace runs
// on the calling goroutine's own thread, which stays there (see
// userns.Namespaces.DoAndStay). Afterwards the calling goroutine must not use
// host paths. ctx bounds nothing once that work has started: the program
// enforces its deadline by exiting.
func ProvisionAndStay(ctx context.Context, t Target) (*Result, error) {
	ns, err := userns.Open(t.Pid)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	return provision(ns, t, func(fn func(userns.Commit) error) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return ns.DoAndStay(fn)
	})
}

// ProvisionWith is Provision with namespaces the caller already opened (for
// instance with userns.OpenPidfd, on a process it holds).
func ProvisionWith(ctx context.Context, ns *userns.Namespaces, t Target) (*Result, error) {
	return provision(ns, t, func(fn func(userns.Commit) error) error { return ns.DoOnThrowawayThread(ctx, fn) })
}

// provision does the work; inMountNS runs a function inside the container's
// mount namespace.
func provision(ns *userns.Namespaces, t Target, inMountNS func(func(userns.Commit) error) error) (*Result, error) {
	if err := checkTarget(ns, t); err != nil {
		return nil, err
	}
	mntfd, err := newMount(ns, t.Delegation)
	if err != nil {
		return nil, err
	}
	return attach(ns, t, mntfd, inMountNS)
}

// checkTarget refuses a mount path that is not below / and a process that
// is not in the user namespace the runtime said.
func checkTarget(ns *userns.Namespaces, t Target) error {
	if !path.IsAbs(t.Delegation.Path) || t.Delegation.Path == "/" {
		return fmt.Errorf("mount path %q: must be an absolute path below /", t.Delegation.Path)
	}
	return ns.Check(t.Expect)
}

// newMount makes a delegated bpffs owned by the user namespace of ns and
// returns a detached mount of it.
func newMount(ns *userns.Namespaces, d spec.Delegation) (int, error) {
	fsfd, err := ns.OpenFSContext("bpf")
	if err != nil {
		// Only fsopen itself failing says the kernel lacks bpffs in user
		// namespaces; EPERM from joining a namespace has other causes.
		var he *userns.HelperError
		if errors.As(err, &he) && he.Step == "fsopen" && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENODEV)) {
			return -1, fmt.Errorf("%w: %w", ErrNoTokenSupport, err)
		}
		return -1, err
	}
	defer unix.Close(fsfd)
	return Create(fsfd, d)
}

// attach mounts the detached mount mntfd (which it owns from here on) at
// the target path inside the container.
func attach(ns *userns.Namespaces, t Target, mntfd int, inMountNS func(func(userns.Commit) error) error) (*Result, error) {
	uid, gid := ns.RootIDs()
	var mayCreate createCheck
	if t.Unprivileged {
		mayCreate = func(dir int) error {
			var st unix.Stat_t
			if err := unix.Fstat(dir, &st); err != nil {
				return err
			}
			if !ns.MapsHost(st.Uid, st.Gid) {
				return fmt.Errorf("%w: owned by %d:%d, which the container's user namespace does not map", ErrNotContainers, st.Uid, st.Gid)
			}
			return nil
		}
	}
	// The container's /proc may be another pid namespace's (after
	// pivot_root) or missing; the host's is opened here, before joining.
	proc, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(mntfd)
		return nil, fmt.Errorf("open /proc: %w", err)
	}
	// The work in the mount namespace owns both fds: when its caller gives
	// up on it, it still uses them, and closes them when it ends.
	var closeOnce sync.Once
	closeFDs := func() {
		closeOnce.Do(func() {
			unix.Close(mntfd)
			unix.Close(proc)
		})
	}
	var res *Result
	err = inMountNS(func(commit userns.Commit) error {
		defer closeFDs()
		r, err := mountInto(proc, mntfd, t, uid, gid, mayCreate, commit)
		if err == nil {
			res = r
		}
		return err
	})
	if errors.Is(err, userns.ErrGaveUp) {
		return nil, err
	}
	closeFDs()
	return res, err
}

// errGaveUp is what the work in the mount namespace returns when its caller
// stopped waiting before it could mount.
var errGaveUp = errors.New("deadline passed before the mount: nothing mounted")

// mountInto runs in the container's mount namespace.
func mountInto(proc, mntfd int, t Target, uid, gid int, mayCreate createCheck, commit userns.Commit) (*Result, error) {
	root, err := unix.Open(t.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open container rootfs %s: %w", t.Rootfs, err)
	}
	defer unix.Close(root)

	rel := strings.TrimPrefix(path.Clean(t.Delegation.Path), "/")
	dir, created, err := mkdirInRoot(root, rel, uid, gid, mayCreate)
	if err != nil {
		return nil, fmt.Errorf("mount path %s in container rootfs: %w", t.Delegation.Path, err)
	}
	defer unix.Close(dir)
	fail := func(err error) (*Result, error) {
		removeCreated(root, created, mayCreate)
		return nil, err
	}

	here, err := mountAt(proc, dir)
	if err != nil {
		return fail(err)
	}
	if here.isRoot {
		if here.entry.FSType == "bpf" && checkDelegation(here.entry, t.Delegation) == nil {
			return &Result{MountID: here.entry.ID, SuperOptions: here.entry.SuperOpts, AlreadyMounted: true}, nil
		}
		return fail(fmt.Errorf("mount path %s: %w (%s %s); remove that mount or choose another bpf.token/path",
			spec.Echo(t.Delegation.Path), ErrOtherMount, here.entry.FSType, spec.Echo(here.entry.SuperOpts)))
	}
	if here.entry.Shared() {
		return fail(fmt.Errorf("mount path %s: %w (mount %s); the runtime must give the container a private or slave rootfs",
			spec.Echo(t.Delegation.Path), ErrSharedMount, spec.Echo(here.entry.MountPoint)))
	}

	// From here on nothing waits on a file system of the container's: the
	// mount and its check touch only the bpffs.
	if !commit() {
		return fail(errGaveUp)
	}
	if err := unix.MoveMount(mntfd, "", dir, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fail(fmt.Errorf("mount bpffs at %s in the container: %w", t.Delegation.Path, err))
	}
	// mntfd now refers to the attached mount's root.
	got, err := mountAt(proc, mntfd)
	if err == nil {
		err = verify(got.entry, t.Delegation)
	}
	if err != nil {
		// Detach through the fd, not a path: nothing can redirect it. This
		// thread's cwd is its own (CLONE_FS was unshared).
		if unix.Fchdir(mntfd) == nil {
			_ = unix.Unmount(".", unix.MNT_DETACH)
		}
		return fail(err)
	}
	return &Result{MountID: got.entry.ID, SuperOptions: got.entry.SuperOpts}, nil
}

type mountPos struct {
	entry  *mountinfo.Entry
	isRoot bool // the fd is the root of that mount
}

// mountAt finds the mount that fd lies on, in the calling thread's mount
// namespace: from statmount(2) where the kernel supports it (6.15), which
// describes that one mount, else from the thread's mountinfo.
func mountAt(proc, fd int) (*mountPos, error) {
	var st unix.Statx_t
	if !forceMountinfo && mountinfo.CanStat() {
		if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID_UNIQUE, &st); err != nil {
			return nil, fmt.Errorf("statx: %w", err)
		}
		if st.Mask&unix.STATX_MNT_ID_UNIQUE != 0 {
			e, err := mountinfo.Stat(st.Mnt_id)
			if err == nil {
				return &mountPos{entry: e, isRoot: st.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0}, nil
			}
			if !errors.Is(err, mountinfo.ErrNoStatmount) {
				return nil, err
			}
		}
	}
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &st); err != nil {
		return nil, fmt.Errorf("statx: %w", err)
	}
	if st.Mask&unix.STATX_MNT_ID == 0 {
		return nil, errors.New("statx: kernel did not report a mount id")
	}
	mi, err := unix.Openat(proc, "thread-self/mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open mountinfo: %w", err)
	}
	f := os.NewFile(uintptr(mi), "mountinfo")
	defer f.Close()
	e, err := mountinfo.Find(f, st.Mnt_id)
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	if e == nil {
		return nil, fmt.Errorf("mount %d is not in the container's mount table", st.Mnt_id)
	}
	return &mountPos{entry: e, isRoot: st.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0}, nil
}

// forceMountinfo makes mountAt read mountinfo as on kernels without
// statmount's mount options; tests set it to cover that path here.
var forceMountinfo = false

// verify checks that e is a nosuid,nodev,noexec bpffs with exactly the
// requested delegation.
func verify(e *mountinfo.Entry, d spec.Delegation) error {
	if e.FSType != "bpf" {
		return fmt.Errorf("%w: filesystem type is %q", ErrVerify, e.FSType)
	}
	for _, opt := range []string{"nosuid", "nodev", "noexec"} {
		if !e.HasMountOpt(opt) {
			return fmt.Errorf("%w: mount options %q lack %s", ErrVerify, e.MountOpts, opt)
		}
	}
	return checkDelegation(e, d)
}

// checkDelegation compares the delegate options the kernel shows with d.
func checkDelegation(e *mountinfo.Entry, d spec.Delegation) error {
	for _, k := range spec.Kinds {
		want := d.Masks[k]
		shown, ok := e.SuperOpt(k.MountOption())
		if !ok {
			if want == 0 {
				continue
			}
			// bpffs ignores option keys it does not know: a kernel before
			// 6.9 mounts happily and delegates nothing.
			return fmt.Errorf("%w: %s missing from the mount (%s)", ErrNoTokenSupport, k.MountOption(), e.SuperOpts)
		}
		got, err := k.ParseList(shown)
		if errors.Is(err, spec.ErrUnknownName) {
			// A kernel newer than our tables shows names we do not know;
			// it took the hex mask we sent, so it cannot have changed it.
			continue
		}
		if err == nil && k.SameDelegation(got, want) {
			continue
		}
		return fmt.Errorf("%w: %s is %q, expected %q", ErrVerify, k.MountOption(), shown, k.FormatMask(want))
	}
	return nil
}
