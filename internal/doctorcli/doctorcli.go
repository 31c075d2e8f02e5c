// Package doctorcli is the doctor subcommand that the front ends share: its
// command line, its text and JSON output and its exit codes, around the
// checks of pkg/doctor. Each front end brings what differs: its name, its
// own flags and the options they set, and the words of its usage (Command).
//
// Its one hard constraint: the output is an interface that people and
// scripts read, so its shape does not change: one line per check and a
// summary line, or with --json an array of {name, verdict, detail, fix};
// exit code 0 when no check failed, 1 when one did, 2 on a bad command line.
package doctorcli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/nri-bpftoken/nri-bpftoken/internal/cli"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/doctor"
)

// Exit codes of Main.
const (
	ExitOK    = 0 // no check failed: the node can work
	ExitFail  = 1 // a check failed: the node cannot work until it is fixed
	ExitUsage = 2 // bad command line
)

// Command is one front end's doctor subcommand.
type Command struct {
	// Name is the binary's name; the subcommand is "Name doctor".
	Name string
	// Synopsis shows the front end's own flags in the usage line, after
	// [--json]: " [-socket-path PATH]".
	Synopsis string
	// Checks names in the help text what the front end checks beyond the
	// common checks: "the runtime's NRI socket".
	Checks string
	// Flags registers the front end's own flags on fs and returns what
	// makes the options of the checks from them once fs is parsed; nil:
	// no flags of its own, the common checks only.
	Flags func(fs *flag.FlagSet) (options func() doctor.Options)
}

// Usage is the subcommand's usage line, for the front end's own usage:
// "Name doctor [--json] Synopsis".
func (c Command) Usage() string {
	return c.Name + " doctor [--json]" + c.Synopsis
}

// Main runs the subcommand: it parses args (what follows "doctor"), runs
// the checks, prints one line per check (or JSON with --json) on stdout,
// and returns the exit code.
func (c Command) Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(c.Name+" doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print a JSON array of {name, verdict, detail, fix} instead of one line per check")
	options := func() doctor.Options { return doctor.Options{} }
	if c.Flags != nil {
		options = c.Flags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: %s

Checks whether this node can give containers BPF tokens: kernel version, a
real token made by a throwaway stand-in container (needs root), kernel BTF,
lockdown, user namespaces, and %s. Each check
says ok, warn or fail and, when not ok, the fix. Exit status: 0 when no check
failed, 1 when one did, 2 on a bad command line.

Flags:
`, c.Usage(), c.Checks)
		fs.PrintDefaults()
	}
	if code, done := cli.Parse(fs, args, stdout); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s doctor: unexpected argument %q\n", c.Name, fs.Arg(0))
		fs.Usage()
		return ExitUsage
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results := doctor.Run(ctx, options())
	if *asJSON {
		if err := WriteJSON(stdout, results); err != nil {
			fmt.Fprintf(stderr, "%s doctor: %v\n", c.Name, err)
			return ExitFail
		}
	} else {
		WriteText(stdout, results)
	}
	if !doctor.CanWork(results) {
		return ExitFail
	}
	return ExitOK
}

// WriteText prints one line per result: verdict, name, detail and, when
// there is one, the fix; then a summary line.
func WriteText(w io.Writer, results []doctor.Result) {
	counts := map[doctor.Verdict]int{}
	for _, r := range results {
		counts[r.Verdict]++
		line := fmt.Sprintf("%-4s  %-8s  %s", r.Verdict, r.Name, r.Detail)
		if r.Fix != "" {
			line += "  => fix: " + r.Fix
		}
		fmt.Fprintln(w, line)
	}
	switch {
	case counts[doctor.Fail] > 0:
		fmt.Fprintf(w, "this node cannot give containers BPF tokens: %d check(s) failed\n", counts[doctor.Fail])
	case counts[doctor.Warn] > 0:
		fmt.Fprintf(w, "this node can give containers BPF tokens; %d warning(s)\n", counts[doctor.Warn])
	default:
		fmt.Fprintln(w, "this node can give containers BPF tokens")
	}
}

// WriteJSON prints the results as a JSON array of {name, verdict, detail,
// fix}.
func WriteJSON(w io.Writer, results []doctor.Result) error {
	if results == nil {
		results = []doctor.Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(results)
}
