package doctor

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestMainUsage(t *testing.T) {
	tests := []struct {
		name   string
		tool   Tool
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"hook help", OCIHook, []string{"--help"}, 0, "--hooks-dir", ""},
		{"plugin help", NRIPlugin, []string{"-h"}, 0, "-socket-path", ""},
		{"unknown flag", OCIHook, []string{"--bogus"}, ExitUsage, "", "flag provided but not defined: -bogus"},
		{"plugin flag on the hook", OCIHook, []string{"-socket-path", "/x"}, ExitUsage, "", "not defined: -socket-path"},
		{"hook flag on the plugin", NRIPlugin, []string{"--hooks-dir", "/x"}, ExitUsage, "", "not defined: -hooks-dir"},
		{"stray argument", NRIPlugin, []string{"now"}, ExitUsage, "", `unexpected argument "now"`},
		{"missing value", NRIPlugin, []string{"-socket-path"}, ExitUsage, "", "flag needs an argument"},
		{"empty hooks dir", OCIHook, []string{"--hooks-dir", ""}, ExitUsage, "", "empty directory"},
		{"unknown tool", Tool(42), nil, ExitUsage, "", "unknown tool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(tt.tool, "bin", tt.args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("Main(%v) = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q, stderr with %q",
					tt.args, code, stdout.String(), stderr.String(), tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

var sample = []Result{
	{Name: CheckKernel, Verdict: OK, Detail: "Linux 6.18"},
	{Name: CheckBTF, Verdict: Warn, Detail: "no BTF", Fix: "use BTF"},
	{Name: CheckNRI, Verdict: Fail, Detail: "nobody listens", Fix: "enable NRI"},
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

func TestCanWork(t *testing.T) {
	if CanWork(sample) || !CanWork(sample[:2]) || !CanWork(nil) {
		t.Error("CanWork must be false exactly when a check failed")
	}
}
