package integration

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"testing"

	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
)

// fullDelegation is the set the kernel notes verified: what the probes use
// is delegated, hash maps and xdp programs are not.
var fullDelegation = map[string]string{
	"bpf.token/cmds":    "map_create, prog_load:btf_load",
	"bpf.token/maps":    "ARRAY",
	"bpf.token/progs":   "socket_filter",
	"bpf.token/attachs": "cgroup_inet_ingress",
}

func withPath(ann map[string]string, path string) map[string]string {
	out := map[string]string{"bpf.token/path": path}
	for k, v := range ann {
		out[k] = v
	}
	return out
}

func TestHookDelegatesToContainer(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		prepare     func(rootfs string)
		path        string // inside the container
		want        map[string]string
		// cri: from a CRI runtime (CRI-O), which needs a policy.
		cri bool
	}{
		{
			name:        "default path",
			annotations: fullDelegation,
			path:        "/sys/fs/bpf",
			want: map[string]string{
				"array_without_token": "EPERM", "token": "ok", "array": "ok", "pin": "ok",
				"hash": "EPERM", "socket_filter": "ok", "xdp": "EPERM", "btf": "ok",
			},
		},
		{
			name: "only maps delegated",
			annotations: map[string]string{
				"bpf.token/cmds": "map_create",
				"bpf.token/maps": "array:hash",
			},
			path: "/sys/fs/bpf",
			want: map[string]string{
				"array_without_token": "EPERM", "token": "ok", "array": "ok", "pin": "ok",
				"hash": "ok", "socket_filter": "EPERM", "xdp": "EPERM", "btf": "EPERM",
			},
		},
		{
			name:        "path the image lacks",
			annotations: withPath(fullDelegation, "/run/bpf/"),
			path:        "/run/bpf",
			want: map[string]string{
				"array_without_token": "EPERM", "token": "ok", "array": "ok", "pin": "ok",
				"hash": "EPERM", "socket_filter": "ok", "xdp": "EPERM", "btf": "ok",
			},
		},
		{
			name: "CRI container name selects its per-container annotation",
			annotations: map[string]string{
				"io.kubernetes.container.name": "web",
				"bpf.token/cmds":               "map_create",
				"bpf.token/maps":               "array",
				"bpf.token/container.web":      `{"cmds": "map_create", "maps": ["hash"]}`,
				"bpf.token/container.sidecar":  "none",
			},
			path: "/sys/fs/bpf",
			want: map[string]string{"token": "ok", "array": "EPERM", "hash": "ok", "socket_filter": "EPERM"},
			cri:  true,
		},
		{
			name:        "path through a symlink inside the rootfs",
			annotations: withPath(fullDelegation, "/var/run/bpf"),
			prepare: func(rootfs string) {
				mustMkdir(t, filepath.Join(rootfs, "run"))
				mustMkdir(t, filepath.Join(rootfs, "var"))
				mustSymlink(t, "/run", filepath.Join(rootfs, "var", "run"))
			},
			path: "/run/bpf",
			want: map[string]string{
				"array_without_token": "EPERM", "token": "ok", "array": "ok", "pin": "ok",
				"hash": "EPERM", "socket_filter": "ok", "xdp": "EPERM", "btf": "ok",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshotHost(t)
			c := startStandin(t, tt.prepare, !tt.cri)
			c.writeConfig(config{annotations: tt.annotations})
			fdsBefore := fds(t, c.Pid)

			var args []string
			if tt.cri {
				args = []string{"--policy", writePolicy(t, permissivePolicy)}
			}
			res := runHook(t, c.state(), args...)
			if res.code != 0 {
				t.Fatalf("hook exited %d: %s", res.code, res.stderr)
			}
			if got := fds(t, c.Pid); strings.Join(got, ",") != strings.Join(fdsBefore, ",") {
				t.Errorf("container's fds changed: before %v, after %v", fdsBefore, got)
			}
			mounts := c.bpfMounts()
			if len(mounts) != 1 {
				t.Fatalf("container has %d bpffs mounts, want 1: %v", len(mounts), mounts)
			}
			wantPoint := " " + filepath.Join(c.Rootfs, tt.path) + " "
			for _, want := range []string{wantPoint, "nosuid", "nodev", "noexec", "delegate_cmds=", "uid=100000,gid=100000"} {
				if !strings.Contains(mounts[0], want) {
					t.Errorf("bpffs mount %q lacks %q", mounts[0], want)
				}
			}
			got := c.probe(tt.path)
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("probe %s = %q, want %q (all: %v)", k, got[k], want, got)
				}
			}
			checkHostUnchanged(t, before)
		})
	}
}

