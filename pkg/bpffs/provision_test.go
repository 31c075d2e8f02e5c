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
	"time"

	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/bpffs"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/userns"
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
	d := spec.Delegation{Masks: spec.Masks{spec.KindCmds: 1, spec.KindMaps: 1 << 2}, Path: "/a/b/bpf"}

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
	other.Masks[spec.KindCmds] = 3
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
	d := spec.Delegation{Masks: spec.Masks{spec.KindCmds: 1}, Path: "/new1/new2/bpf"}
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

// A process in the container that keeps renaming directories makes
// openat2(RESOLVE_IN_ROOT) ask for a retry for ever: the resolution gives
// up after a bounded number and calls it what it likely is.
func TestProvisionBoundsResolveRetries(t *testing.T) {
	pid := testenv.StartInUserNS(t)
	bpffs.RaceEveryResolve(t)
	d := spec.Delegation{Masks: spec.Masks{spec.KindCmds: 1}, Path: "/sys/fs/bpf"}
	done := make(chan error, 1)
	go func() {
		_, err := bpffs.Provision(context.Background(), bpffs.Target{Pid: pid, Rootfs: t.TempDir(), Delegation: d})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, bpffs.ErrPossibleAttack) {
			t.Fatalf("Provision while every resolution races = %v, want ErrPossibleAttack", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Provision retries for ever while every resolution races")
	}
}

// A hung volume on the mount path (here a FUSE mount whose daemon never
// answers, at <rootfs>/sys/fs) must not hold Provision past its deadline;
// when the volume answers at last, the work left behind mounts nothing and
// leaves nothing.
func TestProvisionGivesUpOnAHungVolume(t *testing.T) {
	pid := testenv.StartInUserNS(t)
	rootfs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(rootfs, "sys/fs"), 0o755); err != nil {
		t.Fatal(err)
	}
	ns, err := userns.Open(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	var release func()
	if err := ns.DoOnThrowawayThread(context.Background(), func(userns.Commit) error {
		release = testenv.HungFUSE(t, filepath.Join(rootfs, "sys/fs"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = bpffs.ProvisionWith(ctx, ns, bpffs.Target{Rootfs: rootfs, Delegation: spec.Delegation{Masks: spec.Masks{spec.KindCmds: 1}, Path: "/sys/fs/bpf"}})
	if !errors.Is(err, userns.ErrGaveUp) {
		t.Fatalf("Provision through a hung volume = %v, want ErrGaveUp", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("Provision returned after %s", waited)
	}
	release()
	for deadline := time.Now().Add(5 * time.Second); userns.Abandoned() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the work left behind did not end once the volume answered")
		}
	}
	mountinfo, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mountinfo), " - bpf ") {
		t.Errorf("a bpffs was mounted after Provision gave up:\n%s", mountinfo)
	}
}

// TestProvisionUnprivileged: with Unprivileged, the mount path's
// directories are made only in directories the container's user namespace
// maps the owner of, as its root could; a rootfs of root's (here, the test's
// temporary directory) gets nothing made, and one of the container's root
// gets its bpffs.
func TestProvisionUnprivileged(t *testing.T) {
	pid := testenv.StartInUserNS(t) // root is host uid 100000
	d := spec.Delegation{Masks: spec.Masks{spec.KindCmds: 1, spec.KindMaps: 1 << 2}, Path: "/a/b/bpf"}

	roots := t.TempDir()
	_, err := bpffs.Provision(context.Background(), bpffs.Target{Pid: pid, Rootfs: roots, Delegation: d, Unprivileged: true})
	if !errors.Is(err, bpffs.ErrNotContainers) || !strings.Contains(err.Error(), "create /a: / is not the container's directory: owned by 0:0") {
		t.Fatalf("Provision in root's directory = %v, want ErrNotContainers", err)
	}
	if entries, _ := os.ReadDir(roots); len(entries) > 0 {
		t.Errorf("made %v in root's directory", entries)
	}

	containers := t.TempDir()
	if err := os.Chown(containers, 100000, 100000); err != nil {
		t.Fatal(err)
	}
	// A directory of root's inside the container's: nothing is made in it.
	if err := os.Mkdir(filepath.Join(containers, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = bpffs.Provision(context.Background(), bpffs.Target{Pid: pid, Rootfs: containers, Delegation: d, Unprivileged: true})
	if !errors.Is(err, bpffs.ErrNotContainers) || !strings.Contains(err.Error(), "create /a/b: /a is not the container's directory") {
		t.Fatalf("Provision below root's /a = %v, want ErrNotContainers", err)
	}
	if err := os.Chown(filepath.Join(containers, "a"), 100001, 100001); err != nil {
		t.Fatal(err)
	}
	res, err := bpffs.Provision(context.Background(), bpffs.Target{Pid: pid, Rootfs: containers, Delegation: d, Unprivileged: true})
	if err != nil || res.AlreadyMounted {
		t.Fatalf("Provision in the container's directories = %+v, %v", res, err)
	}
}
