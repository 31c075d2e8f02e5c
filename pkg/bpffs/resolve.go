package bpffs

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNotDirectory means the mount path (or a component of it) exists in the
// container's rootfs but is not a directory.
var ErrNotDirectory = errors.New("not a directory")

// ErrNotContainers means a directory the mount path needs would be made in
// a directory that is not the container's own (Target.Unprivileged).
var ErrNotContainers = errors.New("not the container's directory")

// createCheck says whether a directory may be made (or removed) in the
// directory dir; nil allows everything.
type createCheck func(dir int) error

// ErrPossibleAttack means resolving the mount path kept racing with renames
// inside the container: something in there is moving directories about
// while the path is resolved.
var ErrPossibleAttack = errors.New("possible attack: the path kept changing while it was resolved")

// maxResolveRetries bounds openat2's EAGAIN retries, as
// filepath-securejoin does: a rename anywhere in the container's mount
// namespace makes RESOLVE_IN_ROOT give up, and a process in there could
// keep renaming for ever.
const maxResolveRetries = 10

// openInRoot opens path as a directory (O_PATH), resolving it as if root were
// "/": absolute symlinks and ".." cannot leave root. "" opens root itself.
func openInRoot(root int, path string) (int, error) {
	if path == "" {
		path = "."
	}
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for range maxResolveRetries {
		fd, err := openat2(root, path, &how)
		// EAGAIN: a rename raced with the walk; the kernel asks us to retry.
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		return fd, err
	}
	return -1, fmt.Errorf("%w (openat2 said EAGAIN %d times)", ErrPossibleAttack, maxResolveRetries)
}

// openat2 is unix.Openat2; tests replace it to make it race.
var openat2 = unix.Openat2

// createdDir is a directory made by mkdirInRoot, kept so that a failure can
// remove it again.
type createdDir struct{ parent, name string }

// mkdirInRoot opens the directory at path (relative, components separated by
// "/") inside root, creating missing components, each owned by uid:gid (-1:
// left as is). It returns an O_PATH fd and what it created, outermost first.
// Every component is created with mkdirat relative to a parent that was
// itself resolved inside root, so nothing can be made outside it.
func mkdirInRoot(root int, path string, uid, gid int, mayCreate createCheck) (fd int, created []createdDir, err error) {
	fd, err = openInRoot(root, path)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, nil, wrapResolve(path, err)
	}
	defer func() {
		if err != nil {
			removeCreated(root, created, mayCreate)
			created = nil
		}
	}()
	parts := strings.Split(path, "/")
	for i := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		fd, err = openInRoot(root, prefix)
		if err == nil {
			if i < len(parts)-1 {
				unix.Close(fd)
			}
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return -1, created, wrapResolve(prefix, err)
		}
		parentPath := strings.Join(parts[:i], "/")
		parent, err := openInRoot(root, parentPath)
		if err != nil {
			return -1, created, wrapResolve(parentPath, err)
		}
		if mayCreate != nil {
			if err := mayCreate(parent); err != nil {
				unix.Close(parent)
				return -1, created, fmt.Errorf("create /%s: /%s is %w", prefix, parentPath, err)
			}
		}
		err = unix.Mkdirat(parent, parts[i], 0o755)
		if err == nil {
			created = append(created, createdDir{parentPath, parts[i]})
			if uid >= 0 || gid >= 0 {
				err = unix.Fchownat(parent, parts[i], uid, gid, unix.AT_SYMLINK_NOFOLLOW)
				if err != nil {
					err = fmt.Errorf("chown /%s to %d:%d: %w", prefix, uid, gid, err)
				}
			}
		} else if errors.Is(err, unix.EEXIST) {
			// Somebody else made it meanwhile; resolve it like any other.
			err = nil
		} else {
			err = fmt.Errorf("create directory /%s: %w", prefix, err)
		}
		unix.Close(parent)
		if err != nil {
			return -1, created, err
		}
		if fd, err = openInRoot(root, prefix); err != nil {
			return -1, created, wrapResolve(prefix, err)
		}
		if i < len(parts)-1 {
			unix.Close(fd)
		}
	}
	return fd, created, nil
}

// removeCreated removes directories made by mkdirInRoot, innermost first.
// Best effort: it runs on failure paths only.
func removeCreated(root int, created []createdDir, mayRemove createCheck) {
	for i := len(created) - 1; i >= 0; i-- {
		c := created[i]
		parent, err := openInRoot(root, c.parent)
		if err != nil {
			continue
		}
		// The path may lead elsewhere by now.
		if mayRemove != nil && mayRemove(parent) != nil {
			unix.Close(parent)
			continue
		}
		_ = unix.Unlinkat(parent, c.name, unix.AT_REMOVEDIR)
		unix.Close(parent)
	}
}

func wrapResolve(path string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("/%s: %w", path, ErrNotDirectory)
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("resolve /%s: %w (symlinks in the image resolve inside the container's rootfs; one pointing elsewhere is refused)", path, err)
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("resolve /%s: too many levels of symbolic links", path)
	default:
		return fmt.Errorf("resolve /%s: %w", path, err)
	}
}
