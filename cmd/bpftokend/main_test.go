package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/rootless"
)

// TestMain makes this test binary bpftokend itself when the socket
// activation tests start it as systemd would start the service.
func TestMain(m *testing.M) {
	if args := os.Getenv("BPFTOKEND_TEST_ARGS"); args != "" {
		os.Exit(run(strings.Fields(args), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// activated starts bpftokend as systemd does for a socket unit: the socket
// as fd 3, LISTEN_FDS=1 and LISTEN_PID its own pid (set by the shell it
// replaces).
func activated(t *testing.T, socket *os.File, args string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0"`, os.Args[0])
	cmd.Env = append(os.Environ(), "BPFTOKEND_TEST_ARGS="+args)
	cmd.ExtraFiles = []*os.File{socket}
	return cmd
}

func TestSocketActivation(t *testing.T) {
	testenv.Privileged(t)
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(testPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	// systemd's socket: made before the service, at a path the service is
	// not told (--listen points elsewhere and must not be used).
	path := filepath.Join(dir, "activated.sock")
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// SocketMode=0666, in a directory every user may search.
	for _, p := range []string{filepath.Dir(dir), dir} {
		os.Chmod(p, 0o755)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	f, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := activated(t, f, "--policy "+policyFile+" --listen "+filepath.Join(dir, "unused.sock"))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	data, _ := rootless.EncodeRequest(rootless.Request{Version: rootless.Version, Op: rootless.OpGrants})
	var resp *rootless.Response
	for deadline := time.Now().Add(5 * time.Second); resp == nil && time.Now().Before(deadline); {
		conn, err := testenv.DialAs(path, alice)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		conn.Write(data)
		buf := make([]byte, rootless.MaxMessage)
		if n, err := conn.Read(buf); err == nil {
			resp, _ = rootless.DecodeResponse(buf[:n])
		}
		conn.Close()
	}
	if resp == nil || resp.Rule != "alice" {
		t.Fatalf("answer through the activated socket: %+v; service said: %s", resp, out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "unused.sock")); err == nil {
		t.Errorf("the service listened on --listen too")
	}
}

func TestSocketActivationRefusesAStreamSocket(t *testing.T) {
	testenv.Privileged(t)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "stream.sock"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, err := activated(t, f, "--policy /nonexistent").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "bpftokend: the socket systemd passed is not a unix SOCK_SEQPACKET socket: use ListenSequentialPacket= in the socket unit") {
		t.Fatalf("bpftokend with a stream socket: %v, %s", err, out)
	}
}
