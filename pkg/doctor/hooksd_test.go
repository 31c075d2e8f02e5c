package doctor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hookJSON renders a hooks.d file like examples/hooks.d/bpftoken.json.
func hookJSON(path, stages, when string) string {
	return fmt.Sprintf(`{
  "version": "1.0.0",
  "hook": {"path": %q, "args": ["bpftoken-oci-hook"]},
  "when": %s,
  "stages": %s
}`, path, when, stages)
}

const (
	ourWhen     = `{"annotations": {"^bpf\\.token/": ".*"}}`
	createStage = `["createRuntime"]`
)

func TestHooksDirs(t *testing.T) {
	bin := t.TempDir()
	hook := filepath.Join(bin, "bpftoken-oci-hook")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(bin, "other-bpftoken-oci-hook")
	if err := os.WriteFile(other, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	symlink := filepath.Join(bin, "link-to-hook")
	if err := os.Symlink(hook, symlink); err != nil {
		t.Fatal(err)
	}
	hardlink := filepath.Join(bin, "hardlink-to-hook")
	if err := os.Link(hook, hardlink); err != nil {
		t.Fatal(err)
	}

	type file struct{ dir, name, content string }
	tests := []struct {
		name   string
		files  []file // dir is "a" or "b"; the runtime reads a, then b
		want   Verdict
		detail []string
		fix    string
	}{
		{"matching JSON", []file{{"a", "bpftoken.json", hookJSON(hook, createStage, ourWhen)}}, OK,
			[]string{"bpftoken.json", hook}, ""},
		{"path through a symlink", []file{{"a", "bpftoken.json", hookJSON(symlink, createStage, ourWhen)}}, OK, nil, ""},
		{"path is a hard link (same inode)", []file{{"b", "bpftoken.json", hookJSON(hardlink, createStage, ourWhen)}}, OK, nil, ""},
		{"always", []file{{"a", "bpftoken.json", hookJSON(hook, createStage, `{"always": true}`)}}, OK, nil, ""},
		{"several stages", []file{{"a", "bpftoken.json", hookJSON(hook, `["prestart", "createRuntime"]`, ourWhen)}}, OK, nil, ""},
		{"narrower but complete patterns", []file{{"a", "x.json", hookJSON(hook, createStage,
			`{"annotations": {"^bpf\\.token/(cmds|maps)$": ".+", "^bpf\\.token/(progs|attachs)$": ".*"}}`)}}, OK, nil, ""},

		{"no directory at all", nil, Warn, []string{"no hooks.d JSON", "(absent)"}, "make install"},
		{"wrong path", []file{{"a", "bpftoken.json", hookJSON(other, createStage, ourWhen)}}, Warn,
			[]string{"points at another binary", other}, "make install"},
		{"path to nothing", []file{{"a", "bpftoken.json", hookJSON("/nonexistent/bpftoken-oci-hook", createStage, ourWhen)}}, Warn,
			[]string{"points at another binary"}, "make install"},
		{"wrong stage", []file{{"a", "bpftoken.json", hookJSON(hook, `["prestart"]`, ourWhen)}}, Warn,
			[]string{`lack "createRuntime"`}, "edit "},
		{"no stages", []file{{"a", "bpftoken.json", hookJSON(hook, `[]`, ourWhen)}}, Warn,
			[]string{`lack "createRuntime"`}, "edit "},
		{"no annotation match", []file{{"a", "bpftoken.json", hookJSON(hook, createStage, `{"annotations": {"^io\\.podman/": ".*"}}`)}}, Warn,
			[]string{"matches no bpf.token/ annotation"}, "edit "},
		{"no when", []file{{"a", "bpftoken.json", hookJSON(hook, createStage, `{}`)}}, Warn,
			[]string{"never runs the hook"}, "edit "},
		{"partial annotation match", []file{{"a", "bpftoken.json", hookJSON(hook, createStage, `{"annotations": {"^bpf\\.token/cmds$": ".*"}}`)}}, Warn,
			[]string{"does not match bpf.token/maps, bpf.token/progs, bpf.token/attachs"}, "edit "},
		{"value pattern matching nothing useful", []file{{"a", "bpftoken.json", hookJSON(hook, createStage, `{"annotations": {"^bpf\\.token/": "^$"}}`)}}, Warn,
			[]string{"matches no bpf.token/ annotation"}, "edit "},
		{"invalid regexp", []file{{"a", "bpftoken.json", hookJSON(hook, createStage, `{"annotations": {"^bpf\\.token/(": ".*"}}`)}}, Warn,
			[]string{"invalid regular expressions"}, "edit "},
		{"garbage JSON", []file{{"a", "bpftoken.json", `{"version": "1.0.0", "hook": {`}}, Warn,
			[]string{"unreadable", "not valid JSON"}, "make install"},
		{"garbage next to a match", []file{
			{"a", "bpftoken.json", hookJSON(hook, createStage, ourWhen)},
			{"a", "broken.json", `not json at all`},
		}, Warn, []string{"run this binary", "broken.json: not valid JSON"}, "fix or remove"},
		{"wrong field types", []file{{"a", "bpftoken.json", `{"version": "1.0.0", "hook": {"path": 42}}`}}, Warn,
			[]string{"not a hooks.d 1.0.0 file"}, "make install"},
		{"legacy schema", []file{{"a", "bpftoken.json", `{"hook": "` + hook + `", "stage": ["prestart"], "annotation": ["^bpf\\.token/"]}`}}, Warn,
			[]string{`schema version ""`}, "make install"},
		{"other hooks are not reported", []file{{"a", "nvidia.json", hookJSON("/usr/bin/nvidia-ctk", `["prestart"]`, `{"always": true}`)}}, Warn,
			[]string{"(1 JSON)"}, "make install"},
		{"not a .json file", []file{{"a", "bpftoken.json.disabled", hookJSON(hook, createStage, ourWhen)}}, Warn,
			[]string{"(0 JSON)"}, "make install"},
		{"a later directory replaces a file of the same name", []file{
			{"a", "bpftoken.json", hookJSON(hook, createStage, ourWhen)},
			{"b", "bpftoken.json", hookJSON(hook, `["prestart"]`, ourWhen)},
		}, Warn, []string{`lack "createRuntime"`}, "edit "},
		{"the later directory's file wins when it matches", []file{
			{"a", "bpftoken.json", hookJSON(other, createStage, ourWhen)},
			{"b", "bpftoken.json", hookJSON(hook, createStage, ourWhen)},
		}, OK, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dirs := []string{filepath.Join(root, "a"), filepath.Join(root, "b")}
			for _, f := range tt.files {
				dir := filepath.Join(root, f.dir)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := checkHooksDirs(dirs, hook)
			if r.Name != CheckHooksDir || r.Verdict != tt.want {
				t.Errorf("verdict %s, want %s: %+v", r.Verdict, tt.want, r)
			}
			for _, d := range tt.detail {
				if !strings.Contains(r.Detail, d) {
					t.Errorf("detail lacks %q: %s", d, r.Detail)
				}
			}
			if !strings.Contains(r.Fix, tt.fix) || (tt.fix == "") != (r.Fix == "") {
				t.Errorf("fix %q, want one with %q", r.Fix, tt.fix)
			}
		})
	}
}

func TestHooksDirsDefaultsToTheRunningBinary(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bpftoken.json"), []byte(hookJSON(exe, createStage, ourWhen)), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := checkHooksDirs([]string{dir}, ""); r.Verdict != OK {
		t.Errorf("checkHooksDirs for the running binary = %+v", r)
	}
}

func TestExampleHookJSONMatches(t *testing.T) {
	// The JSON users install must pass the check once it points at the
	// binary.
	data, err := os.ReadFile("../../examples/hooks.d/bpftoken.json")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "bpftoken-oci-hook")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	content := strings.ReplaceAll(string(data), "/usr/libexec/oci/hooks.d/bpftoken-oci-hook", bin)
	if err := os.WriteFile(filepath.Join(dir, "bpftoken.json"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := checkHooksDirs([]string{dir}, bin); r.Verdict != OK {
		t.Errorf("examples/hooks.d/bpftoken.json does not pass: %+v", r)
	}
}
