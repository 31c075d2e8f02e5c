package integration

import (
	"os"
	"path/filepath"
	"testing"
)

// permissivePolicy allows every delegation the tests ask for, to any
// workload.
const permissivePolicy = `rules: [{name: all, allow: {cmds: any, maps: any, progs: any, attachs: any, any: true, hostCgroupNamespace: true, paths: [/sys/fs/bpf, /run/bpf]}}]`

// writePolicy writes a policy document to a file of the test's and returns
// its path.
func writePolicy(t *testing.T, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHookPolicy(t *testing.T) {
	dir := t.TempDir()
	write := func(name, doc string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ceilings := write("policy.yaml", `
rules:
  - name: net-team
    match: {annotations: {team: net}}
    allow: {cmds: [map_create, prog_load], maps: array, progs: socket_filter, attachs: cgroup_inet_ingress}
`)
	tests := []struct {
		name        string
		policy      string
		annotations map[string]string
		wantMounted bool
		wantMsg     []string
	}{
		{"within the rule", ceilings,
			map[string]string{"team": "net", "bpf.token/cmds": "map_create", "bpf.token/maps": "array"}, true, nil},
		{"above the rule", ceilings,
			map[string]string{"team": "net", "bpf.token/cmds": "map_create", "bpf.token/maps": "array:hash"}, false,
			[]string{`rule "net-team"`, ceilings, "maps hash (allowed: array)", "ask for less"}},
		{"no rule selects", ceilings,
			map[string]string{"team": "web", "bpf.token/maps": "array"}, false,
			[]string{"no rule of policy", "selects"}},
		{"malformed policy", write("bad.yaml", "rules:\n  - name: x\n    allow: {maps: hsh}\n"),
			map[string]string{"bpf.token/maps": "array"}, false,
			[]string{"bad.yaml", `allow.maps: unknown map type "hsh"`}},
		{"missing policy", filepath.Join(dir, "absent.yaml"),
			map[string]string{"bpf.token/maps": "array"}, false,
			[]string{"policy ", "absent.yaml", "no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshotHost(t)
			c := startContainer(t, nil)
			c.writeConfig(config{annotations: tt.annotations})
			res := runHook(t, c.state(), "--policy", tt.policy)
			if tt.wantMounted {
				if res.code != 0 {
					t.Fatalf("hook exited %d: %s", res.code, res.stderr)
				}
				if m := c.bpfMounts(); len(m) != 1 {
					t.Errorf("want one bpffs mount, got %v", m)
				}
			} else {
				if res.code == 0 {
					t.Fatal("hook accepted a request the policy refuses")
				}
				checkOneLine(t, res.stderr, append([]string{c.id}, tt.wantMsg...))
				if m := c.bpfMounts(); len(m) != 0 {
					t.Errorf("refused container got %v", m)
				}
			}
			checkHostUnchanged(t, before)
		})
	}
}
