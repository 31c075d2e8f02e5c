package main

import (
	"fmt"
	"strings"

	"github.com/nri-bpftoken/nri-bpftoken/internal/remedy"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// wantReport says, for one profile -want named, whether this container
// can run its workloads and, if not, what is missing: the items the token
// lacks, and the capabilities the process lacks.
type wantReport struct {
	Profile     string              `json:"profile"`
	OK          bool                `json:"ok"`
	Missing     map[string][]string `json:"missing"` // kind -> items the token lacks; only kinds with some
	MissingCaps []string            `json:"missing_caps"`
}

// wantProfiles checks the token's delegation against each profile in
// names (already validated by spec.ParseProfiles).
func wantProfiles(names []string, granted spec.Masks, env environment) []wantReport {
	out := []wantReport{}
	for _, n := range names {
		p, _ := spec.LookupProfile(n)
		w := wantReport{Profile: n, Missing: map[string][]string{}, MissingCaps: []string{}}
		lack := p.Masks.Minus(granted)
		for _, k := range spec.Kinds {
			if lack[k] != 0 {
				w.Missing[k.String()] = lack.Names(k)
			}
		}
		for _, c := range p.Caps {
			if !env.hasCap(c) {
				w.MissingCaps = append(w.MissingCaps, c)
			}
		}
		w.OK = len(w.Missing) == 0 && len(w.MissingCaps) == 0
		out = append(out, w)
	}
	return out
}

// describeWant renders one wantReport on one line, with the annotations
// and options that would fix it.
func describeWant(w wantReport) string {
	if w.OK {
		return "ok: the token delegates everything it needs, and the process has its capabilities"
	}
	var parts, fixes []string
	for _, k := range spec.Kinds {
		if items, ok := w.Missing[k.String()]; ok {
			parts = append(parts, fmt.Sprintf("%s %s", k, strings.Join(items, ":")))
		}
	}
	if len(parts) > 0 {
		fixes = append(fixes, fmt.Sprintf("ask for %s=%s", spec.AnnotationProfile, w.Profile))
	}
	for _, c := range w.MissingCaps {
		parts = append(parts, "capability "+c)
		fixes = append(fixes, fmt.Sprintf("add %s (%s)", c, remedy.AddCap(c)))
	}
	return "MISSING " + strings.Join(parts, ", ") + ": " + strings.Join(fixes, "; ")
}
