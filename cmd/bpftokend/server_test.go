package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/rootless"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/userns"
)

// Host ids of the test's users: no names in the user database, the
// policy names them by number.
const (
	alice = 4242001
	bob   = 4242002
)

const testPolicy = `
rules:
  - name: alice
    match: {users: ["4242001"]}
    allow:
      profiles: [socket-filter]
      paths: [/sys/fs/bpf, /run/bpf]
  - name: everyone
    allow:
      cmds: any
      maps: any
      progs: any
      attachs: any
      any: true
`

// startServer serves on a socket of a temporary directory, with policy,
// until the test ends.
func startServer(t testing.TB, pol string) (*server, string) {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "rootless.sock")
	l, err := listener(socket)
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(testWriter{t})
	log.SetLevel(logrus.DebugLevel)
	if _, fuzzing := t.(*testing.F); fuzzing {
		// A fuzz target may not log through f.
		log.SetOutput(io.Discard)
	}
	s := &server{log: logrus.NewEntry(log), policyFile: policyFile, timeout: 5 * time.Second,
		maxInFlight: 64, maxPerUser: 8, maxAbandoned: 64, perUser: map[uint32]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s, socket
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// dialAs connects to socket as host uid (gid the same).
func dialAs(t *testing.T, socket string, uid uint32) *net.UnixConn {
	t.Helper()
	conn, err := testenv.DialAs(socket, uid)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// ask sends raw bytes and fds as uid and returns the decoded answer.
func ask(t *testing.T, socket string, uid uint32, data []byte, fds ...int) *rootless.Response {
	t.Helper()
	conn := dialAs(t, socket, uid)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := conn.WriteMsgUnix(data, oob, nil); err != nil {
		t.Fatalf("send: %v", err)
	}
	buf := make([]byte, rootless.MaxMessage+1)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	resp, err := rootless.DecodeResponse(buf[:n])
	if err != nil {
		t.Fatalf("answer %q: %v", buf[:n], err)
	}
	return resp
}

func mountRequest(t *testing.T, rootfs string, ann map[string]string) []byte {
	t.Helper()
	data, err := rootless.EncodeRequest(rootless.Request{Version: rootless.Version, Op: rootless.OpMount, Container: "ctr", Rootfs: rootfs, Annotations: ann})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// standIn starts a stand-in rootless container of host uid: sleep in a
// user namespace that uid creates (unshare --map-root-user, as rootless
// podman's is) and a private mount namespace; mount false keeps the host's
// mount namespace. It returns the pid once the namespaces exist.
func standIn(t *testing.T, uid uint32, mount bool) int {
	t.Helper()
	args := []string{"--user", "--map-root-user"}
	if mount {
		args = append(args, "--mount", "--propagation", "private")
	}
	cmd := exec.Command("unshare", append(args, "sleep", "600")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid, NoSetGroups: false}}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stand-in of uid %d: %v", uid, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	pid := cmd.Process.Pid
	for range 500 {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); string(comm) == "sleep\n" {
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("stand-in of uid %d did not start", uid)
	return 0
}

func pidfdOf(t *testing.T, pid int) int {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// userDir makes a directory owned by uid, in a directory every user may
// search, as a rootless container's rootfs is.
func userDir(t *testing.T, uid uint32) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(dir, int(uid), int(uid)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// bpffsIn returns the bpffs line of pid's mountinfo at mountPoint, "" if none.
func bpffsIn(t *testing.T, pid int, mountPoint string) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == mountPoint && strings.Contains(line, " - bpf ") {
			return line
		}
	}
	return ""
}

var socketFilter = map[string]string{"bpf.token/profile": "socket-filter"}

func TestMountForTheUsersOwnContainer(t *testing.T) {
	testenv.Privileged(t)
	_, socket := startServer(t, testPolicy)
	pid := standIn(t, alice, true)
	rootfs := userDir(t, alice)
	resp := ask(t, socket, alice, mountRequest(t, rootfs, socketFilter), pidfdOf(t, pid))
	if resp.Error != "" {
		t.Fatalf("refused: %s", resp.Error)
	}
	if resp.Rule != "alice" || resp.User != "host uid 4242001 (no name in the user database)" {
		t.Errorf("rule %q, user %q", resp.Rule, resp.User)
	}
	line := bpffsIn(t, pid, rootfs+"/sys/fs/bpf")
	for _, want := range []string{"delegate_cmds=map_create:prog_load:btf_load", "delegate_progs=socket_filter", "delegate_attachs=cgroup_inet_ingress", "uid=4242001"} {
		if !strings.Contains(line, want) {
			t.Errorf("stand-in's mountinfo: %q, want %s", line, want)
		}
	}
	if host := bpffsIn(t, os.Getpid(), rootfs+"/sys/fs/bpf"); host != "" {
		t.Errorf("the bpffs is in the host's mount namespace too: %s", host)
	}
	// The directories were made as the container's root, the user.
	var st unix.Stat_t
	if err := unix.Stat(rootfs+"/sys/fs", &st); err != nil || st.Uid != alice {
		t.Errorf("stat %s/sys/fs: uid %d, %v; want %d", rootfs, st.Uid, err, alice)
	}
	// Asked again (podman restarts the container): the same mount.
	again := ask(t, socket, alice, mountRequest(t, rootfs, socketFilter), pidfdOf(t, pid))
	if again.Error != "" || !again.AlreadyMounted || again.MountID != resp.MountID {
		t.Errorf("second request: %+v, want the same mount (%d) already there", again, resp.MountID)
	}
}

func TestRefusals(t *testing.T) {
	testenv.Privileged(t)
	_, socket := startServer(t, testPolicy)
	alices := standIn(t, alice, true)
	bobs := standIn(t, bob, true)
	hostMountNS := standIn(t, alice, false)
	roots := testenv.StartInUserNS(t)
	rootfs := userDir(t, alice)
	// A directory of root's: without acting as the user, the service would
	// make the mount path there, as root, on the host's file system.
	rootsDir := t.TempDir()
	os.Chmod(filepath.Dir(rootsDir), 0o755)
	os.Chmod(rootsDir, 0o755)
	regular, err := os.Open("/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()

	tests := []struct {
		name string
		uid  uint32
		data []byte
		fds  []int
		want []string
	}{
		{"above the user's rule", alice, mountRequest(t, rootfs, map[string]string{"bpf.token/profile": "xdp"}), []int{pidfdOf(t, alices)},
			[]string{`denied by policy: rule "alice" of policy`, "does not allow progs xdp"}},
		{"a user no rule names", bob, mountRequest(t, rootfs, socketFilter), []int{pidfdOf(t, bobs)},
			[]string{"no rule of policy", "selects host uid 4242002", "a user no rule names gets nothing"}},
		{"another user's container", alice, mountRequest(t, rootfs, socketFilter), []int{pidfdOf(t, bobs)},
			[]string{"is not in namespaces of host uid 4242001", "belong to another user", "a user may only ask for their own containers"}},
		{"root's container", alice, mountRequest(t, rootfs, socketFilter), []int{pidfdOf(t, roots)},
			[]string{"is not in namespaces of host uid 4242001"}},
		{"a host process", alice, mountRequest(t, rootfs, socketFilter), []int{pidfdOf(t, os.Getpid())},
			[]string{"no user namespace of its own"}},
		{"the user's namespace, the host's mount namespace", alice, mountRequest(t, rootfs, socketFilter), []int{pidfdOf(t, hostMountNS)},
			[]string{"mount namespace of pid", "namespaces not created by one host user: it is the host's"}},
		{"a rootfs the user cannot write", alice, mountRequest(t, rootsDir, socketFilter), []int{pidfdOf(t, alices)},
			[]string{"create /sys: / is not the container's directory: owned by 0:0, which the container's user namespace does not map"}},
		{"no pidfd", alice, mountRequest(t, rootfs, socketFilter), nil, []string{"passes exactly one fd"}},
		{"a file, not a pidfd", alice, mountRequest(t, rootfs, socketFilter), []int{int(regular.Fd())}, []string{"not a pidfd"}},
		{"two fds", alice, mountRequest(t, rootfs, socketFilter), []int{pidfdOf(t, alices), pidfdOf(t, alices)}, []string{"passes exactly one fd", "this one passed 2"}},
		{"many fds", alice, mountRequest(t, rootfs, socketFilter), []int{0, 1, 2, 0, 1, 2, 0, 1}, []string{"more than one fd passed"}},
		{"not JSON", alice, []byte("mount please"), nil, []string{"malformed message"}},
		{"unknown field", alice, []byte(`{"version":1,"op":"grants","uid":0}`), nil, []string{`unknown field "uid"`}},
		{"another version", alice, []byte(`{"version":2,"op":"grants"}`), nil, []string{"protocol version 2"}},
		{"unknown op", alice, []byte(`{"version":1,"op":"unmount"}`), nil, []string{`unknown op "unmount"`}},
		{"relative rootfs", alice, mountRequest(t, "rootfs", socketFilter), []int{pidfdOf(t, alices)}, []string{"not a clean absolute path"}},
		{"no annotation", alice, mountRequest(t, rootfs, nil), []int{pidfdOf(t, alices)}, []string{"no bpf.token/ annotation"}},
		{"too large", alice, bytes.Repeat([]byte{' '}, rootless.MaxMessage+10), nil, []string{"larger than 65536 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := ask(t, socket, tt.uid, tt.data, tt.fds...)
			for _, w := range tt.want {
				if !strings.Contains(resp.Error, w) {
					t.Errorf("answer %q, want %q in it", resp.Error, w)
				}
			}
		})
	}
	for _, pid := range []int{alices, bobs, roots, hostMountNS} {
		if line := bpffsIn(t, pid, rootfs+"/sys/fs/bpf"); line != "" {
			t.Errorf("pid %d got a bpffs: %s", pid, line)
		}
	}
	if entries, _ := os.ReadDir(rootsDir); len(entries) > 0 {
		t.Errorf("%s: the service made %v there", rootsDir, entries)
	}
	if entries, _ := os.ReadDir(rootfs); len(entries) > 0 {
		t.Errorf("%s: refused requests left %v there", rootfs, entries)
	}
}

// TestPidReuse: the user's container exits and its pid goes to root's
// container; the pidfd the user opened before must not name the new one.
func TestPidReuse(t *testing.T) {
	testenv.Privileged(t)
	_, socket := startServer(t, testPolicy)
	rootfs := userDir(t, alice)
	for attempt := range 20 {
		cmd := exec.Command("unshare", "--user", "--map-root-user", "--mount", "sleep", "600")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: alice, Gid: alice}}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		old := cmd.Process.Pid
		pidfd, err := unix.PidfdOpen(old, 0)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Process.Kill()
		cmd.Wait()
		// The next pid the kernel hands out is old again.
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(old-1)), 0); err != nil {
			t.Fatal(err)
		}
		reuser := exec.Command("sleep", "600")
		reuser.SysProcAttr = testenv.ContainerProcAttr()
		if err := reuser.Start(); err != nil {
			t.Fatal(err)
		}
		if reuser.Process.Pid != old {
			// Another process took it first; try again.
			reuser.Process.Kill()
			reuser.Wait()
			unix.Close(pidfd)
			t.Logf("attempt %d: pid %d went elsewhere", attempt, old)
			continue
		}
		resp := ask(t, socket, alice, mountRequest(t, rootfs, socketFilter), pidfd)
		unix.Close(pidfd)
		line := bpffsIn(t, old, rootfs+"/sys/fs/bpf")
		reuser.Process.Kill()
		reuser.Wait()
		if !strings.Contains(resp.Error, "the process has exited") {
			t.Errorf("answer %q, want the exit named", resp.Error)
		}
		if line != "" {
			t.Errorf("root's process that took the pid got a bpffs: %s", line)
		}
		return
	}
	t.Fatal("no attempt got the pid reused")
}

