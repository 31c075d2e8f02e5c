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

// sibling starts a process in pid's user namespace with a mount namespace
// of its own: another container of the same pod.
func sibling(t *testing.T, pid int) int {
	t.Helper()
	cmd := exec.Command("nsenter", "-t", strconv.Itoa(pid), "-U", "-m", "--",
		"unshare", "-m", "--propagation", "slave", "sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Wait until it runs in a mount namespace other than pid's.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		a, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid))
		b, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", cmd.Process.Pid))
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
		if b != "" && a != b && strings.TrimSpace(string(comm)) == "sleep" {
			return cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			t.Fatal("the sibling never got a mount namespace of its own")
		}
	}
}

func devOf(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Dev
}

// A pod's containers share one bpffs (one superblock): what one makes in it
// the other sees, it outlives them while its host mount is there, another
// delegation is refused, and RemoveShared leaves nothing on the host.
func TestProvisionShared(t *testing.T) {
	a := testenv.StartInUserNS(t)
	b := sibling(t, a)
	dir := filepath.Join(t.TempDir(), "pod")
	t.Cleanup(func() { bpffs.RemoveShared(dir) })
	rootfs := t.TempDir()
	// The pod's root (host uid 100000) must reach into it.
	for _, d := range []string{rootfs, filepath.Dir(rootfs)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d := spec.Delegation{Masks: spec.Masks{spec.KindCmds: 1, spec.KindMaps: 1 << 2}, Path: "/a/bpf", Shared: true}
	provision := func(pid int, d spec.Delegation) (*bpffs.Result, error) {
		ns, err := userns.Open(pid)
		if err != nil {
			t.Fatal(err)
		}
		defer ns.Close()
		return bpffs.ProvisionShared(context.Background(), ns, bpffs.Target{Rootfs: rootfs, Delegation: d}, dir)
	}
	if _, err := provision(a, d); err != nil {
		t.Fatalf("first container: %v", err)
	}
	if _, err := provision(b, d); err != nil {
		t.Fatalf("second container: %v", err)
	}
	inA := fmt.Sprintf("/proc/%d/root%s/a/bpf", a, rootfs)
	inB := fmt.Sprintf("/proc/%d/root%s/a/bpf", b, rootfs)
	if da, db, dh := devOf(t, inA), devOf(t, inB), devOf(t, dir); da != db || da != dh {
		t.Fatalf("devices %d (A), %d (B), %d (host): not one superblock", da, db, dh)
	}
	// As A's root: the host's root has no id in the pod's user namespace.
	mkdir := exec.Command("nsenter", "-t", strconv.Itoa(a), "-U", "-m", "--", "mkdir", filepath.Join(rootfs, "a/bpf/made-by-a"))
	if out, err := mkdir.CombinedOutput(); err != nil {
		t.Fatalf("mkdir in A's bpffs: %v: %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(inB, "made-by-a")); err != nil {
		t.Errorf("B does not see what A made: %v", err)
	}
	other := d
	other.Masks[spec.KindMaps] = 1 << 1
	if _, err := provision(b, other); !errors.Is(err, bpffs.ErrSharedMismatch) {
		t.Errorf("a container asking another delegation = %v, want ErrSharedMismatch", err)
	}
	if err := bpffs.RemoveShared(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("RemoveShared left %s: %v", dir, err)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), dir) {
		t.Errorf("host still has a mount at %s", dir)
	}
	if err := bpffs.RemoveShared(dir); err != nil {
		t.Errorf("RemoveShared of a removed pod bpffs = %v, want nil", err)
	}
}

// When the first container's mount fails, the pod's bpffs it made is
// removed again: the next container starts from nothing.
func TestProvisionSharedRemovesWhatItMadeOnFailure(t *testing.T) {
	a := testenv.StartInUserNS(t)
	dir := filepath.Join(t.TempDir(), "pod")
	t.Cleanup(func() { bpffs.RemoveShared(dir) })
	rootfs := t.TempDir()
	if err := os.WriteFile(filepath.Join(rootfs, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ns, err := userns.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	d := spec.Delegation{Masks: spec.Masks{spec.KindCmds: 1}, Path: "/file/bpf", Shared: true}
	_, err = bpffs.ProvisionShared(context.Background(), ns, bpffs.Target{Rootfs: rootfs, Delegation: d}, dir)
	if !errors.Is(err, bpffs.ErrNotDirectory) {
		t.Fatalf("ProvisionShared onto a file = %v, want ErrNotDirectory", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pod's bpffs was left at %s (%v)", dir, err)
	}
}
