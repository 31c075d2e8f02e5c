package bpffs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/userns"
)

// ErrSharedMismatch means the pod's bpffs delegates something other than a
// container of the pod asks for: one superblock has one set of masks.
var ErrSharedMismatch = errors.New("the pod's bpffs delegates something else")

// maxStacked bounds how many mounts RemoveShared takes off one directory.
const maxStacked = 8

// ProvisionShared gives the container at t a clone of the pod's bpffs, as
// Provision gives it one of its own. The pod's bpffs is mounted on the host
// at dir, which only root may reach, and lives as long as that mount, so
// what one container pins is there for the next, and for the same
// container started again; RemoveShared ends it. The first call for a pod
// makes it, from the namespaces ns as Provision does; later calls clone it
// and check that it delegates what t asks. One superblock can be mounted in
// every mount namespace of its user namespace, and a process of any other
// user namespace cannot create a token from it. Callers serialize the calls
// for one dir. On error, a bpffs made by this call is removed again.
func ProvisionShared(ctx context.Context, ns *userns.Namespaces, t Target, dir string) (*Result, error) {
	if err := checkTarget(ns, t); err != nil {
		return nil, err
	}
	mntfd, made, err := sharedMount(ns, t.Delegation, dir)
	if err != nil {
		return nil, err
	}
	res, err := attach(ns, t, mntfd, func(fn func(userns.Commit) error) error { return ns.DoOnThrowawayThread(ctx, fn) })
	if err != nil && made {
		if rerr := RemoveShared(dir); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return res, err
}

// sharedMount returns a detached clone of the bpffs mounted at dir, making
// and mounting one there first when dir has none (made is then true).
func sharedMount(ns *userns.Namespaces, d spec.Delegation, dir string) (mntfd int, made bool, err error) {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return -1, false, fmt.Errorf("pod bpffs directory: %w", err)
	}
	dirfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, false, fmt.Errorf("open pod bpffs directory %s: %w", dir, err)
	}
	defer unix.Close(dirfd)
	proc, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, false, fmt.Errorf("open /proc: %w", err)
	}
	defer unix.Close(proc)
	here, err := mountAt(proc, dirfd)
	if err != nil {
		return -1, false, err
	}
	const clone = unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_EMPTY_PATH
	if here.isRoot {
		if here.entry.FSType != "bpf" {
			return -1, false, fmt.Errorf("pod bpffs directory %s: %w (%s)", dir, ErrOtherMount, here.entry.FSType)
		}
		if err := checkDelegation(here.entry, d); err != nil {
			return -1, false, fmt.Errorf("%w (%s): %w", ErrSharedMismatch, here.entry.SuperOpts, err)
		}
		fd, err := unix.OpenTree(dirfd, "", clone)
		if err != nil {
			return -1, false, fmt.Errorf("clone the pod's bpffs: %w", err)
		}
		return fd, false, nil
	}
	mnt, err := newMount(ns, d)
	if err != nil {
		return -1, false, err
	}
	keep, err := unix.OpenTree(mnt, "", clone)
	if err == nil {
		err = unix.MoveMount(keep, "", dirfd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
		unix.Close(keep)
	}
	if err != nil {
		unix.Close(mnt)
		return -1, false, fmt.Errorf("mount the pod's bpffs at %s: %w", dir, err)
	}
	return mnt, true, nil
}

// RemoveShared ends a pod's bpffs: it takes the mount off dir and removes
// the directory. The superblock, and what is pinned in it, goes once no
// container has it mounted. A dir that is not there is not an error.
func RemoveShared(dir string) error {
	for range maxStacked {
		err := unix.Unmount(dir, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			break // not a mount point (any more)
		}
		if err != nil {
			return fmt.Errorf("unmount the pod's bpffs at %s: %w", dir, err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the pod's bpffs directory: %w", err)
	}
	return nil
}