func TestGrants(t *testing.T) {
	testenv.Privileged(t)
	_, socket := startServer(t, testPolicy)
	data, _ := rootless.EncodeRequest(rootless.Request{Version: rootless.Version, Op: rootless.OpGrants})
	resp := ask(t, socket, alice, data)
	if resp.Error != "" || resp.Rule != "alice" || resp.Grant == nil {
		t.Fatalf("answer %+v", resp)
	}
	got, _ := json.Marshal(resp.Grant)
	want := `{"cmds":"map_create:prog_load:btf_load","maps":"hash:array:percpu_array","progs":"socket_filter","attachs":"cgroup_inet_ingress","profiles":["socket-filter"],"paths":["/sys/fs/bpf","/run/bpf"]}`
	if string(got) != want {
		t.Errorf("grant %s, want %s", got, want)
	}
	if none := ask(t, socket, bob, data); none.Error != "" || none.Rule != "" || none.Grant != nil {
		t.Errorf("bob's answer %+v, want no rule", none)
	}
}

// TestConcurrentRequests: many users at once; every request is answered
// (granted, or busy beyond a user's bound) and nothing stays counted or
// open.
func TestConcurrentRequests(t *testing.T) {
	testenv.Privileged(t)
	s, socket := startServer(t, testPolicy)
	fdsBefore := openFDs(t)
	data, _ := rootless.EncodeRequest(rootless.Request{Version: rootless.Version, Op: rootless.OpGrants})
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[string]int{}
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := ask(t, socket, alice+uint32(i%5), data)
			kind := "grant"
			if resp.Error != "" {
				kind = resp.Error
				if !strings.HasPrefix(kind, "busy: ") {
					t.Errorf("answer %q", resp.Error)
				}
				kind = "busy"
			}
			mu.Lock()
			answers[kind]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if answers["grant"] == 0 || answers["grant"]+answers["busy"] != 200 {
		t.Errorf("answers %v", answers)
	}
	s.mu.Lock()
	running, users := s.running, len(s.perUser)
	s.mu.Unlock()
	if running != 0 || users != 0 {
		t.Errorf("after the requests: %d running, %d users counted", running, users)
	}
	// Connections close when their goroutine ends, just after the answer.
	deadline := time.Now().Add(5 * time.Second)
	for openFDs(t) > fdsBefore && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := openFDs(t); n > fdsBefore {
		t.Errorf("%d fds open, %d before", n, fdsBefore)
	}
}

