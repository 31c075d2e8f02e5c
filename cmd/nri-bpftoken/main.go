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
	"errors"
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

	"github.com/nri-bpftoken/nri-bpftoken/internal/version"
)

const name = "nri-bpftoken"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s [flags]\n\nAn NRI plugin giving containers of user-namespaced pods a delegated bpffs\n(bpf.token/ annotations). Flags:\n", name)
		fs.PrintDefaults()
	}
	pluginName := fs.String("name", name, "plugin name to register with NRI")
	pluginIdx := fs.String("idx", "10", "plugin index to register with NRI (two digits; orders plugins)")
	socketPath := fs.String("socket-path", api.DefaultSocketPath, "NRI socket of the runtime (external plugin)")
	logLevel := fs.String("log-level", "info", "log level: error, warning, info, debug, trace")
	logFile := fs.String("log-file", "", "append logs to this file instead of stderr")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Fprintf(stdout, "%s %s\n", name, version.Version)
		return 0
	}
	log := logrus.New()
	log.SetOutput(stderr)
	level, err := logrus.ParseLevel(*logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "%s: --log-level %q: not a level; use one of error, warning, info, debug, trace\n", name, *logLevel)
		return 2
	}
	log.SetLevel(level)
	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			fmt.Fprintf(stderr, "%s: --log-file: %v\n", name, err)
			return 2
		}
		defer f.Close()
		log.SetOutput(f)
	}
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
	p := newPlugin(logrus.NewEntry(log))
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
