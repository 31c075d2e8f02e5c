package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

const example = `
rules:
  - name: observability
    match:
      namespaces: [monitoring, "obs-*"]
      images: ["registry.example.com/ebpf/*"]
    allow:
      cmds: [map_create, prog_load, btf_load]
      maps: array:ringbuf
      progs: [socket_filter]
      attachs: [cgroup_inet_ingress]
      paths: [/sys/fs/bpf, /run/bpf/]
  - name: podman-team
    match:
      annotations: {team: "net*"}
    allow:
      cmds: any
      maps: any
      any: true
  - name: everyone-else
    allow:
      cmds: map_create
      maps: array
`

func delegation(t *testing.T, ann map[string]string) spec.Delegation {
	t.Helper()
	d, err := spec.ParseAnnotations(ann)
	if err != nil || d == nil {
		t.Fatalf("ParseAnnotations(%v) = %v, %v", ann, d, err)
	}
	return *d
}

func TestCheck(t *testing.T) {
	p, err := Parse([]byte(example), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	obs := Workload{Namespace: "obs-eu", Container: "tracer", Image: "registry.example.com/ebpf/tracer:v2"}
	tests := []struct {
		name    string
		w       Workload
		ann     map[string]string
		wantMsg []string // nil: allowed
	}{
		{"within the ceilings", obs, map[string]string{"bpf.token/cmds": "map_create", "bpf.token/maps": "ringbuf"}, nil},
		{"another allowed path", obs, map[string]string{"bpf.token/maps": "array", "bpf.token/path": "/run/bpf"}, nil},
		{"over the ceiling", obs, map[string]string{"bpf.token/maps": "array:hash:lru_hash", "bpf.token/progs": "kprobe"},
			[]string{`rule "observability"`, "test.yaml", "maps hash:lru_hash (allowed: array:ringbuf)", "progs kprobe (allowed: socket_filter)", "ask for less"}},
		{"path not allowed", obs, map[string]string{"bpf.token/maps": "array", "bpf.token/path": "/tmp/bpf"},
			[]string{"path /tmp/bpf (allowed: /sys/fs/bpf, /run/bpf)"}},
		{"any not allowed", obs, map[string]string{"bpf.token/maps": "any"},
			[]string{"maps=any (the rule does not allow any"}},
		{"image not selected falls through", Workload{Namespace: "monitoring", Image: "docker.io/x"},
			map[string]string{"bpf.token/maps": "ringbuf"}, []string{`rule "everyone-else"`, "maps ringbuf (allowed: array)"}},
		{"any allowed where the rule allows it", Workload{Annotations: map[string]string{"team": "network"}},
			map[string]string{"bpf.token/cmds": "any", "bpf.token/maps": "any"}, nil},
		{"any of a kind the rule does not grant", Workload{Annotations: map[string]string{"team": "network"}},
			map[string]string{"bpf.token/progs": "any"}, []string{"progs=any (allowed: none)"}},
		{"fallback rule", Workload{}, map[string]string{"bpf.token/cmds": "map_create", "bpf.token/maps": "array"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Check(tt.w, delegation(t, tt.ann))
			if tt.wantMsg == nil {
				if err != nil {
					t.Fatalf("Check = %v, want allowed", err)
				}
				return
			}
			if !errors.Is(err, ErrDenied) {
				t.Fatalf("Check = %v, want ErrDenied", err)
			}
			for _, w := range tt.wantMsg {
				if !strings.Contains(err.Error(), w) || strings.Contains(err.Error(), "\n") {
					t.Errorf("message %q: want one line containing %q", err, w)
				}
			}
		})
	}
	var none *Policy
	if err := none.Check(Workload{}, delegation(t, map[string]string{"bpf.token/maps": "any"})); err != nil {
		t.Errorf("a nil policy refused: %v", err)
	}
}

func TestNoRuleSelects(t *testing.T) {
	p, err := Parse([]byte("rules:\n  - name: only-monitoring\n    match: {namespaces: [monitoring]}\n    allow: {maps: array}\n"), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	err = p.Check(Workload{Namespace: "shop", Container: "web"}, delegation(t, map[string]string{"bpf.token/maps": "array"}))
	if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "no rule of policy p.yaml selects namespace shop, container web") {
		t.Errorf("Check = %v", err)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, doc string
		want      string
	}{
		{"empty", "", "no rules"},
		{"not YAML", "rules: [", "docs/policy.md"},
		{"wrong type", "rules: 3", "docs/policy.md"},
		{"unknown field", "rules:\n  - name: a\n    allow: {mapz: array}\n", "mapz"},
		{"unknown top-level field", "rule: []\n", "rule"},
		{"no name", "rules:\n  - allow: {maps: array}\n", "rule 1 has no name"},
		{"duplicate names", "rules:\n  - name: a\n  - name: a\n", `two rules are named "a"`},
		{"unknown map type", "rules:\n  - name: a\n    allow: {maps: hsh}\n", `rule "a": allow.maps: unknown map type "hsh" (did you mean "hash"?)`},
		{"bad number", "rules:\n  - name: a\n    allow: {cmds: 0xz}\n", `allow.cmds: bad number "0xz"`},
		{"relative path", "rules:\n  - name: a\n    allow: {paths: [run/bpf]}\n", `allow.paths: "run/bpf": bad path`},
		{"empty path", "rules:\n  - name: a\n    allow: {paths: [\"\"]}\n", `allow.paths: "": empty`},
		{"bad glob", "rules:\n  - name: a\n    match: {namespaces: [\"[\"]}\n", `bad pattern "["`},
		{"list where a map goes", "rules:\n  - name: a\n    match: {annotations: [x]}\n", "docs/policy.md"},
		{"huge", "rules: []\n" + strings.Repeat("#", maxSize), "larger than"},
		{"non-UTF-8", "rules:\n  - name: \"\xff\"\n", "docs/policy.md"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), "p.yaml")
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "policy p.yaml: ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("Parse error = %v, want one line starting with the file and containing %q", err, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(name, []byte(example), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(name)
	if err != nil || len(p.Rules) != 3 || p.Source != name {
		t.Fatalf("Load = %+v, %v", p, err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load of a missing file = %v", err)
	}
}

// The policy users copy must stay valid.
func TestExamplesPolicyParses(t *testing.T) {
	p, err := Load("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != 3 || p.Rules[2].Name != "default" {
		t.Errorf("examples/policy.yaml parsed as %+v", p.Rules)
	}
}
