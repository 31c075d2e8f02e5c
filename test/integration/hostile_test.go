package integration

// Hostile images: a rootfs that changes under the hook while it resolves the
// mount path, and mount paths that are not directories. The hook must mount
// inside the rootfs or refuse with one line; never anything outside.

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
)

// swapper flips a directory and a symlink between two names with
// renameat2(RENAME_EXCHANGE), as fast as it can: at every instant one of
// the names is the directory and the other the symlink, and the directory
// (with whatever is mounted on it in any namespace) never leaves the rootfs.
type swapper struct {
	a, b  string
	flips atomic.Int64
	stop  chan struct{}
	done  chan error
}

func startSwapper(t *testing.T, a, b string) *swapper {
	t.Helper()
	s := &swapper{a: a, b: b, stop: make(chan struct{}), done: make(chan error, 1)}
	started := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for {
			select {
			case <-s.stop:
				s.done <- nil
				return
			default:
			}
			if err := unix.Renameat2(unix.AT_FDCWD, s.a, unix.AT_FDCWD, s.b, unix.RENAME_EXCHANGE); err != nil {
				s.done <- fmt.Errorf("exchange %s and %s: %w", s.a, s.b, err)
				return
			}
			if s.flips.Add(1) == 1 {
				close(started)
			}
		}
	}()
	select {
	case <-started:
	case err := <-s.done:
		t.Fatalf("swapper did not start: %v", err)
	}
	return s
}

// halt stops the swapper and returns how often it flipped.
func (s *swapper) halt(t *testing.T) int64 {
	t.Helper()
	close(s.stop)
	if err := <-s.done; err != nil {
		t.Fatal(err)
	}
	return s.flips.Load()
}

func TestHookSymlinkSwapRace(t *testing.T) {
	testenv.Privileged(t)
	const runsPerVariant = 50 // 4 variants: 200 runs
	// The host directory an escape would reach; "bpf" in it is what the
	// default mount path would land on through a swapped parent.
	hostDir := worldDir(t)
	mustMkdir(t, filepath.Join(hostDir, "bpf"))
	climb := "../../../../../../../../../.."
	variants := []struct {
		name string
		// swapped is the path (relative to the rootfs) that flips; target
		// is where its symlink points.
		swapped, target string
	}{
		{"mount dir, absolute symlink", "sys/fs/bpf", filepath.Join(hostDir, "bpf")},
		{"mount dir, relative symlink climbing out", "sys/fs/bpf", climb + filepath.Join(hostDir, "bpf")},
		{"parent dir, absolute symlink", "sys/fs", hostDir},
		{"parent dir, relative symlink climbing out", "sys/fs", "../" + climb + hostDir},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			var ok, refused, flips int64
			for i := range runsPerVariant {
				t.Run(fmt.Sprint(i), func(t *testing.T) {
					succeeded, n := swapRun(t, hostDir, v.swapped, v.target)
					flips += n
					if succeeded {
						ok++
					} else {
						refused++
					}
				})
			}
			t.Logf("%d runs: %d mounted inside the rootfs, %d refused; %d flips in all", runsPerVariant, ok, refused, flips)
		})
	}
}

// swapRun runs the hook once against a fresh stand-in whose rootfs has
// swapped flipping between a directory and a symlink to target. It reports
// whether the hook succeeded and how often the swapper flipped meanwhile.
func swapRun(t *testing.T, hostDir, swapped, target string) (bool, int64) {
	t.Helper()
	host := snapshotHost(t)
	hostDirBefore := listDir(t, hostDir)
	var dir, link string
	c := startContainer(t, func(rootfs string) {
		dir = filepath.Join(rootfs, swapped)
		link = filepath.Join(filepath.Dir(dir), ".swap-"+filepath.Base(dir))
		mustMkdir(t, filepath.Join(rootfs, "sys/fs/bpf"))
		mustSymlink(t, target, link)
	})
	c.writeConfig(config{annotations: minimalDelegation})
	fdsBefore := fds(t, c.Pid)

	sw := startSwapper(t, dir, link)
	res := runHook(t, c.state())
	flips := sw.halt(t)

	if got := fds(t, c.Pid); !slices.Equal(got, fdsBefore) {
		t.Errorf("container's fds changed: before %v, after %v", fdsBefore, got)
	}
	mounts := c.bpfMounts()
	if res.code == 0 {
		if res.stderr != "" {
			t.Errorf("hook succeeded with output on stderr: %q", res.stderr)
		}
		if len(mounts) != 1 {
			t.Fatalf("hook succeeded, but the container has %d bpffs mounts: %q", len(mounts), mounts)
		}
		point := strings.Fields(mounts[0])[4]
		if !strings.HasPrefix(point, c.Rootfs+"/") {
			t.Errorf("bpffs mounted at %s, outside the rootfs %s", point, c.Rootfs)
		}
		if !strings.Contains(mounts[0], "delegate_cmds=map_create") {
			t.Errorf("bpffs mount lacks the delegation: %s", mounts[0])
		}
	} else {
		if res.code != 1 {
			t.Errorf("hook exited %d, want 0 or 1", res.code)
		}
		checkOneLine(t, res.stderr, []string{"bpftoken-oci-hook: ", "container " + c.id + ": ", "/sys/fs"})
		t.Logf("refused: %s", res.stderr)
		if len(mounts) != 0 {
			t.Errorf("refused container has bpffs mounts: %q", mounts)
		}
	}
	if m := mountsUnder(t, c.Pid, hostDir); len(m) > 0 {
		t.Errorf("the container's mount table has mounts in the host directory: %q", m)
	}
	if got := listDir(t, hostDir); !slices.Equal(got, hostDirBefore) {
		t.Errorf("host directory changed: before %v, after %v", hostDirBefore, got)
	}
	checkHostUnchanged(t, host)
	return res.code == 0, flips
}