func TestHookWithoutAnnotationDoesNothing(t *testing.T) {
	before := snapshotHost(t)
	c := startContainer(t, nil)
	c.writeConfig(config{annotations: map[string]string{"org.example/other": "x"}})
	res := runHook(t, c.state(), "--log-level", "debug")
	if res.code != 0 {
		t.Fatalf("hook exited %d: %s", res.code, res.stderr)
	}
	if m := c.bpfMounts(); len(m) != 0 {
		t.Errorf("container got bpffs mounts without annotations: %v", m)
	}
	if _, err := os.Lstat(filepath.Join(c.Rootfs, "sys/fs/bpf")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("hook created /sys/fs/bpf without annotations (lstat: %v)", err)
	}
	if got := c.probe("/sys/fs/bpf"); got["array_without_token"] != "EPERM" || got["open"] != "ENOENT" {
		t.Errorf("container without delegation: probe = %v, want EPERM without token and no bpffs", got)
	}
	checkHostUnchanged(t, before)
}

func TestHookTrustsStateAnnotations(t *testing.T) {
	c := startContainer(t, nil)
	// No config.json at all: with annotations in the state and none of
	// them ours, the hook must not need it.
	state := strings.Replace(c.state(), `"status"`, `"annotations":{"org.example/x":"y"},"status"`, 1)
	if res := runHook(t, state); res.code != 0 {
		t.Fatalf("hook exited %d: %s", res.code, res.stderr)
	}
	// With ours in the state, it reads config.json, and says which.
	state = strings.Replace(c.state(), `"status"`, `"annotations":{"bpf.token/cmds":"map_create"},"status"`, 1)
	res := runHook(t, state)
	if res.code == 0 {
		t.Fatal("hook succeeded without config.json")
	}
	checkOneLine(t, res.stderr, []string{c.id, filepath.Join(c.Bundle, "config.json")})
}

