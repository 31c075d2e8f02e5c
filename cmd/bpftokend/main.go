// Command bpftokend gives the containers of rootless podman a delegated
// bpffs. Rootless podman runs OCI hooks as its user, who cannot set a
// bpffs's delegate_* options; the hook sends its request here instead, on a
// unix socket, and bpftokend, as root, grants what the node's policy allows
// that user (a rule with match.users or match.groups), in that user's own
// container only. systemd starts it from its socket unit
// (examples/systemd); elsewhere, run it as root with --listen.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/cli"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/policy"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/rootless"
)

const name = "bpftokend"

const usage = `Usage: %s [flags]

Mounts delegated bpffs instances in the containers of rootless podman, for
the OCI hook (bpftoken-oci-hook) that rootless podman runs as its user. The
caller's host user comes from the kernel (SO_PEERCRED), the container from a
pidfd it passes, which must be in user namespaces that user created; the
policy's rules with match.users or match.groups say what each user may have
(docs/rootless.md). A user no such rule selects gets nothing.

Started by systemd from bpftokend.socket, it takes the socket systemd passes
(LISTEN_FDS); otherwise it listens on --listen. Run it as root.

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), usage, name)
		fs.PrintDefaults()
	}
	listen := fs.String("listen", rootless.DefaultSocket, "the unix socket to listen on, made mode 0666 (any user may ask; the policy decides), when systemd passes none")
	policyFile := fs.String("policy", policy.DefaultPath, "the node's policy; read for every request: its rules with match.users or match.groups decide")
	timeout := fs.Duration("timeout", 8*time.Second, "refuse a request not done after this long; keep it below the hook's --timeout")
	maxRequests := fs.Int("max-requests", 64, "requests served at once; more are refused as busy")
	maxPerUser := fs.Int("max-per-user", 8, "requests of one host user served at once")
	common := cli.AddCommon(fs, name, "info", "append logs to this file instead of stderr")
	if code, done := common.Parse(fs, args, stdout); done {
		return code
	}
	log, closeLog := common.Logger(stderr)
	if log == nil {
		return 2
	}
	defer closeLog()
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", name, fs.Arg(0))
		return 2
	}
	if *timeout <= 0 || *maxRequests <= 0 || *maxPerUser <= 0 {
		fmt.Fprintf(stderr, "%s: --timeout, --max-requests and --max-per-user must be positive\n", name)
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintf(stderr, "%s: must run as root on the host (it sets a bpffs's delegate_* options, which needs CAP_SYS_ADMIN in the host's user namespace)\n", name)
		return 1
	}
	// A broken policy stops the start, where the admin sees it; a missing
	// one only refuses every request.
	if pol, err := policy.Load(*policyFile); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return 1
		}
		log.Warnf("no policy at %s: every request is refused until there is one", *policyFile)
	} else {
		for _, w := range pol.Warnings {
			log.Warn(w)
		}
	}

	l, err := listener(*listen)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	s := &server{log: logrus.NewEntry(log), policyFile: *policyFile, timeout: *timeout,
		maxInFlight: *maxRequests, maxPerUser: *maxPerUser, maxAbandoned: *maxRequests,
		perUser: map[uint32]int{}}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.WithField("socket", l.Addr().String()).Info("listening")
	if err := s.serve(ctx, l); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// listener returns the socket systemd passed (socket activation: LISTEN_PID
// and LISTEN_FDS, fd 3), or a new one at path.
func listener(path string) (*net.UnixListener, error) {
	if pid, err := strconv.Atoi(os.Getenv("LISTEN_PID")); err == nil && pid == os.Getpid() {
		os.Unsetenv("LISTEN_PID")
		os.Unsetenv("LISTEN_FDS")
		os.Unsetenv("LISTEN_FDNAMES")
		const fd = 3
		if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_SEQPACKET {
			return nil, fmt.Errorf("the socket systemd passed is not a unix SOCK_SEQPACKET socket: use ListenSequentialPacket= in the socket unit")
		}
		unix.CloseOnExec(fd)
		l, err := net.FileListener(os.NewFile(fd, "systemd socket"))
		if err != nil {
			return nil, fmt.Errorf("the socket systemd passed: %w", err)
		}
		ul, ok := l.(*net.UnixListener)
		if !ok {
			l.Close()
			return nil, errors.New("the socket systemd passed is not a unix socket")
		}
		return ul, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("listen on %s: something other than a socket is there: remove it, or choose another --listen", path)
		}
		// A socket left by a service that died; one that still answers is
		// another service's.
		if c, err := net.Dial("unixpacket", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("listen on %s: another bpftokend answers there: stop it first", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
	}
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	// Any user may ask: the policy decides what each gets.
	if err := os.Chmod(path, 0o666); err != nil {
		l.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return l, nil
}