// TestHookSymlinkSwapRaceParallel runs the swap race with several hooks at
// once against stand-ins sharing one host target directory, so that the
// kernel interleaves them differently than one at a time.
func TestHookSymlinkSwapRaceParallel(t *testing.T) {
	testenv.Privileged(t)
	hostDir := worldDir(t)
	mustMkdir(t, filepath.Join(hostDir, "bpf"))
	before := listDir(t, hostDir)
	host := snapshotHost(t)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 5 {
				t.Run(fmt.Sprintf("worker%d-%d", w, i), func(t *testing.T) {
					target := filepath.Join(hostDir, "bpf")
					if i%2 == 1 {
						target = "../../../../../../../../../.." + target
					}
					runSwapNoHostCheck(t, hostDir, target)
				})
			}
		})
	}
	wg.Wait()
	if got := listDir(t, hostDir); !slices.Equal(got, before) {
		t.Errorf("host directory changed: before %v, after %v", before, got)
	}
	checkHostUnchanged(t, host)
}

// runSwapNoHostCheck is swapRun's container part, for concurrent runs
// (whose host mount tables may differ between snapshots of one run).
func runSwapNoHostCheck(t *testing.T, hostDir, target string) {
	var dir, link string
	c := startContainer(t, func(rootfs string) {
		dir = filepath.Join(rootfs, "sys/fs/bpf")
		link = filepath.Join(rootfs, "sys/fs/.swap-bpf")
		mustMkdir(t, dir)
		mustSymlink(t, target, link)
	})
	c.writeConfig(config{annotations: minimalDelegation})
	sw := startSwapper(t, dir, link)
	res := runHook(t, c.state())
	sw.halt(t)
	mounts := c.bpfMounts()
	switch {
	case res.code == 0 && len(mounts) == 1:
		if point := strings.Fields(mounts[0])[4]; !strings.HasPrefix(point, c.Rootfs+"/") {
			t.Errorf("bpffs mounted at %s, outside the rootfs %s", point, c.Rootfs)
		}
	case res.code == 0:
		t.Errorf("hook succeeded, but the container has %d bpffs mounts: %q", len(mounts), mounts)
	default:
		checkOneLine(t, res.stderr, []string{"bpftoken-oci-hook: ", "container " + c.id + ": "})
		if len(mounts) != 0 {
			t.Errorf("refused container has bpffs mounts: %q", mounts)
		}
	}
	if m := mountsUnder(t, c.Pid, hostDir); len(m) > 0 {
		t.Errorf("the container's mount table has mounts in the host directory: %q", m)
	}
}

// mountsUnder lists the mounts of pid's mount namespace at or below dir.
func mountsUnder(t *testing.T, pid int, dir string) []string {
	t.Helper()
	var out []string
	for _, line := range relevantMounts(t, pid, dir) {
		if p := strings.Fields(line)[4]; p == dir || strings.HasPrefix(p, dir+"/") {
			out = append(out, line)
		}
	}
	return out
}