// TestSilentClient: a client that connects and sends nothing is answered
// and dropped within the request wait, and holds no slot after.
func TestSilentClient(t *testing.T) {
	testenv.Privileged(t)
	s, socket := startServer(t, testPolicy)
	conn := dialAs(t, socket, alice)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(requestWait + 3*time.Second))
	buf := make([]byte, rootless.MaxMessage)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if !strings.Contains(string(buf[:n]), "read request") {
		t.Errorf("answer %q", buf[:n])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running != 0 {
		t.Errorf("%d running", s.running)
	}
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// FuzzServe sends arbitrary messages, with or without an fd, to a live
// service: each gets one well-formed answer, and the service answers the
// next client as before.
func FuzzServe(f *testing.F) {
	for _, seed := range []string{`{"version":1,"op":"grants"}`, `{"version":1,"op":"mount","rootfs":"/","annotations":{"bpf.token/cmds":"map_create"}}`, `{}`, `[`, ``} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	_, socket := startServer(f, testPolicy)
	f.Fuzz(func(t *testing.T, data []byte, withFD bool) {
		if len(data) == 0 {
			data = []byte{0}
		}
		c, err := net.Dial("unixpacket", socket)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conn := c.(*net.UnixConn)
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		var oob []byte
		if withFD {
			oob = unix.UnixRights(0)
		}
		if _, _, err := conn.WriteMsgUnix(data, oob, nil); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, rootless.MaxMessage+1)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no answer to %q: %v", data, err)
		}
		resp, err := rootless.DecodeResponse(buf[:n])
		if err != nil {
			t.Fatalf("answer %q: %v", buf[:n], err)
		}
		if strings.ContainsAny(resp.Error, "\n\r") {
			t.Errorf("answer on more than one line: %q", resp.Error)
		}
	})
}

