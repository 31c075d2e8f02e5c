package integration

// Bad input for the real hook binary: annotations, the state on stdin and
// config.json, each against a real stand-in container. Every case must be
// refused with exactly one line on stderr naming what is wrong, and leave
// nothing behind: no mount in the container or on the host, no directory in
// the rootfs, no fd in the container's process, no helper process.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
)

// minimalDelegation asks for little, so that no warning line accompanies a
// refusal that happens after the annotations were parsed.
var minimalDelegation = map[string]string{
	"bpf.token/cmds": "map_create",
	"bpf.token/maps": "array",
}

// badCase is one piece of bad input. Unset fields take the defaults of a
// valid container: config.json as writeConfig makes it with
// minimalDelegation, and the state runc passes at createRuntime.
type badCase struct {
	name string
	// rootfs adds to the stand-in's rootfs before it starts.
	rootfs func(t *testing.T, rootfs string)
	// ann replaces the annotations of the default config.json.
	ann map[string]string
	// config edits the default config.json document.
	config func(t *testing.T, c *container, doc map[string]any)
	// rawConfig, if set, is written as config.json instead.
	rawConfig func(t *testing.T, c *container) []byte
	// bundle edits the bundle after config.json was written (remove it,
	// replace it with a directory, a symlink...).
	bundle func(t *testing.T, c *container)
	// state edits the default state document.
	state func(t *testing.T, c *container, doc map[string]any)
	// rawState, if set, is passed on stdin instead.
	rawState func(t *testing.T, c *container) string
	// pid, if set, starts another process and returns its pid for the
	// state; the process is checked like the container (fds unchanged)
	// when check is true.
	pid func(t *testing.T) (pid int, check bool)
	// want are words the one line on stderr must contain, besides the
	// hook's name.
	want []string
	// args are the hook's flags.
	args func(t *testing.T, c *container) []string
	// wantAny: the line must contain at least one of these (where the
	// machine decides which reason comes first).
	wantAny []string
	// withID: the line must name the container's id (refusals after the
	// state was decoded).
	withID bool
	// notWant are words the line must not contain (a wrong cause).
	notWant []string
	// cri: the container comes from a CRI runtime, not podman.
	cri bool
}

// configDoc is writeConfig's document as a map that a case may edit.
func configDoc(c *container, ann map[string]string) map[string]any {
	caps := []string{"CAP_BPF"}
	return map[string]any{
		"ociVersion":  "1.2.0",
		"process":     map[string]any{"capabilities": map[string][]string{"effective": caps, "bounding": caps}},
		"root":        map[string]any{"path": c.Rootfs},
		"annotations": ann,
		"linux": map[string]any{
			"namespaces":  []map[string]string{{"type": "mount"}, {"type": "pid"}, {"type": "user"}},
			"uidMappings": []map[string]int{{"containerID": 0, "hostID": 100000, "size": 65536}},
			"gidMappings": []map[string]int{{"containerID": 0, "hostID": 100000, "size": 65536}},
		},
	}
}

func stateDoc(c *container) map[string]any {
	return map[string]any{"ociVersion": "1.2.0", "id": c.id, "status": "creating", "pid": c.Pid, "bundle": c.Bundle}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// linuxDoc returns the "linux" object of a config document.
func linuxDoc(doc map[string]any) map[string]any { return doc["linux"].(map[string]any) }

// nested returns n levels of JSON arrays around "x".
func nested(n int) string {
	return strings.Repeat("[", n) + `"x"` + strings.Repeat("]", n)
}

// billionLaughs is a YAML alias bomb well under the 64 KiB value limit:
// fully expanded it would be 9^9 strings.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("cmds: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	prev := "a"
	for _, name := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		fmt.Fprintf(&b, "%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", name, name, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = name
	}
	return b.String()
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// startProc starts cmd and kills and reaps it when the test ends.
func startProc(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd.Process.Pid
}

// startIdle starts a shell with attr that says "ready" and then waits on
// its stdin: from then on its fds and mounts stay as they are until the
// test ends (and kills it).
func startIdle(t *testing.T, attr *syscall.SysProcAttr) int {
	t.Helper()
	cmd := exec.Command("sh", "-c", "echo ready; read x")
	cmd.SysProcAttr = attr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	pid := startProc(t, cmd)
	t.Cleanup(func() { stdin.Close() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("process %d did not get ready: %q %v", pid, line, err)
	}
	return pid
}

// zombieInUserNS returns the pid of a process in a user and mount namespace
// of its own that has exited and was not reaped yet.
func zombieInUserNS(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	cmd.SysProcAttr = testenv.ContainerProcAttr()
	pid := startProc(t, cmd)
	var info unix.Siginfo
	// WNOWAIT: wait until it exited, but leave it a zombie.
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatalf("waitid: %v", err)
	}
	return pid
}

// threadOf returns a thread id of pid other than pid itself.
func threadOf(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if tid, err := strconv.Atoi(e.Name()); err == nil && tid != pid {
			return tid
		}
	}
	t.Fatalf("pid %d has a single thread", pid)
	return 0
}