func TestHookRefusals(t *testing.T) {
	hostDir := worldDir(t) // a host directory an escape would land in
	tests := []struct {
		name        string
		annotations map[string]string
		noUserNS    bool
		prepare     func(rootfs string)
		wantMsg     []string
	}{
		{
			name:        "no user namespace",
			annotations: fullDelegation,
			noUserNS:    true,
			wantMsg:     []string{"no user namespace", "--userns=auto"},
		},
		{
			name:        "unknown map type",
			annotations: map[string]string{"bpf.token/maps": "array:hsh"},
			wantMsg:     []string{"bpf.token/maps", `"hsh"`, `"hash"`},
		},
		{
			name:        "misspelled key",
			annotations: map[string]string{"bpf.token/prog": "xdp"},
			wantMsg:     []string{"bpf.token/prog", "bpf.token/progs"},
		},
		{
			name:        "path alone",
			annotations: map[string]string{"bpf.token/path": "/run/bpf"},
			wantMsg:     []string{"bpf.token/path", "bpf.token/cmds"},
		},
		{
			name:        "relative path",
			annotations: withPath(fullDelegation, "run/bpf"),
			wantMsg:     []string{"bpf.token/path", "run/bpf"},
		},
		{
			name:        "dot-dot path",
			annotations: withPath(fullDelegation, "/../../"+strings.TrimPrefix(hostDir, "/")),
			wantMsg:     []string{"bpf.token/path", ".."},
		},
		{
			name:        "absolute symlink to a host directory",
			annotations: fullDelegation,
			prepare:     func(rootfs string) { mustSymlink(t, hostDir, filepath.Join(rootfs, "sys/fs/bpf")) },
			wantMsg:     []string{"/sys/fs/bpf", "no such file"},
		},
		{
			name:        "relative symlink climbing out",
			annotations: fullDelegation,
			prepare: func(rootfs string) {
				mustSymlink(t, "../../../../../../../../.."+hostDir, filepath.Join(rootfs, "sys/fs/bpf"))
			},
			wantMsg: []string{"/sys/fs/bpf", "no such file"},
		},
		{
			name:        "symlinked parent to a host directory",
			annotations: withPath(fullDelegation, "/run/bpf"),
			prepare:     func(rootfs string) { mustSymlink(t, hostDir, filepath.Join(rootfs, "run")) },
			wantMsg:     []string{"/run", "no such file"},
		},
		{
			name:        "path is a file",
			annotations: fullDelegation,
			prepare: func(rootfs string) {
				if err := os.WriteFile(filepath.Join(rootfs, "sys/fs/bpf"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantMsg: []string{"/sys/fs/bpf", "not a directory", "bpf.token/path"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshotHost(t)
			hostBefore := listDir(t, hostDir)
			c := startContainer(t, tt.prepare)
			c.writeConfig(config{annotations: tt.annotations, noUserNS: tt.noUserNS})
			res := runHook(t, c.state())
			if res.code == 0 {
				t.Fatalf("hook accepted the container; stderr: %s", res.stderr)
			}
			checkOneLine(t, res.stderr, append([]string{"bpftoken-oci-hook: ", c.id}, tt.wantMsg...))
			if m := c.bpfMounts(); len(m) != 0 {
				t.Errorf("refused container still got a bpffs: %v", m)
			}
			if after := listDir(t, hostDir); strings.Join(after, ",") != strings.Join(hostBefore, ",") {
				t.Errorf("host directory changed: %v -> %v", hostBefore, after)
			}
			checkHostUnchanged(t, before)
		})
	}
}

func TestHookRefusesProcessInHostUserNamespace(t *testing.T) {
	before := snapshotHost(t)
	c := startContainer(t, nil)
	c.writeConfig(config{annotations: fullDelegation})
	// A config that claims a user namespace, but the pid is a host process.
	host := exec.Command("sleep", "60")
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { host.Process.Kill(); host.Wait() }()
	state := strings.Replace(c.state(), fmt.Sprintf(`"pid":%d`, c.Pid), fmt.Sprintf(`"pid":%d`, host.Process.Pid), 1)
	res := runHook(t, state)
	if res.code == 0 {
		t.Fatal("hook accepted a process in the host's user namespace")
	}
	checkOneLine(t, res.stderr, []string{"no user namespace of its own", "host's user namespace"})
	checkHostUnchanged(t, before)
}

func TestHookRefusesDeadProcess(t *testing.T) {
	c := startContainer(t, nil)
	c.writeConfig(config{annotations: fullDelegation})
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	state := strings.Replace(c.state(), fmt.Sprintf(`"pid":%d`, c.Pid), fmt.Sprintf(`"pid":%d`, dead.Process.Pid), 1)
	res := runHook(t, state)
	if res.code == 0 {
		t.Fatal("hook accepted a pid that exited")
	}
	checkOneLine(t, res.stderr, []string{"no such process", "exited before the hook ran"})
}

func TestHookTwiceMountsOnce(t *testing.T) {
	before := snapshotHost(t)
	c := startContainer(t, nil)
	c.writeConfig(config{annotations: fullDelegation})
	for i := range 2 {
		if res := runHook(t, c.state()); res.code != 0 {
			t.Fatalf("run %d: hook exited %d: %s", i+1, res.code, res.stderr)
		}
	}
	if m := c.bpfMounts(); len(m) != 1 {
		t.Errorf("after two runs the container has %d bpffs mounts, want 1: %v", len(m), m)
	}
	if got := c.probe("/sys/fs/bpf"); got["token"] != "ok" {
		t.Errorf("token after second run: %v", got)
	}
	// A second run asking for something else must not stack a mount either.
	c.writeConfig(config{annotations: map[string]string{"bpf.token/cmds": "map_create"}})
	res := runHook(t, c.state())
	if res.code == 0 {
		t.Error("hook accepted a different delegation over an existing bpffs")
	}
	checkOneLine(t, res.stderr, []string{"already mounted", "/sys/fs/bpf"})
	if m := c.bpfMounts(); len(m) != 1 {
		t.Errorf("after a conflicting run the container has %d bpffs mounts, want 1", len(m))
	}
	checkHostUnchanged(t, before)
}

func TestHookBadState(t *testing.T) {
	testenv.Privileged(t)
	tests := []struct {
		name, stdin string
		want        []string
	}{
		{"empty", "", []string{"empty", "OCI hook"}},
		{"garbage", "{not json", []string{"decode container state"}},
		{"no bundle", `{"id":"x","pid":1}`, []string{"no bundle"}},
		{"relative bundle", `{"id":"x","pid":1,"bundle":"b"}`, []string{"not absolute"}},
		{"missing config", `{"id":"x","pid":1,"bundle":"/nonexistent-bundle"}`, []string{"config.json", "no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runHook(t, tt.stdin)
			if res.code == 0 {
				t.Fatal("hook accepted bad state")
			}
			checkOneLine(t, res.stderr, tt.want)
		})
	}
}

func TestHookFlags(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"--help"}, 0, "createRuntime hook"},
		{[]string{"--version"}, 0, "bpftoken-oci-hook "},
		{[]string{"--log-level", "loud"}, 2, "--log-level"},
		{[]string{"--no-such-flag"}, 2, "no-such-flag"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			res := runHook(t, "", tt.args...)
			if res.code != tt.wantCode {
				t.Errorf("exit code %d, want %d", res.code, tt.wantCode)
			}
			if out := res.stdout + res.stderr; !strings.Contains(out, tt.want) {
				t.Errorf("output %q lacks %q", out, tt.want)
			}
		})
	}
}

