// Package cli holds what the two binaries share on their command line: the
// common flags (--version, --log-level, --log-file), the parse of a flag set
// (Parse) and the logger they set up. Its one constraint: a bad flag is one
// line on stderr and exit code 2, as for every other usage error.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/sirupsen/logrus"

	"github.com/nri-bpftoken/nri-bpftoken/internal/version"
)

// Common are the flags both binaries have.
type Common struct {
	name     string
	version  *bool
	logLevel *string
	logFile  *string
}

// AddCommon registers --version, --log-level (default defaultLevel) and
// --log-file on fs; logFileHelp says why one would want a log file.
func AddCommon(fs *flag.FlagSet, name, defaultLevel, logFileHelp string) *Common {
	return &Common{
		name:     name,
		version:  fs.Bool("version", false, "print the version and exit"),
		logLevel: fs.String("log-level", defaultLevel, "log level: error, warning, info, debug, trace"),
		logFile:  fs.String("log-file", "", logFileHelp),
	}
}

// Parse parses args. done is true when the program should exit with code:
// after --help or --version (0), or a usage error (2).
func (c *Common) Parse(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, done bool) {
	if code, done := Parse(fs, args, stdout); done {
		return code, true
	}
	if *c.version {
		fmt.Fprintf(stdout, "%s %s\n", c.name, version.Version)
		return 0, true
	}
	return 0, false
}

// Parse parses args with fs, whose output is stderr. done is true when the
// program should exit with code: after --help, which prints the usage on
// stdout (0), or a usage error, which fs has reported (2).
func Parse(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0, true
		}
		return 2, true
	}
	return 0, false
}

// LogsToFile reports whether --log-file was given.
func (c *Common) LogsToFile() bool { return *c.logFile != "" }

// Logger returns the logger the flags ask for, writing to --log-file
// (appended) or stderr, and a function that closes the file. On a bad flag
// it prints one line to stderr and returns nil.
func (c *Common) Logger(stderr io.Writer) (*logrus.Logger, func()) {
	log := logrus.New()
	log.SetOutput(stderr)
	level, err := logrus.ParseLevel(*c.logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "%s: --log-level %q: not a level; use one of error, warning, info, debug, trace\n", c.name, *c.logLevel)
		return nil, nil
	}
	log.SetLevel(level)
	if *c.logFile == "" {
		return log, func() {}
	}
	f, err := os.OpenFile(*c.logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		fmt.Fprintf(stderr, "%s: --log-file: %v\n", c.name, err)
		return nil, nil
	}
	log.SetOutput(f)
	return log, func() { f.Close() }
}
