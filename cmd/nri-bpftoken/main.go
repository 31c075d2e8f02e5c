// Command nri-bpftoken is an NRI plugin for containerd and CRI-O that gives
// containers of user-namespaced pods (hostUsers: false) a delegated bpffs,
// so that their processes can create a BPF token. Pods ask with bpf.token/
// annotations, pod-wide or per container (bpf.token/container.<name>).
//
// It runs as an external plugin (connecting to the runtime's NRI socket, and
// reconnecting when the runtime restarts) or pre-registered, started by the
// runtime from its NRI plugin directory with its configuration from NRI's
// conf.d.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/containerd/nri/pkg/api"
	nrilog "github.com/containerd/nri/pkg/log"
	"github.com/containerd/nri/pkg/stub"
	"github.com/sirupsen/logrus"

	"github.com/nri-bpftoken/nri-bpftoken/internal/cli"
	"github.com/nri-bpftoken/nri-bpftoken/internal/doctorcli"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/doctor"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/policy"
)

const name = "nri-bpftoken"

func main() {
	// The doctor's token check re-executes this binary as its stand-in.
	if doctor.IsStandin(os.Args) {
		os.Exit(doctor.RunStandin())
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// doctorCommand is the doctor subcommand: the common checks, and the
// runtime's NRI socket.
var doctorCommand = doctorcli.Command{
	Name:     name,
	Synopsis: " [-socket-path PATH]",
	Checks:   "the runtime's NRI socket",
	Flags: func(fs *flag.FlagSet) func() doctor.Options {
		socketPath := fs.String("socket-path", doctor.DefaultNRISocket, "the runtime's NRI socket to connect to, at `PATH`")
		return func() doctor.Options { return doctor.Options{NRI: true, NRISocket: *socketPath} }
	},
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "doctor" {
		return doctorCommand.Main(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %[1]s [flags]\n       %[2]s   check this node (see %[1]s doctor --help)\n\nAn NRI plugin giving containers of user-namespaced pods a delegated bpffs\n(bpf.token/ annotations). Flags:\n", name, doctorCommand.Usage())
		fs.PrintDefaults()
	}
	pluginName := fs.String("name", name, "plugin name to register with NRI")
	pluginIdx := fs.String("idx", "10", "plugin index to register with NRI (two digits; orders plugins)")
	socketPath := fs.String("socket-path", api.DefaultSocketPath, "NRI socket of the runtime (external plugin)")
	stateDir := fs.String("state-dir", defaultStateDir, "where the plugin keeps each pod's shared bpffs (bpf.token/scope: pod), readable by root only")
	policyFile := fs.String("policy", "", "the admin's policy file, used when the NRI configuration sets none (without any policy the plugin grants nothing)")
	common := cli.AddCommon(fs, name, "info", "append logs to this file instead of stderr")
	if code, done := common.Parse(fs, args, stdout); done {
		return code
	}
	log, closeLog := common.Logger(stderr)
	if log == nil {
		return 2
	}
	defer closeLog()
	nrilog.Set(nriLogger{log})

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()

	// The runtime starts pre-registered plugins with a connected socket,
	// their name and index in the environment, and restarts them itself;
	// only external plugins name themselves and reconnect.
	preRegistered := os.Getenv(api.PluginSocketEnvVar) != ""
	var opts []stub.Option
	if !preRegistered {
		opts = append(opts, stub.WithPluginName(*pluginName), stub.WithPluginIdx(*pluginIdx), stub.WithSocketPath(*socketPath))
	}
	var flagPolicy *policy.Policy
	if *policyFile != "" {
		var err error
		if flagPolicy, err = policy.Load(*policyFile); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return 2
		}
	}
	p := newPlugin(logrus.NewEntry(log), flagPolicy)
	p.stateDir = *stateDir
	for {
		s, err := stub.New(p, opts...)
		if err != nil {
			fmt.Fprintf(stderr, "%s: create NRI plugin: %v\n", name, err)
			return 1
		}
		err = s.Run(ctx)
		if ctx.Err() != nil {
			return 0
		}
		if preRegistered {
			fmt.Fprintf(stderr, "%s: connection to the runtime ended: %v\n", name, err)
			return 1
		}
		log.WithError(err).Warn("connection to the runtime lost; reconnecting when its NRI socket answers")
		if !waitForSocket(ctx, *socketPath) {
			return 0
		}
	}
}

// waitForSocket polls until something accepts connections at path, or ctx
// ends. A restarting runtime takes seconds to come back.
func waitForSocket(ctx context.Context, path string) bool {
	delay := 100 * time.Millisecond
	for {
		if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
			conn.Close()
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// nriLogger sends the NRI library's logs to logrus.
type nriLogger struct{ l *logrus.Logger }

func (n nriLogger) Debugf(_ context.Context, f string, a ...any) { n.l.Debugf(f, a...) }
func (n nriLogger) Infof(_ context.Context, f string, a ...any)  { n.l.Debugf(f, a...) }
func (n nriLogger) Warnf(_ context.Context, f string, a ...any)  { n.l.Warnf(f, a...) }
func (n nriLogger) Errorf(_ context.Context, f string, a ...any) { n.l.Errorf(f, a...) }
