// Package integration runs the real oci-hook binary against stand-in
// containers on the real kernel: processes in a new user namespace (0 ->
// 100000) and mount namespace with a rootfs directory and a bundle, as a
// runtime leaves them at createRuntime.
package integration

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
)

// binDir holds the binaries under test; world-readable, because the
// stand-in runs as uid 100000 on the host.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// Before building anything: every test here is privileged.
	flag.Parse()
	if why := testenv.WhyNotPrivileged(); why != "" {
		if testenv.Required() {
			fmt.Fprintf(os.Stderr, "integration tests cannot run: %s (%s=1 forbids skipping)\n", why, testenv.RequireEnv)
			return 1
		}
		fmt.Printf("integration tests skipped: %s\n", why)
		return 0
	}
	dir, err := os.MkdirTemp("", "bpftoken-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binDir = dir
	for name, pkg := range map[string]string{"oci-hook": "../../cmd/oci-hook", "standin": "../standin"} {
		// The hook is built as the Makefile builds it (static, cgo).
		cmd := exec.Command("go", "build", "-ldflags=-linkmode=external -extldflags=-static", "-o", filepath.Join(dir, name), pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", pkg, err)
			return 1
		}
	}
	return m.Run()
}

// worldDir makes a temporary directory that uid 100000 can traverse.
func worldDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// container is a stand-in container: its process, bundle and rootfs.
type container struct {
	t      *testing.T
	id     string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	Pid    int
	Bundle string
	Rootfs string
}

// startContainer starts a stand-in with an empty rootfs that has
// /sys/fs (as a container's sysfs would) plus whatever prepare adds. Its
// bundle lies where podman puts bundles, beside podman's records of the
// container (made from no image), so that the hook takes it for podman's.
func startContainer(t *testing.T, prepare func(rootfs string)) *container {
	t.Helper()
	return startStandin(t, prepare, true)
}

// startCRIContainer is startContainer with a bundle of its own, as CRI-O
// makes them: the hook takes it for a CRI runtime's.
func startCRIContainer(t *testing.T, prepare func(rootfs string)) *container {
	t.Helper()
	return startStandin(t, prepare, false)
}

func startStandin(t *testing.T, prepare func(rootfs string), podman bool) *container {
	t.Helper()
	testenv.Privileged(t)
	// 64 hex digits, as runtimes make container ids (messages clip longer
	// ones), from the test's name.
	id := fmt.Sprintf("%x", sha256.Sum256([]byte(t.Name())))
	bundle := worldDir(t)
	if podman {
		bundle = podmanBundle(t, bundle, id)
	}
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "sys", "fs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(rootfs)
	}
	cmd := exec.Command(filepath.Join(binDir, "standin"))
	cmd.SysProcAttr = testenv.ContainerProcAttr()
	// The test process never ends OS threads: the stand-in may die with it.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stand-in container: %v", err)
	}
	c := &container{t: t, id: id, cmd: cmd, stdin: stdin,
		out: bufio.NewReader(stdout), Pid: cmd.Process.Pid, Bundle: bundle, Rootfs: rootfs}
	t.Cleanup(c.stop)
	if line, err := c.out.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("stand-in container did not get ready: %q %v", line, err)
	}
	return c
}

