package policy

import (
	"strings"
	"testing"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// FuzzParse: any document either parses or gives one line naming the file;
// a parsed policy never panics when checking, and only denies with
// ErrDenied.
func FuzzParse(f *testing.F) {
	f.Add(example)
	f.Add("rules:\n  - name: a\n    allow: {maps: any, any: true}\n")
	f.Add("rules:\n  - name: a\n    match: {namespaces: [\"*\"], annotations: {k: \"v*\"}}\n    allow: {paths: [/x]}\n")
	f.Add("{}")
	f.Add("rules: [{name: x, allow: {cmds: [0x1, map_create]}}]")
	f.Fuzz(func(t *testing.T, doc string) {
		p, err := Parse([]byte(doc), "f.yaml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "policy f.yaml: ") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line naming the file: %q", err)
			}
			return
		}
		d := spec.Delegation{Masks: spec.Masks{spec.KindCmds: 1, spec.KindMaps: ^uint64(0)}, Path: spec.DefaultPath}
		for _, w := range []Workload{{}, {Namespace: "ns", Container: "c", Image: "i", Annotations: map[string]string{"k": "v"}}} {
			if err := p.Check(w, d); err != nil && strings.Contains(err.Error(), "\n") {
				t.Fatalf("Check message is not one line: %q", err)
			}
		}
	})
}
