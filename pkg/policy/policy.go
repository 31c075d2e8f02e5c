// Package policy decides which BPF delegations a node's admin allows, and
// to which workloads. One YAML format serves both front ends: the OCI hook
// (--policy FILE, or /etc/nri-bpftoken/policy.yaml when present) and the NRI
// plugin (its NRI configuration, or --policy FILE).
//
// Its one hard constraint: a request above its ceiling refuses the
// container, with the rule and the items over it named; nothing is ever
// silently clamped, because a workload that gets less than it asked for
// fails later, somewhere far less clear.
//
// A policy is a list of rules; the first rule whose match selects a
// workload decides for it:
//
//	rules:
//	  - name: observability
//	    match:
//	      namespaces: [monitoring, "obs-*"]    # Kubernetes namespace (plugin; CRI-O's hook)
//	      containers: ["tracer*"]              # container name
//	      images: ["registry.example.com/ebpf/*"]
//	      annotations: {team: obs}             # any runtime; podman passes neither name nor image
//	    allow:
//	      cmds: [map_create, prog_load, btf_load]
//	      maps: [array, ringbuf]
//	      progs: [socket_filter, kprobe]
//	      attachs: [cgroup_inet_ingress]
//	      paths: [/sys/fs/bpf]                 # the default
//	      any: false                           # may a request say "any"? the default: no
//
// Every selector given must match (globs as in path.Match); a rule without
// match selects everything. Allow lists use the annotation syntax; `any` as
// an item allows every bit. A workload no rule selects is refused.
package policy

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// DefaultPath is where the hook looks for a policy when --policy is not given.
const DefaultPath = "/etc/nri-bpftoken/policy.yaml"

// maxSize bounds a policy file; real ones are a few KiB.
const maxSize = 1 << 20

var (
	// ErrDenied means the policy does not allow a request.
	ErrDenied = errors.New("denied by policy")
	// ErrInvalid means a policy file is malformed.
	ErrInvalid = errors.New("invalid policy")
)

// Policy is a parsed policy file.
type Policy struct {
	// Source names the policy in messages (its file, or the NRI configuration).
	Source string
	Rules  []Rule
}

// Rule selects workloads and sets their ceilings.
type Rule struct {
	Name  string
	Match Match
	Allow Allow
}

// Match selects workloads; every non-empty field must match.
type Match struct {
	Namespaces  []string
	Containers  []string
	Images      []string
	Annotations map[string]string
}

// Allow holds the ceilings of a rule.
type Allow struct {
	Masks [len(spec.Kinds)]uint64 // indexed by spec.Kind
	Paths []string
	Any   bool
}

// Workload is what the front end knows of a container. Empty fields are
// unknown, and a selector on an unknown field does not match.
type Workload struct {
	Namespace   string
	Container   string
	Image       string
	Annotations map[string]string
}

func (w Workload) String() string {
	var parts []string
	if w.Namespace != "" {
		parts = append(parts, "namespace "+w.Namespace)
	}
	if w.Container != "" {
		parts = append(parts, "container "+w.Container)
	}
	if w.Image != "" {
		parts = append(parts, "image "+w.Image)
	}
	if len(parts) == 0 {
		return "a workload with no name, namespace or image known"
	}
	return strings.Join(parts, ", ")
}

// file is the YAML document.
type file struct {
	Rules []struct {
		Name  string `json:"name"`
		Match struct {
			Namespaces  []string          `json:"namespaces"`
			Containers  []string          `json:"containers"`
			Images      []string          `json:"images"`
			Annotations map[string]string `json:"annotations"`
		} `json:"match"`
		Allow struct {
			Cmds    spec.Items `json:"cmds"`
			Maps    spec.Items `json:"maps"`
			Progs   spec.Items `json:"progs"`
			Attachs spec.Items `json:"attachs"`
			Paths   []string   `json:"paths"`
			Any     bool       `json:"any"`
		} `json:"allow"`
	} `json:"rules"`
}

// Load reads and parses a policy file.
func Load(name string) (*Policy, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", name, err)
	}
	return Parse(data, name)
}

// LoadDefault loads DefaultPath when it exists, and returns nil (no policy)
// when it does not.
func LoadDefault() (*Policy, error) {
	if _, err := os.Stat(DefaultPath); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return Load(DefaultPath)
}

