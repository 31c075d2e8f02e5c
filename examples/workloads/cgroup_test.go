package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCgroup2Dir(t *testing.T) {
	const (
		hybridHost = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
		pureV2 = `22 1 0:21 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
`
		// podman with --cgroup-parent=/bpfwl and -v /sys/fs/cgroup/unified/bpfwl:/sys/fs/cgroup/unified:ro
		subtreeBind = `107 100 0:47 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw,mode=755
123 107 0:38 /bpfwl /sys/fs/cgroup/unified ro,relatime - cgroup2 cgroup2 rw
`
		twoMounts = `41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 31 0:38 /a/b /mnt/b rw,relatime - cgroup2 cgroup2 rw
51 31 0:38 /a /mnt/a rw,relatime - cgroup2 cgroup2 rw
`
		escaped = `41 31 0:38 / /run/my\040cgroups rw,relatime - cgroup2 cgroup2 rw
`
		// optional fields before the separator
		optional = `41 31 0:38 / /sys/fs/cgroup rw shared:9 master:3 - cgroup2 cgroup2 rw
`
		// --cgroupns=private with a bind mount of the parent's directory
		privateParentBind = `123 113 0:38 /.. /sys/fs/cgroup/unified ro,relatime - cgroup2 cgroup2 rw
`
		v1Only = `35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
`
	)
	never := func(string) bool { return false }
	tests := []struct {
		name      string
		cgroup    string
		mountinfo string
		want      string
		wantErr   string
	}{
		{"hybrid host, root cgroup", "4:memory:/\n0::/\n", hybridHost, "/sys/fs/cgroup/unified", ""},
		{"hybrid host, podman container", "4:memory:/libpod_parent/libpod-1\n0::/libpod_parent/libpod-1\n", hybridHost,
			"/sys/fs/cgroup/unified/libpod_parent/libpod-1", ""},
		{"pure v2, private cgroupns", "0::/\n", pureV2, "/sys/fs/cgroup", ""},
		{"pure v2, nested", "0::/system.slice/x.service\n", pureV2, "/sys/fs/cgroup/system.slice/x.service", ""},
		{"bind mount of a subtree", "0::/bpfwl/libpod-2\n", subtreeBind, "/sys/fs/cgroup/unified/libpod-2", ""},
		{"bind mount root is the cgroup itself", "0::/bpfwl\n", subtreeBind, "/sys/fs/cgroup/unified", ""},
		{"prefix that is not a parent", "0::/bpfwlx/c\n", subtreeBind, "",
			"cgroup v2 /bpfwlx/c: not under any cgroup2 mount in /proc/self/mountinfo (pass -cgroup DIR)"},
		{"longest root wins", "0::/a/b/c\n", twoMounts, "/mnt/b/c", ""},
		{"longest root wins, other order", "0::/a/x\n", twoMounts, "/mnt/a/x", ""},
		{"escaped mount point", "0::/x\n", escaped, "/run/my cgroups/x", ""},
		{"optional fields", "0::/x\n", optional, "/sys/fs/cgroup/x", ""},
		{"no cgroup2 mount", "0::/x\n", v1Only, "",
			"cgroup v2 /x: no cgroup2 mount in /proc/self/mountinfo (pass -cgroup DIR)"},
		{"no 0:: line", "4:memory:/x\n", hybridHost, "", `no cgroup v2 ("0::" line) in /proc/self/cgroup`},
		{"root above the namespace, nothing holds the process", "0::/\n", privateParentBind, "",
			"cgroup v2 /: not under any cgroup2 mount in /proc/self/mountinfo (pass -cgroup DIR)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cgroup2Dir(tt.cgroup, tt.mountinfo, never)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got %q, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// A mount rooted above the cgroup namespace's root: the directory whose
// cgroup.procs lists the process is found among those below the mount.
func TestCgroup2DirAboveNamespaceRoot(t *testing.T) {
	mnt := t.TempDir()
	for _, d := range []string{"p/libpod-a", "p/libpod-b/sub", "q/libpod-c"} {
		if err := os.MkdirAll(filepath.Join(mnt, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(dir, content string) {
		if err := os.WriteFile(filepath.Join(mnt, dir, "cgroup.procs"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("p/libpod-a", "1\n7\n")
	write("p/libpod-b", "42\n")
	write("p/libpod-b/sub", "")
	write("q/libpod-c", "421\n")
	esc := strings.ReplaceAll(mnt, " ", `\040`)
	tests := []struct {
		name, cgroup, root, want string
	}{
		{"one level up", "0::/\n", "/..", "p/libpod-b"},
		{"two levels up", "0::/\n", "/../..", "p/libpod-b"},
		{"two levels up, in a child of the namespace root", "0::/sub\n", "/../..", "p/libpod-b/sub"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := mnt
			if tt.root == "/.." {
				base = filepath.Join(mnt, "p")
			}
			mi := "123 113 0:38 " + tt.root + " " + strings.ReplaceAll(base, mnt, esc) + " ro - cgroup2 cgroup2 rw\n"
			self := holdsPid(42)
			if strings.HasSuffix(tt.want, "/sub") {
				self = func(dir string) bool { return strings.HasSuffix(dir, "libpod-b/sub") }
			}
			got, err := cgroup2Dir(tt.cgroup, mi, self)
			if err != nil || got != filepath.Join(mnt, tt.want) {
				t.Fatalf("got %q, %v; want %q", got, err, filepath.Join(mnt, tt.want))
			}
		})
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`:        "/plain",
		`/a\040b`:       "/a b",
		`/tab\011x`:     "/tab\tx",
		`/back\134sl`:   `/back\sl`,
		`/short\04`:     `/short\04`,
		`/not\8octal12`: `/not\8octal12`,
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}