// relevantMounts lists the mounts of pid's mount namespace that a hook
// could have made: bpffs anywhere, anything under the given directories.
// Mounts elsewhere may come and go with other tests on the host.
func relevantMounts(t *testing.T, pid int, dirs ...string) []string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		_, after, _ := strings.Cut(line, " - ")
		keep := strings.HasPrefix(after, "bpf ")
		for _, d := range dirs {
			keep = keep || f[4] == d || strings.HasPrefix(f[4], d+"/")
		}
		if keep {
			out = append(out, line)
		}
	}
	slices.Sort(out)
	return out
}

func badInputCases(hostDir string) []badCase {
	hostRel := "../../../../../../../../.." + hostDir
	withAnn := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range minimalDelegation {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	cri := func(value string) map[string]string {
		return map[string]string{
			"io.kubernetes.container.name": "web",
			"bpf.token/container.web":      value,
		}
	}
	return []badCase{
		// --- annotations (in a valid config.json) ---
		{name: "ann/garbage item", ann: map[string]string{"bpf.token/cmds": "%%%!"},
			want: []string{"annotation bpf.token/cmds", `unknown bpf command "%%%!"`}, withID: true},
		{name: "ann/typo with suggestion", ann: map[string]string{"bpf.token/maps": "arrray"},
			want: []string{"bpf.token/maps", `"arrray"`, `did you mean "array"`}, withID: true},
		{name: "ann/C enum name", ann: map[string]string{"bpf.token/maps": "BPF_MAP_TYPE_HASH"},
			want: []string{"bpf.token/maps", "leave out the BPF_MAP_TYPE_ prefix"}, withID: true},
		{name: "ann/name under the wrong key", ann: map[string]string{"bpf.token/maps": "xdp"},
			want: []string{"bpf.token/maps", `"xdp"`, "valid under bpf.token/progs"}, withID: true},
		{name: "ann/bad hex number", ann: map[string]string{"bpf.token/maps": "0x1g"},
			want: []string{"bpf.token/maps", `bad number "0x1g"`, "not a decimal or 0x-prefixed"}, withID: true},
		{name: "ann/number beyond 64 bits", ann: map[string]string{"bpf.token/cmds": "0x1ffffffffffffffff"},
			want: []string{"bpf.token/cmds", "does not fit in 64 bits"}, withID: true},
		{name: "ann/negative number", ann: map[string]string{"bpf.token/cmds": "-1"},
			want: []string{"bpf.token/cmds", `bad number "-1"`}, withID: true},
		{name: "ann/only zero", ann: map[string]string{"bpf.token/cmds": "0", "bpf.token/maps": "0x0"},
			want: []string{"bpf.token/cmds", "selects no bits"}, withID: true},
		{name: "ann/empty value", ann: map[string]string{"bpf.token/cmds": ""},
			want: []string{"bpf.token/cmds is empty"}, withID: true},
		{name: "ann/separators only", ann: map[string]string{"bpf.token/cmds": " ,: ,:"},
			want: []string{"bpf.token/cmds is empty"}, withID: true},
		{name: "ann/unknown key", ann: withAnn(map[string]string{"bpf.token/foo": "x"}),
			want: []string{"annotation bpf.token/foo: unknown key", "valid keys"}, withID: true},
		{name: "ann/key in upper case", ann: map[string]string{"bpf.token/CMDS": "map_create"},
			want: []string{"bpf.token/CMDS: unknown key", `did you mean "bpf.token/cmds"`}, withID: true},
		{name: "ann/mount option as key", ann: map[string]string{"bpf.token/delegate_maps": "array"},
			want: []string{"bpf.token/delegate_maps: unknown key", `"bpf.token/maps"`}, withID: true},
		{name: "ann/huge value", ann: map[string]string{"bpf.token/cmds": strings.Repeat("map_create,", 7000)},
			want: []string{"bpf.token/cmds: value too long", "77000 bytes"}, withID: true},
		{name: "ann/non-ASCII look-alike", ann: map[string]string{"bpf.token/maps": "arr\u0430y"},
			want: []string{"bpf.token/maps", "names are ASCII", `'\u0430'`}, withID: true},
		{name: "ann/non-UTF-8 item in config.json", rawConfig: func(t *testing.T, c *container) []byte {
			doc := mustJSON(t, configDoc(c, map[string]string{"bpf.token/cmds": "map_create", "bpf.token/maps": "arrayXX"}))
			return bytes.Replace(doc, []byte("arrayXX"), []byte("array\xff\xfe"), 1)
		}, want: []string{"config.json is not valid UTF-8"}, withID: true},
		// Decoded as is, the invalid byte would become U+FFFD and the bpffs
		// would be mounted at another path than the one written.
		{name: "ann/non-UTF-8 path in config.json", rawConfig: func(t *testing.T, c *container) []byte {
			doc := mustJSON(t, configDoc(c, withAnn(map[string]string{"bpf.token/path": "/run/bpfXX"})))
			return bytes.Replace(doc, []byte("bpfXX"), []byte("bpf\xff"), 1)
		}, want: []string{"config.json is not valid UTF-8"}, withID: true},
		{name: "ann/relative path", ann: withAnn(map[string]string{"bpf.token/path": "./run/bpf"}),
			want: []string{"bpf.token/path", `"./run/bpf"`, "not absolute"}, withID: true},
		{name: "ann/path climbing out", ann: withAnn(map[string]string{"bpf.token/path": "/sys/../../../" + hostDir}),
			want: []string{"bpf.token/path", `contains a ".." component`}, withID: true},
		{name: "ann/path ending in dot-dot", ann: withAnn(map[string]string{"bpf.token/path": "/sys/fs/bpf/.."}),
			want: []string{"bpf.token/path", `contains a ".." component`}, withID: true},
		{name: "ann/path is the root", ann: withAnn(map[string]string{"bpf.token/path": "/"}),
			want: []string{"bpf.token/path", "that is the container's root"}, withID: true},
		{name: "ann/path cleans to the root", ann: withAnn(map[string]string{"bpf.token/path": "//./"}),
			want: []string{"bpf.token/path", "that is the container's root"}, withID: true},
		{name: "ann/path with NUL", ann: withAnn(map[string]string{"bpf.token/path": "/run/bpf\x00x"}),
			want: []string{"bpf.token/path", "contains NUL"}, withID: true},
		{name: "ann/path with newline", ann: withAnn(map[string]string{"bpf.token/path": "/run/bpf\nx"}),
			want: []string{"bpf.token/path", "contains a control character"}, withID: true},
		{name: "ann/path longer than PATH_MAX", ann: withAnn(map[string]string{"bpf.token/path": "/" + strings.Repeat("a/", 2500)}),
			want: []string{"bpf.token/path", "longer than PATH_MAX"}, withID: true},
		{name: "ann/scope pod (the plugin's)", ann: withAnn(map[string]string{"bpf.token/scope": "pod"}),
			want: []string{"annotation bpf.token/scope: pod asks for one bpffs shared by a pod's containers, which only the NRI plugin gives"}, withID: true},
		{name: "ann/bad scope", ann: withAnn(map[string]string{"bpf.token/scope": "node"}),
			want: []string{"annotation bpf.token/scope: bad scope \"node\""}, withID: true},
		{name: "ann/path alone", ann: map[string]string{"bpf.token/path": "/run/bpf"},
			want: []string{"bpf.token/path is set but no delegate key is"}, withID: true},
		{name: "ann/path onto a file's child", ann: withAnn(map[string]string{"bpf.token/path": "/etc/passwd/bpf"}),
			rootfs: func(t *testing.T, rootfs string) {
				mustMkdir(t, filepath.Join(rootfs, "etc"))
				writeFile(t, filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0::/:/bin/sh\n"))
			}, want: []string{"/etc/passwd/bpf", "not a directory", "bpf.token/path"}, withID: true},
		{name: "ann/path through a symlink to a file", ann: minimalDelegation,
			rootfs: func(t *testing.T, rootfs string) {
				writeFile(t, filepath.Join(rootfs, "file"), nil)
				mustSymlink(t, "/file", filepath.Join(rootfs, "sys/fs/bpf"))
			}, want: []string{"/sys/fs/bpf", "not a directory"}, withID: true},
		{name: "ann/path through a symlink loop", ann: withAnn(map[string]string{"bpf.token/path": "/loop/bpf"}),
			rootfs: func(t *testing.T, rootfs string) {
				mustSymlink(t, "/loop2", filepath.Join(rootfs, "loop"))
				mustSymlink(t, "loop", filepath.Join(rootfs, "loop2"))
			}, want: []string{"/loop", "too many levels of symbolic links"}, withID: true},
		{name: "ann/path through a dangling symlink", ann: minimalDelegation,
			rootfs: func(t *testing.T, rootfs string) {
				mustSymlink(t, "/nonexistent/dir", filepath.Join(rootfs, "sys/fs/bpf"))
			}, want: []string{"/sys/fs/bpf", "no such file"}, withID: true},
		{name: "ann/relative symlink climbing out to a host directory", ann: withAnn(map[string]string{"bpf.token/path": "/run/bpf"}),
			rootfs: func(t *testing.T, rootfs string) { mustSymlink(t, hostRel, filepath.Join(rootfs, "run")) },
			want:   []string{"/run", "no such file"}, withID: true},
		{name: "ann/path onto a FIFO", ann: minimalDelegation,
			rootfs: func(t *testing.T, rootfs string) {
				if err := unix.Mkfifo(filepath.Join(rootfs, "sys/fs/bpf"), 0o644); err != nil {
					t.Fatal(err)
				}
			}, want: []string{"/sys/fs/bpf", "not a directory"}, withID: true},
		{name: "ann/per-container value not a map", ann: cri("cmds map_create"),
			want: []string{"bpf.token/container.web", "bad per-container value", "is not a YAML/JSON map"}, withID: true, cri: true},
		{name: "ann/per-container empty map", ann: cri("{}"),
			want: []string{"bpf.token/container.web sets no field"}, withID: true, cri: true},
		{name: "ann/per-container unknown field", ann: cri(`{"cmd": "map_create"}`),
			want: []string{"bpf.token/container.web", "bad per-container value", "cmd"}, withID: true, cri: true},
		{name: "ann/per-container field of the wrong type", ann: cri(`{"cmds": {"a": 1}}`),
			want: []string{"bpf.token/container.web", "bad per-container value", "want a string or a list of strings"}, withID: true, cri: true},
		{name: "ann/per-container bad item", ann: cri(`{"cmds": "map_create", "maps": ["arrray"]}`),
			want: []string{"bpf.token/container.web, field maps", `unknown map type "arrray"`}, withID: true, cri: true},
		{name: "ann/per-container relative path", ann: cri(`{"cmds": "map_create", "path": "run/bpf"}`),
			want: []string{"bpf.token/container.web, field path", "not absolute"}, withID: true, cri: true},
		{name: "ann/per-container YAML alias bomb", ann: cri(billionLaughs()),
			want: []string{"bpf.token/container.web", "bad per-container value"}, withID: true, cri: true},
		{name: "ann/per-container deep nesting", ann: cri(`{"cmds": ` + nested(20000) + `}`),
			want: []string{"bpf.token/container.web", "bad per-container value"}, withID: true, cri: true},

		// --- config.json ---
		{name: "config/bundle without config.json", bundle: func(t *testing.T, c *container) {
			os.Remove(filepath.Join(c.Bundle, "config.json"))
		}, want: []string{"open container config", filepath.Join("BUNDLE", "config.json"), "no such file or directory"}, withID: true},
		{name: "config/config.json is a directory", bundle: func(t *testing.T, c *container) {
			os.Remove(filepath.Join(c.Bundle, "config.json"))
			mustMkdir(t, filepath.Join(c.Bundle, "config.json"))
		}, want: []string{"config.json", "is a directory"}, withID: true},
		{name: "config/empty", rawConfig: func(t *testing.T, c *container) []byte { return nil },
			want: []string{"decode", "config.json", "unexpected end of JSON input"}, withID: true},
		{name: "config/garbage", rawConfig: func(t *testing.T, c *container) []byte { return []byte("\x00\x01garbage{") },
			want: []string{"decode", "config.json", "invalid character"}, withID: true},
		{name: "config/truncated", rawConfig: func(t *testing.T, c *container) []byte {
			doc := mustJSON(t, configDoc(c, minimalDelegation))
			return doc[:len(doc)*2/3]
		}, want: []string{"decode", "config.json", "unexpected end of JSON input"}, withID: true},
		{name: "config/top-level array", rawConfig: func(t *testing.T, c *container) []byte { return []byte(`[{"root": {}}]`) },
			want: []string{"decode", "config.json", "cannot unmarshal array"}, withID: true},
		{name: "config/huge", rawConfig: func(t *testing.T, c *container) []byte {
			doc := configDoc(c, minimalDelegation)
			doc["padding"] = strings.Repeat("x", 17<<20)
			return mustJSON(t, doc)
		}, want: []string{"config.json is larger than 16777216 bytes"}, withID: true},
		{name: "config/endless (symlink to /dev/zero)", bundle: func(t *testing.T, c *container) {
			os.Remove(filepath.Join(c.Bundle, "config.json"))
			mustSymlink(t, "/dev/zero", filepath.Join(c.Bundle, "config.json"))
		}, want: []string{"config.json is larger than"}, withID: true},
		{name: "config/non-UTF-8 outside strings", rawConfig: func(t *testing.T, c *container) []byte {
			return append([]byte{0xff, 0xfe}, mustJSON(t, configDoc(c, minimalDelegation))...)
		}, want: []string{"config.json is not valid UTF-8"}, withID: true},
		{name: "config/root.path a number", config: func(t *testing.T, c *container, doc map[string]any) {
			doc["root"] = map[string]any{"path": 42}
		}, want: []string{"decode", "config.json", "root.path", "number"}, withID: true},
		{name: "config/root a string", config: func(t *testing.T, c *container, doc map[string]any) {
			doc["root"] = "/rootfs"
		}, want: []string{"decode", "config.json", "root", "string"}, withID: true},
		{name: "config/no root", config: func(t *testing.T, c *container, doc map[string]any) {
			delete(doc, "root")
		}, want: []string{"container config has no root.path"}, withID: true},
		{name: "config/empty root.path", config: func(t *testing.T, c *container, doc map[string]any) {
			doc["root"] = map[string]any{"path": ""}
		}, want: []string{"container config has no root.path"}, withID: true},
		{name: "config/root.path does not exist", config: func(t *testing.T, c *container, doc map[string]any) {
			doc["root"] = map[string]any{"path": filepath.Join(c.Bundle, "missing")}
		}, want: []string{"open container rootfs", "missing", "no such file or directory"}, withID: true},
		{name: "config/root.path is a file", config: func(t *testing.T, c *container, doc map[string]any) {
			writeFile(t, filepath.Join(c.Bundle, "rootfile"), nil)
			doc["root"] = map[string]any{"path": filepath.Join(c.Bundle, "rootfile")}
		}, want: []string{"open container rootfs", "rootfile", "not a directory"}, withID: true},
		{name: "config/annotations a list", config: func(t *testing.T, c *container, doc map[string]any) {
			doc["annotations"] = []string{"bpf.token/cmds=map_create"}
		}, want: []string{"decode", "config.json", "annotations", "array"}, withID: true},
		{name: "config/annotation value a number", config: func(t *testing.T, c *container, doc map[string]any) {
			doc["annotations"] = map[string]any{"bpf.token/cmds": 5}
		}, want: []string{"decode", "config.json", "annotations", "number"}, withID: true},
		{name: "config/namespaces a string", config: func(t *testing.T, c *container, doc map[string]any) {
			linuxDoc(doc)["namespaces"] = "user"
		}, want: []string{"decode", "config.json", "namespaces", "string"}, withID: true},
		{name: "config/namespace type a number", config: func(t *testing.T, c *container, doc map[string]any) {
			linuxDoc(doc)["namespaces"] = []map[string]any{{"type": 7}}
		}, want: []string{"decode", "config.json", "type", "number"}, withID: true},
		{name: "config/namespace type misspelled", config: func(t *testing.T, c *container, doc map[string]any) {
			linuxDoc(doc)["namespaces"] = []map[string]any{{"type": "mount"}, {"type": "usr"}}
		}, want: []string{"no user namespace of its own", "--userns=auto"}, withID: true},
		{name: "config/namespaces null", config: func(t *testing.T, c *container, doc map[string]any) {
			linuxDoc(doc)["namespaces"] = nil
		}, want: []string{"no user namespace of its own"}, withID: true},
		{name: "config/no linux section", config: func(t *testing.T, c *container, doc map[string]any) {
			delete(doc, "linux")
		}, want: []string{"no user namespace of its own"}, withID: true},
		{name: "config/linux a string", config: func(t *testing.T, c *container, doc map[string]any) {
			doc["linux"] = "linux"
		}, want: []string{"decode", "config.json", "linux", "string"}, withID: true},
		{name: "config/uidMappings of the wrong type", config: func(t *testing.T, c *container, doc map[string]any) {
			linuxDoc(doc)["uidMappings"] = map[string]int{"containerID": 0}
		}, want: []string{"decode", "config.json", "uidMappings"}, withID: true},
		{name: "config/uid mapping beyond 32 bits", config: func(t *testing.T, c *container, doc map[string]any) {
			linuxDoc(doc)["uidMappings"] = []map[string]int64{{"containerID": 0, "hostID": 1 << 40, "size": 1}}
		}, want: []string{"decode", "config.json", "hostID"}, withID: true},
		{name: "config/capabilities of the wrong type", config: func(t *testing.T, c *container, doc map[string]any) {
			doc["process"] = map[string]any{"capabilities": map[string]any{"effective": "CAP_BPF"}}
		}, want: []string{"decode", "config.json", "effective"}, withID: true},
		{name: "config/seccomp a string", config: func(t *testing.T, c *container, doc map[string]any) {
			linuxDoc(doc)["seccomp"] = "unconfined"
		}, want: []string{"decode", "config.json", "linux.seccomp"}, withID: true},
		{name: "config/seccomp bpf rule of the wrong type", config: func(t *testing.T, c *container, doc map[string]any) {
			linuxDoc(doc)["seccomp"] = map[string]any{"defaultAction": "SCMP_ACT_ERRNO",
				"syscalls": []map[string]any{{"names": "bpf", "action": "SCMP_ACT_ALLOW"}}}
		}, want: []string{"decode", "config.json", "linux.seccomp"}, withID: true},

		// --- the admin's policy file (--policy), read for containers that ask ---
		{name: "policy/a directory", args: func(t *testing.T, c *container) []string {
			return []string{"--policy", c.Rootfs}
		}, want: []string{"policy ROOTFS", "not a regular file"}, withID: true},
		{name: "policy/endless (/dev/zero)", args: func(t *testing.T, c *container) []string {
			return []string{"--policy", "/dev/zero"}
		}, want: []string{"policy /dev/zero", "not a regular file"}, withID: true},
		{name: "policy/binary garbage", args: func(t *testing.T, c *container) []string {
			p := filepath.Join(c.Bundle, "policy.yaml")
			writeFile(t, p, []byte("\x00\xff\xfe\x01rules"))
			return []string{"--policy", p}
		}, want: []string{"policy BUNDLE/policy.yaml", "invalid policy"}, withID: true},
		{name: "policy/YAML alias bomb", args: func(t *testing.T, c *container) []string {
			p := filepath.Join(c.Bundle, "policy.yaml")
			writeFile(t, p, []byte(billionLaughs()))
			return []string{"--policy", p}
		}, want: []string{"policy BUNDLE/policy.yaml", "invalid policy"}, withID: true},
		{name: "policy/rules of the wrong type", args: func(t *testing.T, c *container) []string {
			p := filepath.Join(c.Bundle, "policy.yaml")
			writeFile(t, p, []byte(`{"rules": {"name": "x"}}`))
			return []string{"--policy", p}
		}, want: []string{"policy BUNDLE/policy.yaml", "invalid policy", "rules"}, withID: true},

		// --- the state on stdin ---
		{name: "state/whitespace only", rawState: func(t *testing.T, c *container) string { return " \n\t\n" },
			want: []string{"decode container state from stdin", "unexpected end of JSON input"}},
		{name: "state/binary garbage", rawState: func(t *testing.T, c *container) string { return "\x01\x02\x03{\x04" },
			want: []string{"decode container state from stdin", "invalid character"}},
		{name: "state/truncated", rawState: func(t *testing.T, c *container) string {
			s := c.state()
			return s[:len(s)/2]
		}, want: []string{"decode container state from stdin", "unexpected end of JSON input"}},
		{name: "state/top-level array", rawState: func(t *testing.T, c *container) string { return "[" + c.state() + "]" },
			want: []string{"decode container state from stdin", "cannot unmarshal array"}},
		{name: "state/null", rawState: func(t *testing.T, c *container) string { return "null" },
			want: []string{"container state on stdin has no bundle path"}},
		{name: "state/trailing garbage", rawState: func(t *testing.T, c *container) string { return c.state() + " {}" },
			want: []string{"decode container state from stdin", "after top-level value"}},
		{name: "state/huge", state: func(t *testing.T, c *container, doc map[string]any) {
			doc["annotations"] = map[string]string{"padding": strings.Repeat("x", 2<<20)}
		}, want: []string{"container state on stdin is larger than 1048576 bytes"}},
		{name: "state/non-UTF-8", rawState: func(t *testing.T, c *container) string {
			return strings.Replace(c.state(), `"creating"`, "\"creat\xffing\"", 1)
		}, want: []string{"container state on stdin is not valid UTF-8 JSON"}},
		{name: "state/UTF-16", rawState: func(t *testing.T, c *container) string {
			var b strings.Builder
			b.WriteString("\xff\xfe")
			for _, r := range c.state() {
				b.WriteByte(byte(r))
				b.WriteByte(0)
			}
			return b.String()
		}, want: []string{"container state on stdin is not valid UTF-8 JSON"}},
		{name: "state/deep nesting", rawState: func(t *testing.T, c *container) string {
			return strings.Replace(c.state(), `"status"`, `"extra":`+nested(20000)+`,"status"`, 1)
		}, want: []string{"decode container state from stdin", "exceeded max depth"}},
		{name: "state/id a number", state: func(t *testing.T, c *container, doc map[string]any) { doc["id"] = 7 },
			want: []string{"decode container state from stdin", "id", "number"}},
		{name: "state/pid a string", state: func(t *testing.T, c *container, doc map[string]any) { doc["pid"] = strconv.Itoa(c.Pid) },
			want: []string{"decode container state from stdin", "pid", "string"}},
		{name: "state/pid a fraction", state: func(t *testing.T, c *container, doc map[string]any) {
			doc["pid"] = json.RawMessage(strconv.Itoa(c.Pid) + ".5")
		}, want: []string{"decode container state from stdin", "pid"}},
		{name: "state/pid beyond 64 bits", state: func(t *testing.T, c *container, doc map[string]any) {
			doc["pid"] = json.RawMessage("100000000000000000000000")
		}, want: []string{"decode container state from stdin", "pid"}},
		{name: "state/pid negative", state: func(t *testing.T, c *container, doc map[string]any) { doc["pid"] = -1 },
			want: []string{"has no pid", "createRuntime"}, withID: true},
		{name: "state/pid 0", state: func(t *testing.T, c *container, doc map[string]any) { doc["pid"] = 0 },
			want: []string{"has no pid", "createRuntime"}, withID: true},
		{name: "state/no pid", state: func(t *testing.T, c *container, doc map[string]any) { delete(doc, "pid") },
			want: []string{"has no pid", "createRuntime"}, withID: true},
		{name: "state/pid above pid_max", state: func(t *testing.T, c *container, doc map[string]any) { doc["pid"] = 1 << 30 },
			want: []string{"no such process", "exited before the hook ran"}, withID: true},
		{name: "state/pid of a process that died", pid: func(t *testing.T) (int, bool) {
			cmd := exec.Command("true")
			cmd.SysProcAttr = testenv.ContainerProcAttr()
			if err := cmd.Run(); err != nil {
				t.Fatal(err)
			}
			return cmd.Process.Pid, false
		}, want: []string{"no such process", "exited before the hook ran"}, withID: true},
		{name: "state/pid of an exited container not yet reaped", pid: func(t *testing.T) (int, bool) {
			return zombieInUserNS(t), false
		}, want: []string{"no such process", "exited before the hook ran"}, withID: true},
		// Where root may not inspect pid 1 (as on the test VMs, whose init
		// has capabilities root lacks), opening its namespaces fails first.
		{name: "state/pid 1", pid: func(t *testing.T) (int, bool) { return 1, false },
			want: []string{"pid 1"}, wantAny: []string{"no user namespace of its own", "open /proc/1/ns/user: permission denied"}, withID: true},
		{name: "state/pid of a kernel thread", pid: func(t *testing.T) (int, bool) { return 2, false },
			want: []string{"pid 2: no user namespace of its own"}, withID: true},
		{name: "state/pid of a host process", pid: func(t *testing.T) (int, bool) {
			return startIdle(t, nil), true
		}, want: []string{"no user namespace of its own", "host's user namespace"}, withID: true},
		{name: "state/pid of a host process in a mount namespace of its own", pid: func(t *testing.T) (int, bool) {
			return startIdle(t, &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}), true
		}, want: []string{"no user namespace of its own", "host's user namespace"}, withID: true},
		{name: "state/pid of the hook's caller", pid: func(t *testing.T) (int, bool) { return os.Getpid(), false },
			want: []string{"no user namespace of its own"}, withID: true},
		{name: "state/pid of a user namespace without uid 0", pid: func(t *testing.T) (int, bool) {
			return startIdle(t, &syscall.SysProcAttr{
				Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
				UidMappings: []syscall.SysProcIDMap{{ContainerID: 1000, HostID: 100000, Size: 1}},
				GidMappings: []syscall.SysProcIDMap{{ContainerID: 1000, HostID: 100000, Size: 1}},
				Credential:  &syscall.Credential{Uid: 1000, Gid: 1000, NoSetGroups: true},
			}), true
		}, config: func(t *testing.T, c *container, doc map[string]any) {
			m := []map[string]int{{"containerID": 1000, "hostID": 100000, "size": 1}}
			linuxDoc(doc)["uidMappings"], linuxDoc(doc)["gidMappings"] = m, m
		}, want: []string{"is gid 0 mapped?", "invalid argument"}, withID: true},
		// The pid is a process in a user namespace, but not the one the
		// runtime made for this container: its mappings are not those of
		// config.json (a pid reused, or a runtime bug).
		{name: "state/pid of another user namespace than config.json's", pid: func(t *testing.T) (int, bool) {
			return startIdle(t, testenv.ContainerProcAttr()), true
		}, config: func(t *testing.T, c *container, doc map[string]any) {
			m := []map[string]int{{"containerID": 0, "hostID": 200000, "size": 65536}}
			linuxDoc(doc)["uidMappings"], linuxDoc(doc)["gidMappings"] = m, m
		}, want: []string{"not in the container's user namespace", "0:100000:65536", "0:200000:65536"}, withID: true},
		{name: "state/pid of a thread, not a process", state: func(t *testing.T, c *container, doc map[string]any) {
			doc["pid"] = threadOf(t, c.Pid)
		}, want: []string{"is not a process (a thread's id?)"}, withID: true},
		// The helper cannot join a mount namespace its user namespace does
		// not own; that is not the kernel's lack of tokens.
		{name: "state/pid in a user namespace sharing the host's mount namespace", pid: func(t *testing.T) (int, bool) {
			attr := testenv.ContainerProcAttr()
			attr.Cloneflags = syscall.CLONE_NEWUSER
			return startIdle(t, attr), true
		}, want: []string{"join mount namespace: operation not permitted"}, withID: true,
			notWant: []string{"kernel does not support"}},
		{name: "state/relative bundle with dot-dot", state: func(t *testing.T, c *container, doc map[string]any) {
			doc["bundle"] = "../" + filepath.Base(c.Bundle)
		}, want: []string{"bundle path", "is not absolute"}},
		{name: "state/bundle a number", state: func(t *testing.T, c *container, doc map[string]any) { doc["bundle"] = 1 },
			want: []string{"decode container state from stdin", "bundle"}},
		{name: "state/no bundle", state: func(t *testing.T, c *container, doc map[string]any) { delete(doc, "bundle") },
			want: []string{"container state on stdin has no bundle path"}},
		{name: "state/bundle is a file", state: func(t *testing.T, c *container, doc map[string]any) {
			doc["bundle"] = filepath.Join(c.Bundle, "config.json")
		}, want: []string{"open container config", "not a directory"}, withID: true},
		{name: "state/bundle is another directory", state: func(t *testing.T, c *container, doc map[string]any) {
			doc["bundle"] = c.Rootfs
		}, want: []string{"open container config", filepath.Join("ROOTFS", "config.json"), "no such file or directory"}, withID: true},
		{name: "state/annotations a list", state: func(t *testing.T, c *container, doc map[string]any) {
			doc["annotations"] = []string{"bpf.token/cmds"}
		}, want: []string{"decode container state from stdin", "annotations"}},
		{name: "state/bad annotation in the state wins over config.json", state: func(t *testing.T, c *container, doc map[string]any) {
			doc["annotations"] = map[string]string{"bpf.token/maps": "hsh"}
		}, want: []string{"bpf.token/maps", `unknown map type "hsh"`}, withID: true},
		{name: "state/id with line breaks and escapes", state: func(t *testing.T, c *container, doc map[string]any) {
			doc["id"] = "evil\nbpftoken-oci-hook: fake second line\r\u2028\x1b[2K"
			doc["annotations"] = map[string]string{"bpf.token/maps": "hsh"}
		}, want: []string{"evil", "fake second line", `unknown map type "hsh"`}},
	}
}

func TestHookBadInput(t *testing.T) {
	testenv.Privileged(t)
	// A host directory an escape would land in, with the default path's
	// last component already there.
	hostDir := worldDir(t)
	mustMkdir(t, filepath.Join(hostDir, "bpf"))
	cases := badInputCases(hostDir)
	t.Logf("%d bad-input cases", len(cases))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runBadCase(t, tc, hostDir)
		})
	}
}

