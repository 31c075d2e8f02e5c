package bpffs

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// ErrNotPrivileged means the caller may not delegate: only CAP_SYS_ADMIN in
// the host's (the initial) user namespace sets delegate options.
var ErrNotPrivileged = errors.New("delegating bpf() needs CAP_SYS_ADMIN in the host's user namespace")

// ErrNoTokenSupport means the kernel cannot delegate bpf() through a bpffs
// (BPF tokens arrived in Linux 6.9).
var ErrNoTokenSupport = errors.New("kernel does not support BPF token delegation (needs Linux >= 6.9)")

// Create sets the delegate options of the bpf fs context fsfd, creates its
// superblock and returns a detached mount of it (nosuid, nodev, noexec,
// O_CLOEXEC). The caller must be privileged in the initial user namespace
// and owns the returned fd; fsfd stays open.
//
// Each mask goes to the kernel as one hex number: this works on kernels
// without BTF, and the kernel's parser would drop bits if names and numbers
// were mixed in one string.
func Create(fsfd int, d spec.Delegation) (int, error) {
	for _, k := range spec.Kinds {
		mask := d.Masks[k]
		if mask == 0 {
			continue
		}
		if err := unix.FsconfigSetString(fsfd, k.MountOption(), fmt.Sprintf("%#x", mask)); err != nil {
			return -1, fmt.Errorf("set bpffs option %s=%#x: %w%s", k.MountOption(), mask, err, contextLog(fsfd))
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		if errors.Is(err, unix.EPERM) {
			return -1, fmt.Errorf("create bpffs superblock: %w: %w%s", err, ErrNotPrivileged, contextLog(fsfd))
		}
		return -1, fmt.Errorf("create bpffs superblock: %w%s", err, contextLog(fsfd))
	}
	mnt, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsmount bpffs: %w%s", err, contextLog(fsfd))
	}
	return mnt, nil
}

// contextLog returns what the kernel wrote into the fs context's message
// log, as ` (kernel: ...)`, or "" when it wrote nothing.
func contextLog(fsfd int) string {
	var msgs []string
	buf := make([]byte, 256)
	for range 8 {
		n, err := unix.Read(fsfd, buf)
		if err != nil || n <= 0 {
			break
		}
		msgs = append(msgs, strings.TrimSpace(string(buf[:n])))
	}
	if len(msgs) == 0 {
		return ""
	}
	return " (kernel: " + strings.Join(msgs, "; ") + ")"
}