// TestHungVolume: a FUSE volume that never answers on the mount path (a
// user can mount one in their own namespaces) costs a request its timeout,
// answered in one line; with maxAbandoned mounts stuck, further mounts are
// refused at once; other requests are served all along, and once the
// volumes answer, mounts work again.
func TestHungVolume(t *testing.T) {
	testenv.Privileged(t)
	s, socket := startServer(t, testPolicy)
	s.timeout, s.maxAbandoned = time.Second, 2
	var releases []func()
	for i := range s.maxAbandoned + 1 {
		pid := standIn(t, alice, true)
		rootfs := userDir(t, alice)
		if err := os.MkdirAll(filepath.Join(rootfs, "sys"), 0o755); err != nil {
			t.Fatal(err)
		}
		// The volume hangs in the stand-in's mount namespace only.
		ns, err := userns.Open(pid)
		if err != nil {
			t.Fatal(err)
		}
		if err := ns.DoOnThrowawayThread(context.Background(), func(userns.Commit) error {
			releases = append(releases, testenv.HungFUSE(t, filepath.Join(rootfs, "sys")))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		ns.Close()
		start := time.Now()
		resp := ask(t, socket, alice, mountRequest(t, rootfs, socketFilter), pidfdOf(t, pid))
		want := "does not answer"
		if i == s.maxAbandoned {
			want = "busy: 2 earlier mounts are stuck on file systems that do not answer"
		}
		if !strings.Contains(resp.Error, want) {
			t.Fatalf("request %d through a hung volume: %q, want %q", i, resp.Error, want)
		}
		if took := time.Since(start); took > s.timeout+answerGrace {
			t.Errorf("request %d took %s", i, took)
		}
		data, _ := rootless.EncodeRequest(rootless.Request{Version: rootless.Version, Op: rootless.OpGrants})
		if g := ask(t, socket, alice, data); g.Error != "" || g.Rule != "alice" {
			t.Errorf("grants while mounts are stuck: %+v", g)
		}
	}
	for _, r := range releases {
		r()
	}
	for deadline := time.Now().Add(5 * time.Second); userns.Abandoned() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Abandoned() = %d after the volumes answered, want 0", userns.Abandoned())
		}
	}
	pid := standIn(t, alice, true)
	if resp := ask(t, socket, alice, mountRequest(t, userDir(t, alice), socketFilter), pidfdOf(t, pid)); resp.Error != "" {
		t.Fatalf("a mount after the volumes answered: %s", resp.Error)
	}
}