// podmanBundle lays out a bundle for container id under base as podman
// does (<graphroot>/overlay-containers/<id>/userdata), with the records
// podman keeps beside it: libpod's directory and containers.json.
func podmanBundle(t *testing.T, base, id string) string {
	t.Helper()
	graph := filepath.Join(base, "storage")
	bundle := filepath.Join(graph, "overlay-containers", id, "userdata")
	for _, d := range []string{bundle, filepath.Join(graph, "libpod")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writePodmanRecord(t, bundle, id, "", nil)
	return bundle
}

// writePodmanRecord records in podman's storage that container id, whose
// bundle is bundle, was made from an image with these annotations (none:
// from no image).
func writePodmanRecord(t *testing.T, bundle, id string, imageName string, imageAnnotations map[string]string) {
	t.Helper()
	graph := filepath.Dir(filepath.Dir(filepath.Dir(bundle)))
	rec := map[string]any{"id": id, "names": []string{id}}
	if imageAnnotations != nil {
		imageID := fmt.Sprintf("%064x", len(id))
		dir := filepath.Join(graph, "overlay-images", imageID)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		manifest, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "annotations": imageAnnotations})
		if err := os.WriteFile(filepath.Join(dir, "manifest"), manifest, 0o600); err != nil {
			t.Fatal(err)
		}
		meta, _ := json.Marshal(map[string]string{"image-name": imageName, "name": id})
		rec["image"], rec["metadata"] = imageID, string(meta)
	}
	// Another container's record first: the hook must find the right one.
	data, _ := json.Marshal([]any{map[string]any{"id": "other", "image": "0000"}, rec})
	if err := os.WriteFile(filepath.Join(graph, "overlay-containers", "containers.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (c *container) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// config describes the bundle's config.json.
type config struct {
	annotations map[string]string
	noUserNS    bool
	// hostNetwork leaves the network namespace out: the container shares
	// the host's. Otherwise config.json gives it one of its own, as
	// runtimes do (the stand-in process does not need it).
	hostNetwork bool
	// capabilities of the container's process; nil means CAP_BPF only.
	capabilities []string
}

func (c *container) writeConfig(cfg config) {
	c.t.Helper()
	namespaces := []map[string]string{{"type": "mount"}, {"type": "pid"}}
	if !cfg.noUserNS {
		namespaces = append(namespaces, map[string]string{"type": "user"})
	}
	if !cfg.hostNetwork {
		namespaces = append(namespaces, map[string]string{"type": "network"})
	}
	caps := cfg.capabilities
	if caps == nil {
		caps = []string{"CAP_BPF"}
	}
	doc := map[string]any{
		"ociVersion":  "1.2.0",
		"process":     map[string]any{"capabilities": map[string][]string{"effective": caps, "bounding": caps}},
		"root":        map[string]any{"path": c.Rootfs},
		"annotations": cfg.annotations,
		"linux": map[string]any{
			"namespaces":  namespaces,
			"uidMappings": []map[string]int{{"containerID": 0, "hostID": 100000, "size": 65536}},
			"gidMappings": []map[string]int{{"containerID": 0, "hostID": 100000, "size": 65536}},
		},
	}
	data, err := json.Marshal(doc)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Bundle, "config.json"), data, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// state is the OCI state the runtime would pass at createRuntime.
func (c *container) state() string {
	return fmt.Sprintf(`{"ociVersion":"1.2.0","id":%q,"status":"creating","pid":%d,"bundle":%q}`, c.id, c.Pid, c.Bundle)
}

type hookResult struct {
	code           int
	stdout, stderr string
}

// runHook runs the real hook binary with stdin and args.
func runHook(t *testing.T, stdin string, args ...string) hookResult {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "oci-hook"), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		exitErr, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run hook: %v", err)
		}
		code = exitErr.ExitCode()
	}
	return hookResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// probe asks the container what bpf() allows through the bpffs at path
// (a path inside the container; its rootfs is not pivoted).
func (c *container) probe(path string) map[string]string {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.stdin, "probe %s\n", filepath.Join(c.Rootfs, path)); err != nil {
		c.t.Fatal(err)
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read probe result: %v", err)
	}
	var res map[string]string
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		c.t.Fatalf("decode probe result %q: %v", line, err)
	}
	return res
}

// bpfMounts returns the container's bpffs mounts, as mountinfo lines.
func (c *container) bpfMounts() []string {
	c.t.Helper()
	return bpfMountLines(c.t, fmt.Sprintf("/proc/%d/mountinfo", c.Pid))
}

func bpfMountLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if _, after, ok := strings.Cut(line, " - "); ok && strings.HasPrefix(after, "bpf ") {
			out = append(out, line)
		}
	}
	return out
}

// fds lists the open fds of pid.
func fds(t *testing.T, pid int) []string {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		out = append(out, e.Name()+" -> "+target)
	}
	return out
}

// hostState is what must not change on the host across a hook run: its
// mount table and the absence of helper processes.
type hostState struct {
	mounts []string
}

func snapshotHost(t *testing.T) hostState {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	slices.Sort(lines)
	return hostState{mounts: lines}
}

// checkHostUnchanged fails t if the host's mount table differs from before
// or a namespace helper is still running.
func checkHostUnchanged(t *testing.T, before hostState) {
	t.Helper()
	after := snapshotHost(t)
	if !slices.Equal(before.mounts, after.mounts) {
		t.Errorf("host mount table changed:\nbefore:\n%s\nafter:\n%s", strings.Join(before.mounts, "\n"), strings.Join(after.mounts, "\n"))
	}
	if helpers := helperProcesses(t); len(helpers) > 0 {
		t.Errorf("namespace helpers left running: %v", helpers)
	}
}

// helperProcesses lists namespace helpers (children named "bpftoken-helper")
// that outlived the hook which started them: orphans, adopted by pid 1.
// Helpers of other test packages running at the same time have a live
// parent and are not counted.
func helperProcesses(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err == nil && string(bytes.TrimSpace(comm)) == "bpftoken-helper" && parentPid(pid) == 1 {
			out = append(out, pid)
		}
	}
	return out
}

// parentPid returns the PPid of pid, or -1.
func parentPid(pid int) int {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			if ppid, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return ppid
			}
		}
	}
	return -1
}
