package mountinfo

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrNoStatmount means the kernel cannot describe one mount with
// statmount(2) as Stat needs (statmount arrived in Linux 6.8, its mount
// options in 6.11, the mask of what it supports in 6.15): read mountinfo
// instead.
var ErrNoStatmount = errors.New("statmount(2) without mount options")

// noStatmount remembers that the kernel said no, so that a long-running
// process asks once, not for every mount it checks.
var noStatmount atomic.Bool

// CanStat reports whether Stat may work: false once the kernel has said
// it cannot.
func CanStat() bool { return !noStatmount.Load() }

// The statmount(2) ABI (include/uapi/linux/mount.h), which x/sys/unix does
// not wrap yet.
const (
	statmountSBBasic  = 0x01
	statmountMntBasic = 0x02
	statmountMntPoint = 0x10
	statmountFSType   = 0x20
	statmountMntOpts  = 0x80 // Linux 6.11
	// statmountSupportedMask asks which flags the kernel knows (6.15): a
	// flag missing from the reply may only mean there was nothing to say
	// (mount options of a file system without any).
	statmountSupportedMask = 0x1000

	mntIDReqSizeVer0 = 24
	sbRdonly         = 0x1
)

// mntIDReq is struct mnt_id_req as first published (6.8); a zero mount
// namespace id in later versions means the caller's, as here.
type mntIDReq struct {
	size  uint32
	spare uint32
	mntID uint64
	param uint64
}

// statmountHead is the fixed part of struct statmount that Stat reads; the
// kernel writes strings after the whole fixed part, at offset statmountStr.
type statmountHead struct {
	size           uint32
	mntOpts        uint32
	mask           uint64
	sbDevMajor     uint32
	sbDevMinor     uint32
	sbMagic        uint64
	sbFlags        uint32
	fsType         uint32
	mntID          uint64
	mntParentID    uint64
	mntIDOld       uint32
	mntParentIDOld uint32
	mntAttr        uint64
	mntPropagation uint64
	mntPeerGroup   uint64
	mntMaster      uint64
	propagateFrom  uint64
	mntRoot        uint32
	mntPoint       uint32
	mntNSID        uint64
	fsSubtype      uint32
	sbSource       uint32
	optNum         uint32
	optArray       uint32
	optSecNum      uint32
	optSecArray    uint32
	supportedMask  uint64
}

// statmountStr is offsetof(struct statmount, str): the fixed part is 512
// bytes in every published version.
const statmountStr = 512

// Stat describes the mount with the given unique id (statx(2)
// STATX_MNT_ID_UNIQUE) in the calling thread's mount namespace, as the
// Entry its mountinfo line would give, with Root left empty and MountOpts
// limited to rw/ro, nosuid, nodev and noexec: one system call
// for one mount, where reading mountinfo makes the kernel print every mount
// of the namespace. It fails with ErrNoStatmount on kernels before 6.15,
// which cannot tell whether they know the mount options flag.
func Stat(uniqueID uint64) (*Entry, error) {
	if noStatmount.Load() {
		return nil, ErrNoStatmount
	}
	want := uint64(statmountSBBasic | statmountMntBasic | statmountMntPoint | statmountFSType | statmountMntOpts)
	req := mntIDReq{size: mntIDReqSizeVer0, mntID: uniqueID, param: want | statmountSupportedMask}
	for size := 4096; ; size *= 2 {
		buf := make([]byte, size)
		_, _, errno := unix.Syscall6(unix.SYS_STATMOUNT, uintptr(unsafe.Pointer(&req)), uintptr(unsafe.Pointer(&buf[0])), uintptr(size), 0, 0, 0)
		switch {
		case errno == unix.EOVERFLOW && size < 1<<20:
			continue
		case errno == unix.ENOSYS:
			noStatmount.Store(true)
			return nil, ErrNoStatmount
		case errno != 0:
			return nil, fmt.Errorf("statmount mount %d: %w", uniqueID, errno)
		}
		h := (*statmountHead)(unsafe.Pointer(&buf[0]))
		if h.mask&statmountSupportedMask == 0 || h.supportedMask&want != want {
			noStatmount.Store(true)
			return nil, ErrNoStatmount
		}
		str := func(off uint32) string {
			s := buf[min(statmountStr+int(off), len(buf)):]
			if i := bytes.IndexByte(s, 0); i >= 0 {
				s = s[:i]
			}
			return string(s)
		}
		return &Entry{
			ID:         uint64(h.mntIDOld),
			ParentID:   uint64(h.mntParentIDOld),
			MountPoint: str(h.mntPoint),
			MountOpts:  mountOpts(h.mntAttr),
			Optional:   propagation(h),
			FSType:     str(h.fsType),
			SuperOpts:  superOpts(h.sbFlags, str(h.mntOpts)),
		}, nil
	}
}

// mountOpts spells the MOUNT_ATTR_* flags that decide what a mount lets
// through (ro, nosuid, nodev, noexec) as mountinfo's per-mount options; the
// atime flags are left out.
func mountOpts(attr uint64) string {
	opts := []string{"rw"}
	if attr&unix.MOUNT_ATTR_RDONLY != 0 {
		opts[0] = "ro"
	}
	for _, f := range []struct {
		bit  uint64
		name string
	}{
		{unix.MOUNT_ATTR_NOSUID, "nosuid"},
		{unix.MOUNT_ATTR_NODEV, "nodev"},
		{unix.MOUNT_ATTR_NOEXEC, "noexec"},
	} {
		if attr&f.bit != 0 {
			opts = append(opts, f.name)
		}
	}
	return strings.Join(opts, ",")
}

// propagation spells the propagation type as mountinfo's optional fields.
func propagation(h *statmountHead) []string {
	var out []string
	if h.mntPropagation&unix.MS_SHARED != 0 {
		out = append(out, "shared:"+strconv.FormatUint(h.mntPeerGroup, 10))
	}
	if h.mntPropagation&unix.MS_SLAVE != 0 {
		out = append(out, "master:"+strconv.FormatUint(h.mntMaster, 10))
	}
	if h.mntPropagation&unix.MS_UNBINDABLE != 0 {
		out = append(out, "unbindable")
	}
	return out
}

// superOpts spells the superblock options as mountinfo does: ro or rw, then
// the file system's own options.
func superOpts(sbFlags uint32, fsOpts string) string {
	rw := "rw"
	if sbFlags&sbRdonly != 0 {
		rw = "ro"
	}
	if fsOpts == "" {
		return rw
	}
	return rw + "," + fsOpts
}