// Parse parses a policy document; source names it in messages.
func Parse(data []byte, source string) (*Policy, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("policy %s: %w: %s", source, ErrInvalid, fmt.Sprintf(format, args...))
	}
	if len(data) > maxSize {
		return nil, bad("larger than %d bytes", maxSize)
	}
	var doc file
	if err := yaml.UnmarshalStrict(data, &doc); err != nil {
		return nil, bad("%s; see docs/policy.md for the format", oneLine(err.Error()))
	}
	if len(doc.Rules) == 0 {
		return nil, bad("no rules: an empty policy would refuse every container; write at least one rule")
	}
	p := &Policy{Source: source}
	seen := map[string]bool{}
	for i, r := range doc.Rules {
		name := r.Name
		if name == "" {
			return nil, bad("rule %d has no name: name every rule, messages refer to it", i+1)
		}
		if seen[name] {
			return nil, bad("two rules are named %q: names must be unique", name)
		}
		seen[name] = true
		for _, globs := range [][]string{r.Match.Namespaces, r.Match.Containers, r.Match.Images, slices.Collect(mapValues(r.Match.Annotations))} {
			for _, g := range globs {
				if _, err := path.Match(g, ""); err != nil {
					return nil, bad("rule %q: bad pattern %q: %v", name, g, err)
				}
			}
		}
		rule := Rule{Name: name, Match: Match{
			Namespaces: r.Match.Namespaces, Containers: r.Match.Containers,
			Images: r.Match.Images, Annotations: r.Match.Annotations,
		}, Allow: Allow{Any: r.Allow.Any}}
		for k, items := range map[spec.Kind]spec.Items{spec.KindCmds: r.Allow.Cmds, spec.KindMaps: r.Allow.Maps, spec.KindProgs: r.Allow.Progs, spec.KindAttachs: r.Allow.Attachs} {
			mask, err := k.ParseList(string(items))
			if err != nil {
				var ae *spec.AnnotationError
				if errors.As(err, &ae) {
					return nil, bad("rule %q: allow.%s: %s", name, k, ae.Reason())
				}
				return nil, bad("rule %q: allow.%s: %v", name, k, err)
			}
			rule.Allow.Masks[k] = mask
		}
		paths := r.Allow.Paths
		if len(paths) == 0 {
			paths = []string{spec.DefaultPath}
		}
		for _, pth := range paths {
			clean, err := spec.ParsePath(pth)
			if err != nil || pth == "" {
				reason := "empty"
				var ae *spec.AnnotationError
				if errors.As(err, &ae) {
					reason = ae.Reason()
				}
				return nil, bad("rule %q: allow.paths: %q: %s", name, pth, reason)
			}
			rule.Allow.Paths = append(rule.Allow.Paths, clean)
		}
		p.Rules = append(p.Rules, rule)
	}
	return p, nil
}

// Check returns nil when the policy allows d for w, and otherwise an
// ErrDenied error naming the rule, the items over its ceiling, and what to
// do. A nil policy allows everything.
func (p *Policy) Check(w Workload, d spec.Delegation) error {
	if p == nil {
		return nil
	}
	rule := p.selecting(w)
	if rule == nil {
		return fmt.Errorf("%w: no rule of policy %s selects %s: add a rule whose match selects it, or do not ask for delegation", ErrDenied, p.Source, w)
	}
	var over []string
	for _, k := range spec.Kinds {
		req := d.Mask(k)
		if req == ^uint64(0) {
			switch {
			case !rule.Allow.Any:
				over = append(over, fmt.Sprintf("%s=any (the rule does not allow any: list the %s needed)", k, k))
			case rule.Allow.Masks[k] != ^uint64(0):
				over = append(over, fmt.Sprintf("%s=any (allowed: %s)", k, orNone(k.FormatMask(rule.Allow.Masks[k]))))
			}
			continue
		}
		if extra := req &^ rule.Allow.Masks[k]; extra != 0 {
			over = append(over, fmt.Sprintf("%s %s (allowed: %s)", k, k.FormatMask(extra), orNone(k.FormatMask(rule.Allow.Masks[k]))))
		}
	}
	if !slices.Contains(rule.Allow.Paths, d.Path) {
		over = append(over, fmt.Sprintf("path %s (allowed: %s)", d.Path, strings.Join(rule.Allow.Paths, ", ")))
	}
	if len(over) > 0 {
		return fmt.Errorf("%w: rule %q of policy %s does not allow %s: ask for less, or widen the rule", ErrDenied, rule.Name, p.Source, strings.Join(over, "; "))
	}
	return nil
}

// selecting returns the first rule that selects w.
func (p *Policy) selecting(w Workload) *Rule {
	for i := range p.Rules {
		if p.Rules[i].Match.selects(w) {
			return &p.Rules[i]
		}
	}
	return nil
}

func (m Match) selects(w Workload) bool {
	if !anyGlob(m.Namespaces, w.Namespace) || !anyGlob(m.Containers, w.Container) || !anyGlob(m.Images, w.Image) {
		return false
	}
	for k, glob := range m.Annotations {
		v, ok := w.Annotations[k]
		if !ok {
			return false
		}
		if matched, _ := path.Match(glob, v); !matched {
			return false
		}
	}
	return true
}

// anyGlob reports whether value matches one of globs; no globs match all,
// and an unknown (empty) value matches none.
func anyGlob(globs []string, value string) bool {
	if len(globs) == 0 {
		return true
	}
	if value == "" {
		return false
	}
	for _, g := range globs {
		if ok, _ := path.Match(g, value); ok {
			return true
		}
	}
	return false
}

func mapValues(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
