package doctor

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
)

// leftovers is what the token check could leave behind.
type leftovers struct {
	mountinfo string
	standins  []int // pids of stand-in processes
	children  []int // pids of this process's children
}

func snapshot(t *testing.T) leftovers {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	l := leftovers{mountinfo: string(mi)}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := strconv.Itoa(os.Getpid())
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline")); err == nil && bytes.Contains(cmdline, []byte(standinArg)) {
			l.standins = append(l.standins, pid)
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", p.Name(), "stat")); err == nil {
			// pid (comm) state ppid ...: comm may hold spaces.
			if i := bytes.LastIndexByte(stat, ')'); i > 0 {
				if f := strings.Fields(string(stat[i+1:])); len(f) > 1 && f[1] == self {
					l.children = append(l.children, pid)
				}
			}
		}
	}
	return l
}

func (before leftovers) check(t *testing.T, after leftovers) {
	t.Helper()
	if after.mountinfo != before.mountinfo {
		t.Errorf("the mount table changed:\nbefore:\n%s\nafter:\n%s", before.mountinfo, after.mountinfo)
	}
	if len(after.standins) > 0 {
		t.Errorf("stand-in processes left: %v", after.standins)
	}
	if len(after.children) > len(before.children) {
		t.Errorf("child processes left: %v (before: %v)", after.children, before.children)
	}
}

// searchableTempDir makes a directory the stand-in's uid can reach, and
// checks at the end that the check left nothing in it.
func searchableTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "doctor-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		t.Errorf("temporary directories left in %s: %v", dir, entries)
	}
}

func TestTokenCheckOnThisKernel(t *testing.T) {
	testenv.Privileged(t)
	tmp := searchableTempDir(t)
	before := snapshot(t)
	// Twice: the second run meets a process whose threads pkg/userns ended.
	for i := range 2 {
		results := Run(context.Background(), Options{TempDir: tmp})
		var tokens *Result
		for i := range results {
			if results[i].Name == CheckTokens {
				tokens = &results[i]
			}
		}
		if tokens == nil || tokens.Verdict != OK {
			t.Fatalf("run %d: token check = %+v, want ok", i, tokens)
		}
		for _, want := range []string{"delegate_cmds=map_create", "delegate_maps=array", "created a BPF token and an array map"} {
			if !strings.Contains(tokens.Detail, want) {
				t.Errorf("token check detail lacks %q: %s", want, tokens.Detail)
			}
		}
		before.check(t, snapshot(t))
		assertEmpty(t, tmp)
	}
}

func TestTokenCheckCleansUpAfterFailure(t *testing.T) {
	testenv.Privileged(t)
	tmp := searchableTempDir(t)
	before := snapshot(t)
	// A deadline in the past: the stand-in starts, then the bpffs cannot
	// be made.
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	r := checkTokens(ctx, Options{TempDir: tmp})
	if r.Verdict != Fail || !strings.Contains(r.Detail, "deadline") {
		t.Errorf("token check with an expired deadline = %+v, want a failure saying so", r)
	}
	before.check(t, snapshot(t))
	assertEmpty(t, tmp)
}

func TestProbeTokenOutsideAUserNamespace(t *testing.T) {
	testenv.Privileged(t)
	// Not a bpffs root: the kernel says EINVAL.
	if got := probeToken(t.TempDir()); got != "BPF_TOKEN_CREATE: EINVAL" {
		t.Errorf("probeToken(plain dir) = %q", got)
	}
	if got := probeToken("/nonexistent"); got != "open /nonexistent: ENOENT" {
		t.Errorf("probeToken(/nonexistent) = %q", got)
	}
}

func TestStandinExitsWhenTheDoctorGoesAway(t *testing.T) {
	var out bytes.Buffer
	if code := standin(strings.NewReader(""), &out); code != 1 || out.Len() != 0 {
		t.Errorf("standin(EOF) = %d, %q; want 1 and silence", code, out.String())
	}
}

func TestSearchableDir(t *testing.T) {
	private := t.TempDir() // under a 0700 parent
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	got, err := searchableDir(private)
	if err != nil || got == private {
		t.Errorf("searchableDir(%s) = %q, %v; want a fallback", private, got, err)
	}
	open := searchableTempDir(t)
	if got, err := searchableDir(open); err != nil || got != open {
		t.Errorf("searchableDir(%s) = %q, %v; want it", open, got, err)
	}
}

func TestPickIDBlock(t *testing.T) {
	used := usedIDRanges()
	for range 20 {
		base, err := pickIDBlock()
		if err != nil {
			t.Fatal(err)
		}
		if base < idFloor || base+idBlock > idCeiling || (base-idFloor)%idBlock != 0 {
			t.Fatalf("pickIDBlock() = %d: out of range or unaligned", base)
		}
		for _, r := range used {
			if base < r[1] && r[0] < base+idBlock {
				t.Fatalf("pickIDBlock() = %d overlaps used range %v", base, r)
			}
		}
	}
}