func TestHookLogFile(t *testing.T) {
	c := startContainer(t, nil)
	c.writeConfig(config{annotations: fullDelegation})
	logFile := filepath.Join(t.TempDir(), "hook.log")
	res := runHook(t, c.state(), "--log-level", "debug", "--log-file", logFile)
	if res.code != 0 {
		t.Fatalf("hook exited %d: %s", res.code, res.stderr)
	}
	if res.stderr != "" {
		t.Errorf("with --log-file, stderr should stay empty on success, got %q", res.stderr)
	}
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"delegated bpffs mounted", "container=" + c.id, "delegate_cmds="} {
		if !strings.Contains(string(data), want) {
			t.Errorf("log lacks %q:\n%s", want, data)
		}
	}
}

func TestHookWarnsButMounts(t *testing.T) {
	c := startContainer(t, nil)
	c.writeConfig(config{annotations: map[string]string{
		"bpf.token/cmds":  "prog_load",
		"bpf.token/progs": "xdp",
	}, capabilities: []string{"CAP_CHOWN"}})
	res := runHook(t, c.state())
	if res.code != 0 {
		t.Fatalf("hook exited %d: %s", res.code, res.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(res.stderr, "\n"), "\n")
	want := [][]string{
		{"warning", c.id, "CAP_BPF", "--cap-add BPF"},
		{"warning", "CAP_NET_ADMIN", "xdp"},
		{"warning", "bpf.token/attachs lacks cgroup_inet_ingress"},
	}
	if len(lines) != len(want) {
		t.Fatalf("stderr has %d lines, want %d warnings: %q", len(lines), len(want), res.stderr)
	}
	for i, w := range want {
		checkOneLine(t, lines[i]+"\n", w)
	}
	if m := c.bpfMounts(); len(m) != 1 {
		t.Errorf("after warnings the container has %d bpffs mounts, want 1", len(m))
	}
}

// A container in the host's network namespace could attach XDP or tc to the
// host's interfaces: the hook refuses network program types there, with or
// without a policy, and mounts nothing; a socket filter is granted.
func TestHookRefusesNetworkProgramsInTheHostNetworkNamespace(t *testing.T) {
	for _, tt := range []struct {
		progs string
		want  string // "": granted
	}{
		{"xdp", "program types xdp delegated to a container that shares the host's network namespace could attach to the host's interfaces and network hooks: give the container a network namespace of its own"},
		{"sched_cls:socket_filter", "program types sched_cls delegated to a container that shares the host's network namespace"},
		{"socket_filter", ""},
	} {
		t.Run(tt.progs, func(t *testing.T) {
			c := startContainer(t, nil)
			c.writeConfig(config{hostNetwork: true, annotations: map[string]string{
				"bpf.token/cmds": "prog_load", "bpf.token/progs": tt.progs, "bpf.token/attachs": "cgroup_inet_ingress",
			}, capabilities: []string{"CAP_BPF", "CAP_NET_ADMIN"}})
			res := runHook(t, c.state())
			if tt.want == "" {
				if res.code != 0 || len(c.bpfMounts()) != 1 {
					t.Fatalf("hook exited %d (%s), %d bpffs mounts; want granted", res.code, res.stderr, len(c.bpfMounts()))
				}
				return
			}
			if res.code == 0 {
				t.Fatalf("hook granted %s in the host's network namespace", tt.progs)
			}
			checkOneLine(t, res.stderr, []string{c.id, tt.want})
			if m := c.bpfMounts(); len(m) != 0 {
				t.Errorf("refused, yet the container has %d bpffs mounts", len(m))
			}
		})
	}
}

// checkOneLine asserts that msg is exactly one line containing every want.
func checkOneLine(t *testing.T, msg string, want []string) {
	t.Helper()
	if strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") {
		t.Errorf("message is not exactly one line: %q", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q lacks %q", msg, w)
		}
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
