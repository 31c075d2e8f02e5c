package doctorcli

import (
	"bytes"
	"encoding/json"
	"flag"
	"strings"
	"testing"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/doctor"
)

// command is a front end with one flag of its own.
var command = Command{
	Name:     "bin",
	Synopsis: " [-socket-path PATH]",
	Checks:   "the runtime's NRI socket",
	Flags: func(fs *flag.FlagSet) func() doctor.Options {
		socket := fs.String("socket-path", doctor.DefaultNRISocket, "the runtime's NRI socket to connect to, at `PATH`")
		return func() doctor.Options { return doctor.Options{NRI: true, NRISocket: *socket} }
	},
}

func TestMainUsage(t *testing.T) {
	tests := []struct {
		name   string
		cmd    Command
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"help", command, []string{"--help"}, ExitOK, "Usage: bin doctor [--json] [-socket-path PATH]\n", ""},
		{"help names the front end's checks", command, []string{"-h"}, ExitOK, "user namespaces, and the runtime's NRI socket. Each check", ""},
		{"help shows the front end's flags", command, []string{"-h"}, ExitOK, "-socket-path PATH", ""},
		{"no flags of its own", Command{Name: "bin", Checks: "nothing else"}, []string{"-h"}, ExitOK, "Usage: bin doctor [--json]\n", ""},
		{"unknown flag", command, []string{"--bogus"}, ExitUsage, "", "flag provided but not defined: -bogus"},
		{"a flag of no front end", Command{Name: "bin"}, []string{"-socket-path", "/x"}, ExitUsage, "", "not defined: -socket-path"},
		{"stray argument", command, []string{"now"}, ExitUsage, "", `unexpected argument "now"`},
		{"missing value", command, []string{"-socket-path"}, ExitUsage, "", "flag needs an argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := tt.cmd.Main(tt.args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("Main(%v) = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q, stderr with %q",
					tt.args, code, stdout.String(), stderr.String(), tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	if got, want := command.Usage(), "bin doctor [--json] [-socket-path PATH]"; got != want {
		t.Errorf("Usage() = %q, want %q", got, want)
	}
}

var sample = []doctor.Result{
	{Name: doctor.CheckKernel, Verdict: doctor.OK, Detail: "Linux 6.18"},
	{Name: doctor.CheckBTF, Verdict: doctor.Warn, Detail: "no BTF", Fix: "use BTF"},
	{Name: doctor.CheckNRI, Verdict: doctor.Fail, Detail: "nobody listens", Fix: "enable NRI"},
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	WriteText(&b, sample)
	want := "ok    kernel    Linux 6.18\n" +
		"warn  btf       no BTF  => fix: use BTF\n" +
		"fail  nri       nobody listens  => fix: enable NRI\n" +
		"this node cannot give containers BPF tokens: 1 check(s) failed\n"
	if b.String() != want {
		t.Errorf("WriteText:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	WriteText(&b, sample[:2])
	if !strings.HasSuffix(b.String(), "this node can give containers BPF tokens; 1 warning(s)\n") {
		t.Errorf("WriteText without failures:\n%s", b.String())
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, sample); err != nil {
		t.Fatal(err)
	}
	var got []map[string]string
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, b.String())
	}
	if len(got) != 3 || got[0]["name"] != "kernel" || got[0]["verdict"] != "ok" || got[0]["fix"] != "" ||
		got[2]["verdict"] != "fail" || got[2]["fix"] != "enable NRI" || got[1]["detail"] != "no BTF" {
		t.Errorf("WriteJSON = %s", b.String())
	}
	for _, r := range got {
		if len(r) != 4 {
			t.Errorf("object %v: want exactly name, verdict, detail, fix", r)
		}
	}
	b.Reset()
	if err := WriteJSON(&b, nil); err != nil || strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("WriteJSON(nil) = %q, %v", b.String(), err)
	}
}