// listRootfs is listDir without the procfs some cases mount in the rootfs.
func listRootfs(t *testing.T, rootfs string) []string {
	t.Helper()
	proc := filepath.Join(rootfs, "proc")
	var out []string
	err := filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		out = append(out, p)
		if p == proc {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHookRefusesHostileMountPaths(t *testing.T) {
	testenv.Privileged(t)
	hostDir := worldDir(t)
	tests := []struct {
		name    string
		prepare func(t *testing.T, rootfs string)
		path    string
		want    []string
	}{
		{
			name: "character device at the mount path",
			prepare: func(t *testing.T, rootfs string) {
				mknod(t, filepath.Join(rootfs, "sys/fs/bpf"), unix.S_IFCHR|0o666, unix.Mkdev(1, 3))
			},
			want: []string{"/sys/fs/bpf", "not a directory", "bpf.token/path"},
		},
		{
			name: "block device at the mount path",
			prepare: func(t *testing.T, rootfs string) {
				mknod(t, filepath.Join(rootfs, "sys/fs/bpf"), unix.S_IFBLK|0o600, unix.Mkdev(7, 0))
			},
			want: []string{"/sys/fs/bpf", "not a directory"},
		},
		{
			name: "socket at the mount path",
			prepare: func(t *testing.T, rootfs string) {
				fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer unix.Close(fd)
				// Through the directory's fd: the rootfs's own path may be
				// longer than a socket address can be.
				dir, err := unix.Open(filepath.Join(rootfs, "sys/fs"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer unix.Close(dir)
				if err := unix.Bind(fd, &unix.SockaddrUnix{Name: fmt.Sprintf("/proc/self/fd/%d/bpf", dir)}); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"/sys/fs/bpf", "not a directory"},
		},
		{
			name: "symlink to a character device in the image",
			prepare: func(t *testing.T, rootfs string) {
				mustMkdir(t, filepath.Join(rootfs, "dev"))
				mknod(t, filepath.Join(rootfs, "dev/null"), unix.S_IFCHR|0o666, unix.Mkdev(1, 3))
				mustSymlink(t, "/dev/null", filepath.Join(rootfs, "sys/fs/bpf"))
			},
			want: []string{"/sys/fs/bpf", "not a directory"},
		},
		{
			name: "symlink to the host's /dev/null",
			prepare: func(t *testing.T, rootfs string) {
				mustSymlink(t, "/dev/null", filepath.Join(rootfs, "sys/fs/bpf"))
			},
			want: []string{"/sys/fs/bpf", "no such file"},
		},
		{
			// With a procfs in the rootfs (runc mounts one before
			// createRuntime), /proc/self/root would be the hook's own root,
			// the host's: magic links must not be followed.
			name: "magic link through the container's procfs",
			prepare: func(t *testing.T, rootfs string) {
				mountProc(t, rootfs)
				mustSymlink(t, "/proc/self/root"+hostDir, filepath.Join(rootfs, "sys/fs/bpf"))
			},
			want: []string{"/sys/fs/bpf", "too many levels of symbolic links"},
		},
		{
			name: "magic link as a parent through the container's procfs",
			prepare: func(t *testing.T, rootfs string) {
				mountProc(t, rootfs)
				mustSymlink(t, "/proc/self/cwd", filepath.Join(rootfs, "run"))
			},
			path: "/run/bpf",
			want: []string{"/run", "too many levels of symbolic links"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hostDirBefore := listDir(t, hostDir)
			c := startContainer(t, func(rootfs string) { tt.prepare(t, rootfs) })
			host := snapshotHost(t) // after the procfs mounts the cases make
			ann := minimalDelegation
			if tt.path != "" {
				ann = withPath(minimalDelegation, tt.path)
			}
			c.writeConfig(config{annotations: ann})
			fdsBefore := fds(t, c.Pid)
			rootfsBefore := listRootfs(t, c.Rootfs)
			res := runHook(t, c.state())
			if res.code != 1 {
				t.Errorf("hook exited %d, want 1; stderr: %q", res.code, res.stderr)
			}
			checkOneLine(t, res.stderr, append([]string{"bpftoken-oci-hook: ", "container " + c.id + ": "}, tt.want...))
			if m := c.bpfMounts(); len(m) != 0 {
				t.Errorf("refused container has bpffs mounts: %q", m)
			}
			if got := fds(t, c.Pid); !slices.Equal(got, fdsBefore) {
				t.Errorf("container's fds changed: before %v, after %v", fdsBefore, got)
			}
			if got := listRootfs(t, c.Rootfs); !slices.Equal(got, rootfsBefore) {
				t.Errorf("rootfs changed: before %v, after %v", rootfsBefore, got)
			}
			if got := listDir(t, hostDir); !slices.Equal(got, hostDirBefore) {
				t.Errorf("host directory changed: before %v, after %v", hostDirBefore, got)
			}
			checkHostUnchanged(t, host)
		})
	}
}

func mknod(t *testing.T, path string, mode uint32, dev uint64) {
	t.Helper()
	if err := unix.Mknod(path, mode, int(dev)); err != nil {
		t.Fatalf("mknod %s: %v", path, err)
	}
	if err := os.Chmod(path, os.FileMode(mode&0o777)); err != nil {
		t.Fatal(err)
	}
}

// mountProc mounts a procfs at rootfs/proc, as runc does before
// createRuntime. The stand-in copies the mount at its start; the host's
// copy goes when the test ends (propagating to the slave).
func mountProc(t *testing.T, rootfs string) {
	t.Helper()
	proc := filepath.Join(rootfs, "proc")
	mustMkdir(t, proc)
	if err := unix.Mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(proc, unix.MNT_DETACH) })
}
