// Command bpftoken-probe tells a user inside a container what the BPF token
// available there allows, and why there is none when there is none.
//
// It is a static binary meant to be copied (or bind-mounted) into a
// container. It finds the delegated bpffs the way eBPF libraries do, creates
// a token from it, and reports the delegated commands, map, program and
// attach types: from the token itself on kernels that describe tokens
// (BPF_OBJ_GET_INFO_BY_FD, Linux >= 6.17), otherwise by trying one tiny map
// or program of each type through the token, with the bpffs mount options as
// a second source. It also reports what else decides whether the token is
// usable (capabilities, seccomp, the user namespace) and warns, one line
// with the fix each, about the settings that surprise people.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/nri-bpftoken/nri-bpftoken/internal/version"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

const name = "bpftoken-probe"

// Exit statuses.
const (
	exitToken   = 0 // a token was created
	exitNoToken = 1 // none could be; the output says why
	exitUsage   = 2
	exitWant    = 3 // a token was created, but it or the process lacks what -want names
)

const usage = `Usage: %s [-path DIR] [-json] [-probe] [-want PROFILE[,PROFILE]]

Reports what a BPF token created in this container allows: the delegated bpf
commands, map types, program types and attach types, plus the capabilities,
seccomp state and user namespace that decide whether the token is usable,
and warnings with fixes.

The bpffs is DIR, else $LIBBPF_BPF_TOKEN_PATH, else every bpffs mount in
/proc/self/mountinfo (those delegating something first, /sys/fs/bpf first
among equals) until one gives a token.

With -want, it also says whether the token and the capabilities suffice
for those profiles (bpf.token/profile) and, when not, what is missing: run
it where a load failed.

Exit status: 0 a token was created (and it serves -want), 1 none could be,
2 usage error, 3 a token was created but it or the process lacks what
-want names.

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
	var o options
	fs.StringVar(&o.path, "path", "", "the delegated bpffs mount point (default: $"+spec.LibbpfTokenPathEnv+", else scan the mounts)")
	asJSON := fs.Bool("json", false, "print one JSON object for scripts instead of text")
	fs.BoolVar(&o.forceProbe, "probe", false, "learn the lists by trying every map, program and attach type, as on kernels without token info, and check the result against the token info")
	want := fs.String("want", "", "check the token and the capabilities against these `profiles` (bpf.token/profile names, comma-separated)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return exitToken
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q (the bpffs goes in -path DIR)\n", name, fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	if *showVersion {
		fmt.Fprintf(stdout, "%s %s\n", name, version.Version)
		return exitToken
	}

	if *want != "" {
		_, names, err := spec.ParseProfiles("-want", *want)
		if err != nil {
			var ae *spec.AnnotationError
			if errors.As(err, &ae) {
				err = errors.New(ae.Reason())
			}
			fmt.Fprintf(stderr, "%s: -want: %v\n", name, err)
			return exitUsage
		}
		o.want = names
	}

	res := inspect(o, readEnvironment(), kernelCalls{})
	write := writeText
	if *asJSON {
		write = writeJSON
	}
	rep := res.report()
	if err := write(stdout, rep); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitNoToken
	}
	if !res.tokenOK {
		return exitNoToken
	}
	for _, w := range rep.Want {
		if !w.OK {
			return exitWant
		}
	}
	return exitToken
}
