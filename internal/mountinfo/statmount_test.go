package mountinfo_test

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/mountinfo"
	"github.com/nri-bpftoken/nri-bpftoken/internal/procfs"
	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
)

// TestStatMatchesMountinfo compares, for every mount of this process that
// can be reached by its mount point, what statmount(2) says with the line
// of /proc/self/mountinfo: the two sources the bpffs checks may use.
func TestStatMatchesMountinfo(t *testing.T) {
	testenv.Privileged(t)
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := mountinfo.Parse(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, want := range entries {
		var st unix.Statx_t
		// Over-mounted mount points resolve to the top mount; those are
		// compared with their own line.
		if unix.Statx(unix.AT_FDCWD, want.MountPoint, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &st) != nil || st.Mnt_id != want.ID {
			continue
		}
		if err := unix.Statx(unix.AT_FDCWD, want.MountPoint, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID_UNIQUE, &st); err != nil {
			t.Fatal(err)
		}
		got, err := mountinfo.Stat(st.Mnt_id)
		if errors.Is(err, mountinfo.ErrNoStatmount) {
			release, _ := procfs.KernelRelease()
			testenv.Unavailable(t, fmt.Sprintf("kernel %s: %v (needs Linux 6.15)", release, err))
		}
		if err != nil {
			t.Fatalf("Stat(%s): %v", want.MountPoint, err)
		}
		compared++
		if got.ID != want.ID || got.ParentID != want.ParentID || got.MountPoint != want.MountPoint || got.FSType != want.FSType {
			t.Errorf("%s: Stat = id %d parent %d at %q type %q; mountinfo has id %d parent %d at %q type %q",
				want.MountPoint, got.ID, got.ParentID, got.MountPoint, got.FSType, want.ID, want.ParentID, want.MountPoint, want.FSType)
		}
		if got.Shared() != want.Shared() || !slices.Equal(got.Optional, want.Optional) {
			t.Errorf("%s: Stat optional fields %q, mountinfo %q", want.MountPoint, got.Optional, want.Optional)
		}
		for _, opt := range []string{"ro", "rw", "nosuid", "nodev", "noexec"} {
			if got.HasMountOpt(opt) != want.HasMountOpt(opt) {
				t.Errorf("%s: Stat mount options %q, mountinfo %q: differ on %s", want.MountPoint, got.MountOpts, want.MountOpts, opt)
			}
		}
		if got.SuperOpts != want.SuperOpts {
			t.Errorf("%s: Stat superblock options %q, mountinfo %q", want.MountPoint, got.SuperOpts, want.SuperOpts)
		}
	}
	if compared < 3 {
		t.Fatalf("compared only %d mounts of %d", compared, len(entries))
	}
	t.Logf("compared %d of %d mounts", compared, len(entries))
}

func TestStatUnknownMount(t *testing.T) {
	testenv.Privileged(t)
	// Unique mount ids start above 2^31 and count up from there.
	if _, err := mountinfo.Stat(1 << 62); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("Stat(1<<62) = %v, want ENOENT", err)
	}
}
