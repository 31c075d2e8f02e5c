package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/policy"
)

// Tool is the binary the doctor runs in; it decides the extra check and
// the flags.
type Tool int

const (
	// OCIHook adds the hooks.d check and --hooks-dir.
	OCIHook Tool = iota + 1
	// NRIPlugin adds the NRI socket check and -socket-path.
	NRIPlugin
)

// Exit codes of Main.
const (
	ExitOK    = 0 // no check failed: the node can work
	ExitFail  = 1 // a check failed: the node cannot work until it is fixed
	ExitUsage = 2 // bad command line
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	if v == "" {
		return errors.New("empty directory")
	}
	*l = append(*l, v)
	return nil
}

// Main is the doctor subcommand of the binary called name: it parses args
// (what follows "doctor"), runs the checks, prints one line per check (or
// JSON with --json) on stdout, and returns the exit code.
func Main(tool Tool, name string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(name+" doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print a JSON array of {name, verdict, detail, fix} instead of one line per check")
	var hooksDirs stringList
	var socketPath, policyFile string
	var extra string
	switch tool {
	case OCIHook:
		fs.Var(&hooksDirs, "hooks-dir", "also read hooks.d JSON files from `DIR` (repeatable), after "+strings.Join(DefaultHooksDirs, " and "))
		fs.StringVar(&policyFile, "policy", "", "the policy file the hook is given with --policy (default: "+policy.DefaultPath+")")
		extra = " [--hooks-dir DIR]... [--policy FILE]"
	case NRIPlugin:
		fs.StringVar(&socketPath, "socket-path", DefaultNRISocket, "the runtime's NRI socket to connect to, at `PATH`")
		extra = " [-socket-path PATH]"
	default:
		fmt.Fprintf(stderr, "%s doctor: unknown tool %d\n", name, tool)
		return ExitUsage
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: %s doctor [--json]%s

Checks whether this node can give containers BPF tokens: kernel version, a
real token made by a throwaway stand-in container (needs root), kernel BTF,
lockdown, user namespaces, and %s. Each check
says ok, warn or fail and, when not ok, the fix. Exit status: 0 when no check
failed, 1 when one did, 2 on a bad command line.

Flags:
`, name, extra, map[Tool]string{OCIHook: "the hooks.d JSON that makes podman and CRI-O run this hook, and its policy", NRIPlugin: "the runtime's NRI socket"}[tool])
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s doctor: unexpected argument %q\n", name, fs.Arg(0))
		fs.Usage()
		return ExitUsage
	}

	opts := Options{}
	switch tool {
	case OCIHook:
		opts.Hook = true
		opts.HooksDirs = append(append([]string{}, DefaultHooksDirs...), hooksDirs...)
		opts.HookPolicy = policyFile
	case NRIPlugin:
		opts.NRI = true
		opts.NRISocket = socketPath
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results := Run(ctx, opts)
	if *asJSON {
		if err := WriteJSON(stdout, results); err != nil {
			fmt.Fprintf(stderr, "%s doctor: %v\n", name, err)
			return ExitFail
		}
	} else {
		WriteText(stdout, results)
	}
	if !CanWork(results) {
		return ExitFail
	}
	return ExitOK
}

// WriteText prints one line per result: verdict, name, detail and, when
// there is one, the fix; then a summary line.
func WriteText(w io.Writer, results []Result) {
	counts := map[Verdict]int{}
	for _, r := range results {
		counts[r.Verdict]++
		line := fmt.Sprintf("%-4s  %-8s  %s", r.Verdict, r.Name, r.Detail)
		if r.Fix != "" {
			line += "  => fix: " + r.Fix
		}
		fmt.Fprintln(w, line)
	}
	switch {
	case counts[Fail] > 0:
		fmt.Fprintf(w, "this node cannot give containers BPF tokens: %d check(s) failed\n", counts[Fail])
	case counts[Warn] > 0:
		fmt.Fprintf(w, "this node can give containers BPF tokens; %d warning(s)\n", counts[Warn])
	default:
		fmt.Fprintln(w, "this node can give containers BPF tokens")
	}
}

// WriteJSON prints the results as a JSON array of {name, verdict, detail,
// fix}.
func WriteJSON(w io.Writer, results []Result) error {
	if results == nil {
		results = []Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(results)
}