func runBadCase(t *testing.T, tc badCase, hostDir string) {
	t.Helper()
	host := snapshotHost(t)
	hostDirBefore := listDir(t, hostDir)
	var prep func(string)
	if tc.rootfs != nil {
		prep = func(rootfs string) { tc.rootfs(t, rootfs) }
	}
	c := startStandin(t, prep, !tc.cri)

	ann := tc.ann
	if ann == nil {
		ann = minimalDelegation
	}
	var cfg []byte
	if tc.rawConfig != nil {
		cfg = tc.rawConfig(t, c)
	} else {
		doc := configDoc(c, ann)
		if tc.config != nil {
			tc.config(t, c, doc)
		}
		cfg = mustJSON(t, doc)
	}
	writeFile(t, filepath.Join(c.Bundle, "config.json"), cfg)
	if tc.bundle != nil {
		tc.bundle(t, c)
	}

	var stdin string
	if tc.rawState != nil {
		stdin = tc.rawState(t, c)
	} else {
		doc := stateDoc(c)
		if tc.pid != nil {
			pid, check := tc.pid(t)
			doc["pid"] = pid
			if check {
				defer checkProcessUntouched(t, pid)()
			}
		}
		if tc.state != nil {
			tc.state(t, c, doc)
		}
		stdin = string(mustJSON(t, doc))
	}

	fdsBefore := fds(t, c.Pid)
	mountsBefore := relevantMounts(t, c.Pid, c.Bundle, hostDir)
	rootfsBefore := listDir(t, c.Rootfs)

	var args []string
	if tc.args != nil {
		args = tc.args(t, c)
	}
	res := runHook(t, stdin, args...)

	if res.code != 1 {
		t.Errorf("hook exited %d, want 1; stderr: %q", res.code, res.stderr)
	}
	if res.stdout != "" {
		t.Errorf("hook wrote to stdout: %q", res.stdout)
	}
	want := []string{"bpftoken-oci-hook: "}
	if tc.withID {
		want = append(want, "container "+c.id+": ")
	}
	for _, w := range tc.want {
		w = strings.ReplaceAll(w, "BUNDLE", c.Bundle)
		w = strings.ReplaceAll(w, "ROOTFS", c.Rootfs)
		want = append(want, w)
	}
	checkOneLine(t, res.stderr, want)
	for _, w := range tc.notWant {
		if strings.Contains(res.stderr, w) {
			t.Errorf("message %q names a wrong cause: %q", res.stderr, w)
		}
	}
	if len(tc.wantAny) > 0 && !slices.ContainsFunc(tc.wantAny, func(w string) bool { return strings.Contains(res.stderr, w) }) {
		t.Errorf("message %q has none of %q", res.stderr, tc.wantAny)
	}
	t.Logf("stderr: %s", res.stderr)
	if !strings.HasPrefix(res.stderr, "bpftoken-oci-hook: ") {
		t.Errorf("stderr does not start with the hook's name: %q", res.stderr)
	}

	if got := fds(t, c.Pid); !slices.Equal(got, fdsBefore) {
		t.Errorf("container's fds changed: before %v, after %v", fdsBefore, got)
	}
	if got := relevantMounts(t, c.Pid, c.Bundle, hostDir); !slices.Equal(got, mountsBefore) {
		t.Errorf("container's mounts changed:\nbefore: %q\nafter:  %q", mountsBefore, got)
	}
	if got := listDir(t, c.Rootfs); !slices.Equal(got, rootfsBefore) {
		t.Errorf("rootfs changed: before %v, after %v", rootfsBefore, got)
	}
	if got := listDir(t, hostDir); !slices.Equal(got, hostDirBefore) {
		t.Errorf("host directory changed: before %v, after %v", hostDirBefore, got)
	}
	checkHostUnchanged(t, host)
}

// checkProcessUntouched records pid's fds and mounts; the returned func
// checks they did not change.
func checkProcessUntouched(t *testing.T, pid int) func() {
	t.Helper()
	fdsBefore := fds(t, pid)
	mountsBefore := relevantMounts(t, pid)
	return func() {
		t.Helper()
		if got := fds(t, pid); !slices.Equal(got, fdsBefore) {
			t.Errorf("fds of pid %d changed: before %v, after %v", pid, fdsBefore, got)
		}
		if got := relevantMounts(t, pid); !slices.Equal(got, mountsBefore) {
			t.Errorf("bpffs mounts of pid %d changed:\nbefore: %q\nafter:  %q", pid, mountsBefore, got)
		}
	}
}
