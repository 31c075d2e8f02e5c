package bpffs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/bpffs"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// mountSources runs a test with each way the mount checks can learn about
// a mount: statmount(2) where the kernel has it, and mountinfo.
func mountSources(t *testing.T, test func(t *testing.T)) {
	t.Run("statmount", test)
	t.Run("mountinfo", func(t *testing.T) {
		bpffs.UseMountinfo(t)
		test(t)
	})
}

func TestProvision(t *testing.T) { mountSources(t, testProvision) }

func testProvision(t *testing.T) {
	pid := testenv.StartInUserNS(t)
	rootfs := t.TempDir()
	d := spec.Delegation{Cmds: 1, Maps: 1 << 2, Path: "/a/b/bpf"}

	res, err := bpffs.Provision(context.Background(), bpffs.Target{Pid: pid, Rootfs: rootfs, Delegation: d})
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if res.AlreadyMounted || !strings.Contains(res.SuperOptions, "delegate_cmds=map_create") || !strings.Contains(res.SuperOptions, "delegate_maps=array") {
		t.Errorf("Provision = %+v", res)
	}
	// The directories it made belong to the container's root.
	for _, dir := range []string{"a", "a/b", "a/b/bpf"} {
		st, err := os.Stat(filepath.Join(rootfs, dir))
		if err != nil {
			t.Fatal(err)
		}
		if uid := statUID(st); uid != 100000 {
			t.Errorf("%s owned by uid %d, want 100000", dir, uid)
		}
	}
	mountinfo, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mountinfo), filepath.Join(rootfs, "a/b/bpf")+" rw,nosuid,nodev,noexec") {
		t.Errorf("no nosuid,nodev,noexec bpffs at the path in the container:\n%s", mountinfo)
	}

	again, err := bpffs.Provision(context.Background(), bpffs.Target{Pid: pid, Rootfs: rootfs, Delegation: d})
	if err != nil || !again.AlreadyMounted || again.MountID != res.MountID {
		t.Errorf("second Provision = %+v, %v; want the same mount, already mounted", again, err)
	}
	other := d
	other.Cmds = 3
	if _, err := bpffs.Provision(context.Background(), bpffs.Target{Pid: pid, Rootfs: rootfs, Delegation: other}); !errors.Is(err, bpffs.ErrOtherMount) {
		t.Errorf("Provision of another delegation over it = %v, want ErrOtherMount", err)
	}
}

func TestProvisionRefusesSharedMountAndRemovesWhatItMade(t *testing.T) {
	mountSources(t, testProvisionRefusesSharedMount)
}

func testProvisionRefusesSharedMount(t *testing.T) {
	pid := testenv.StartInUserNS(t)
	rootfs := t.TempDir()
	// A rootfs whose mount propagates to other namespaces: a bpffs mounted
	// there could show up elsewhere, so Provision must refuse it, after
	// having created the missing directories, and remove them again.
	share := exec.Command("nsenter", "-t", strconv.Itoa(pid), "-m", "sh", "-c",
		fmt.Sprintf("mount --bind %[1]s %[1]s && mount --make-shared %[1]s", rootfs))
	if out, err := share.CombinedOutput(); err != nil {
		t.Fatalf("make the rootfs a shared mount: %v: %s", err, out)
	}
	d := spec.Delegation{Cmds: 1, Path: "/new1/new2/bpf"}
	_, err := bpffs.Provision(context.Background(), bpffs.Target{Pid: pid, Rootfs: rootfs, Delegation: d})
	if !errors.Is(err, bpffs.ErrSharedMount) {
		t.Fatalf("Provision on a shared mount = %v, want ErrSharedMount", err)
	}
	if _, err := os.Lstat(filepath.Join(rootfs, "new1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directories made before the failure were left behind (lstat new1: %v)", err)
	}
}

func statUID(st os.FileInfo) int {
	return int(st.Sys().(*syscall.Stat_t).Uid)
}
