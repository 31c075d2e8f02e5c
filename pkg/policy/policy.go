// Package policy decides which BPF delegations a node's admin allows, and
// to which workloads. One YAML format serves every front end: the OCI hook
// (--policy FILE, or /etc/nri-bpftoken/policy.yaml when present), the NRI
// plugin (its NRI configuration, or --policy FILE) and bpftokend, for
// rootless podman (--policy FILE, or that same default).
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
//	      annotations: {team: obs}             # container (and pod) annotations
//	      users: [alice, "1001"]               # host user, by name or uid (bpftokend, rootless podman)
//	      groups: [ebpf]                       # host group, by name or gid (bpftokend)
//	    allow:
//	      cmds: [map_create, prog_load, btf_load]
//	      maps: [array, ringbuf]
//	      progs: [socket_filter, kprobe]
//	      attachs: [cgroup_inet_ingress]
//	      profiles: [ringbuf-telemetry]        # everything these profiles delegate (spec.Profiles)
//	      paths: [/sys/fs/bpf]                 # the default
//	      any: false                           # may a request say "any", or name bits by number that this build has no name for? the default: no
//	      hostCgroupNamespace: false           # cgroup program types for containers in the host's cgroup namespace? the default: no
//	      hostNetworkNamespace: false          # network program types for containers in the host's network namespace? the default: no
//
// Every selector given must match (globs as in path.Match; users and
// groups are exact names or numeric ids); a rule without match selects every
// container of the hook and the plugin. Allow lists use the annotation
// syntax; `any` as an item allows every bit. A workload no rule selects is
// refused.
//
// Rootless containers (bpftokend) are a host user's, and the user writes
// everything the request says of them: only the host user and groups, which
// the kernel tells, can select them. So a rule selects a rootless
// container only when it has users or groups and no other selector, and a
// rule with users or groups never selects a container of the hook or the
// plugin, whose processes are no host user's.
//
// Two guards apply with or without a policy: cgroup program types attach
// to any cgroup the container can open, so a container that shares the
// host's cgroup namespace gets them only from a rule with
// hostCgroupNamespace: true; network program types (XDP, tc, ...) attach
// to the interfaces and hooks of the container's network namespace, so a
// container that shares the host's gets them only from a rule with
// hostNetworkNamespace: true.
package policy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

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
	// ErrHostCgroupNamespace means cgroup program types were refused to a
	// container that shares the host's cgroup namespace (a
	// *HostNamespaceError); front ends add their runtime's remedy.
	ErrHostCgroupNamespace = errors.New("cgroup program types for a container in the host's cgroup namespace")
	// ErrHostNetworkNamespace means network program types were refused to
	// a container that shares the host's network namespace.
	ErrHostNetworkNamespace = errors.New("network program types for a container in the host's network namespace")
)

// Policy is a parsed policy file.
type Policy struct {
	// Source names the policy in messages (its file, or the NRI configuration).
	Source string
	Rules  []Rule
	// Warnings are rules that are valid but probably not what the admin
	// meant, one line each, in rule order; front ends log them.
	Warnings []string
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
	// Users and Groups select the host user of a rootless container (its
	// name or uid, and any of its groups' names or gids).
	Users  []string
	Groups []string
}

// HostUser is the host user a rootless container belongs to, as the kernel
// told the service (SO_PEERCRED, SO_PEERGROUPS) and the user database
// names it.
type HostUser struct {
	UID  uint32
	Name string // "" when the user database has no name for UID
	// GIDs are the user's primary and supplementary groups; Groups their
	// names, "" where the group database has none.
	GIDs   []uint32
	Groups []string
}

// String names u for messages: user "alice" (uid 1001).
func (u *HostUser) String() string {
	if u.Name == "" {
		return fmt.Sprintf("host uid %d (no name in the user database)", u.UID)
	}
	return fmt.Sprintf("user %s (uid %d)", spec.Echo(u.Name), u.UID)
}

// Allow holds the ceilings of a rule.
type Allow struct {
	Masks spec.Masks
	Paths []string
	// Any allows requests that say "any", and bits this build has no name
	// for (which a later kernel may give to anything).
	Any bool
	// HostCgroupNamespace allows cgroup program types (spec.CgroupProgMask)
	// for workloads without a cgroup namespace of their own, which can then
	// attach to other containers' cgroups.
	HostCgroupNamespace bool
	// HostNetworkNamespace allows network program types
	// (spec.NetnsProgMask) for workloads without a network namespace of
	// their own, which can then attach to the host's interfaces.
	HostNetworkNamespace bool
}

// Workload is what the front end knows of a container. Empty fields are
// unknown, and a selector on an unknown field does not match.
type Workload struct {
	Namespace   string
	Container   string
	Image       string
	Annotations map[string]string
	// PrivateCgroupNamespace and PrivateNetworkNamespace are true only
	// when the runtime's own config gives the container a namespace of that
	// kind of its own; false means shared with the host, or unknown, which
	// must be treated alike.
	PrivateCgroupNamespace  bool
	PrivateNetworkNamespace bool
	// HostUser is set for a rootless container, and nothing else is: the
	// rest of what its request says the user wrote. Its user has processes
	// in the host's cgroup and network namespaces that may join the
	// container's user namespace, so the namespace guards always apply.
	HostUser *HostUser
}

// String names w for messages. Any field may be a tenant's (on Kubernetes
// all are), so each is echoed quoted when not plain, and clipped: an image
// name must not put terminal escapes or a kilobyte into a log line.
func (w Workload) String() string {
	if w.HostUser != nil {
		return w.HostUser.String()
	}
	var parts []string
	if w.Namespace != "" {
		parts = append(parts, "namespace "+spec.Echo(w.Namespace))
	}
	if w.Container != "" {
		parts = append(parts, "container "+spec.Echo(w.Container))
	}
	if w.Image != "" {
		parts = append(parts, "image "+spec.Echo(w.Image))
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
			Users       []string          `json:"users"`
			Groups      []string          `json:"groups"`
		} `json:"match"`
		Allow struct {
			Cmds                 spec.Items `json:"cmds"`
			Maps                 spec.Items `json:"maps"`
			Progs                spec.Items `json:"progs"`
			Attachs              spec.Items `json:"attachs"`
			Profiles             spec.Items `json:"profiles"`
			Paths                []string   `json:"paths"`
			Any                  bool       `json:"any"`
			HostCgroupNamespace  bool       `json:"hostCgroupNamespace"`
			HostNetworkNamespace bool       `json:"hostNetworkNamespace"`
		} `json:"allow"`
	} `json:"rules"`
}

// Load reads and parses a policy file, which must be a regular file.
func Load(name string) (*Policy, error) {
	// O_NONBLOCK so that a FIFO put there cannot hang the hook in open;
	// the check below then refuses it. It changes nothing for a regular file.
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", name, withoutPath(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", name, withoutPath(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("policy %s: not a regular file", name)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", name, withoutPath(err))
	}
	return Parse(data, name)
}

// LoadDefault loads DefaultPath, and returns nil (no policy) only when
// nothing is there at all; see loadOptional.
func LoadDefault() (*Policy, error) { return loadOptional(DefaultPath) }

// loadOptional loads name, and returns nil (no policy) only when name does
// not exist: the path's first missing component is absent, not a symlink to
// something absent. For the hook no policy means granting what the
// annotations ask, so a policy that is meant to be there but cannot be read
// (a symlink to a config mount not there yet, a directory, EACCES, a read
// error) must refuse instead.
func loadOptional(name string) (*Policy, error) {
	if _, err := os.Lstat(name); !errors.Is(err, fs.ErrNotExist) {
		return Load(name)
	}
	// Lstat follows the symlinks of the directories above name, so a
	// dangling one there also looks like ENOENT: find the deepest directory
	// that exists as an entry, and make sure it resolves.
	dir := filepath.Dir(name)
	for {
		_, err := os.Lstat(dir)
		if !errors.Is(err, fs.ErrNotExist) || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("policy %s: %s: %w", name, dir, withoutPath(err))
	}
	return nil, nil
}

// withoutPath drops the name an *fs.PathError repeats: messages here
// already start with it.
func withoutPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
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
		return nil, bad("%s; see docs/policy.md for the format", spec.OneLine(err.Error()))
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
		// Annotations in key order, so that of two bad patterns the same
		// one is named every run.
		globs := slices.Concat(r.Match.Namespaces, r.Match.Containers, r.Match.Images)
		for _, k := range slices.Sorted(maps.Keys(r.Match.Annotations)) {
			globs = append(globs, r.Match.Annotations[k])
		}
		for _, g := range globs {
			if _, err := path.Match(g, ""); err != nil {
				return nil, bad("rule %q: bad pattern %q: %v", name, g, err)
			}
		}
		for _, id := range slices.Concat(r.Match.Users, r.Match.Groups) {
			if id == "" || len(id) > maxIDLen || strings.ContainsFunc(id, func(c rune) bool { return c <= ' ' || c == ':' || c > '~' }) {
				return nil, bad("rule %q: match.users or match.groups: %s: not a user or group name, nor a numeric id", name, spec.Echo(id))
			}
		}
		rule := Rule{Name: name, Match: Match{
			Namespaces: r.Match.Namespaces, Containers: r.Match.Containers,
			Images: r.Match.Images, Annotations: r.Match.Annotations,
			Users: r.Match.Users, Groups: r.Match.Groups,
		}, Allow: Allow{Any: r.Allow.Any, HostCgroupNamespace: r.Allow.HostCgroupNamespace,
			HostNetworkNamespace: r.Allow.HostNetworkNamespace}}
		// Indexed by Kind and walked in spec.Kinds order, so that of two
		// bad lists the same one is named every run.
		lists := [len(spec.Kinds)]spec.Items{spec.KindCmds: r.Allow.Cmds, spec.KindMaps: r.Allow.Maps, spec.KindProgs: r.Allow.Progs, spec.KindAttachs: r.Allow.Attachs}
		for _, k := range spec.Kinds {
			mask, err := k.ParseList(string(lists[k]))
			if err != nil {
				var ae *spec.AnnotationError
				if errors.As(err, &ae) {
					return nil, bad("rule %q: allow.%s: %s", name, k, ae.Reason())
				}
				return nil, bad("rule %q: allow.%s: %v", name, k, err)
			}
			rule.Allow.Masks[k] = mask
		}
		profiles, _, err := spec.ParseProfiles("allow.profiles", string(r.Allow.Profiles))
		if err != nil {
			var ae *spec.AnnotationError
			if errors.As(err, &ae) {
				return nil, bad("rule %q: allow.profiles: %s", name, ae.Reason())
			}
			return nil, bad("rule %q: allow.profiles: %v", name, err)
		}
		rule.Allow.Masks = rule.Allow.Masks.Or(profiles)
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
		for _, w := range rule.warnings() {
			p.Warnings = append(p.Warnings, fmt.Sprintf("policy %s: %s", source, w))
		}
	}
	return p, nil
}

// warnings returns what is probably a mistake in r. Tracing-class
// program types read kernel memory and see the whole host; only the
// Kubernetes namespace is a trust boundary (RBAC decides who creates pods
// there), while container names, images and annotations are whatever the
// pod's author writes. A rule granting them must select on namespaces (or,
// for rootless containers, on host users or groups). A rule selecting host
// users together with anything else selects nothing at all.
func (r *Rule) warnings() []string {
	var out []string
	if r.Match.forHostUsers() && r.Match.hasWorkloadSelectors() {
		out = append(out, fmt.Sprintf("rule %q selects host users or groups and also namespaces, containers, images or annotations: it selects no container (the service that serves host users cannot trust the rest, their user writes it); split it in two rules", r.Name))
	}
	progs := r.Allow.Masks[spec.KindProgs] & spec.PerfmonProgMask()
	if progs != 0 && len(r.Match.Namespaces) == 0 && !r.Match.forHostUsers() {
		names := strings.ReplaceAll(spec.KindProgs.FormatMask(progs), ":", " ")
		out = append(out, fmt.Sprintf("rule %q grants program types [%s] that read kernel memory and host-wide activity, and selects only on fields a pod author controls (containers, images, annotations, or nothing): add match.namespaces", r.Name, names))
	}
	return out
}

// Check returns nil when the policy allows d for w, and otherwise an
// ErrDenied error naming the rule, the items over its ceiling, and what to
// do. A nil policy sets no ceilings, but the namespace guards apply all the
// same (see HostNamespaceError).
func (p *Policy) Check(w Workload, d spec.Delegation) error {
	var rule *Rule
	if p != nil {
		if rule = p.Selecting(w); rule == nil && w.HostUser != nil {
			return fmt.Errorf("%w: no rule of policy %s selects %s, and a user no rule names gets nothing: ask the node's admin for a rule with match.users or match.groups (docs/rootless.md)", ErrDenied, p.Source, w)
		}
		if rule == nil {
			return fmt.Errorf("%w: no rule of policy %s selects %s: add a rule whose match selects it, or do not ask for delegation", ErrDenied, p.Source, w)
		}
		if over := rule.over(d); len(over) > 0 {
			return fmt.Errorf("%w: rule %q of policy %s does not allow %s: ask for less, or widen the rule", ErrDenied, rule.Name, p.Source, strings.Join(over, "; "))
		}
	}
	return p.namespaceGuards(rule, w, d)
}

// over lists what in d is above r's ceilings.
func (r *Rule) over(d spec.Delegation) []string {
	var over []string
	for _, k := range spec.Kinds {
		req, ceiling := d.Masks[k], r.Allow.Masks[k]
		if req == ^uint64(0) {
			switch {
			case !r.Allow.Any:
				over = append(over, fmt.Sprintf("%s=any (the rule does not allow any: list the %s needed)", k, k))
			case ceiling != ^uint64(0):
				over = append(over, fmt.Sprintf("%s=any (allowed: %s)", k, orNone(k.FormatMask(ceiling))))
			}
			continue
		}
		// A number can set bits this build has no name for: whatever a
		// later kernel gives them to. Only a rule that allows any may grant
		// them, as it would grant "any" itself.
		if unknown := req &^ k.KnownMask(); unknown != 0 && !r.Allow.Any {
			over = append(over, fmt.Sprintf("%s %#x (bits this build has no names for, and the rule does not allow any: list the %s needed by name, or set any: true)", k, unknown, k))
			req &^= unknown
		}
		if extra := req &^ ceiling; extra != 0 {
			over = append(over, fmt.Sprintf("%s %s (allowed: %s)", k, k.FormatMask(extra), orNone(k.FormatMask(ceiling))))
		}
	}
	if !slices.Contains(r.Allow.Paths, d.Path) {
		over = append(over, fmt.Sprintf("path %s (allowed: %s)", spec.Echo(d.Path), strings.Join(r.Allow.Paths, ", ")))
	}
	return over
}

// hostNamespaceGuards: the program types that reach beyond a container
// that shares one of the host's namespaces. For cgroup, the kernel lets such
// a program attach to any cgroup directory the container can open,
// read-only included, with no ownership check: in the host's cgroup
// namespace, other containers' cgroups. It is a guard on program types, not
// attach types: see spec.CgroupProgMask. For network, XDP and tc links
// attach to the interfaces of the caller's network namespace with no check
// of its owner: in the host's, the host's interfaces.
var hostNamespaceGuards = []struct {
	namespace string // as the messages say it
	progs     uint64
	private   func(Workload) bool
	allowed   func(*Rule) bool
	reach     string
	sentinel  error
}{
	{"cgroup", spec.CgroupProgMask(), func(w Workload) bool { return w.PrivateCgroupNamespace },
		func(r *Rule) bool { return r.Allow.HostCgroupNamespace },
		"could attach to any cgroup it can open, other containers' included", ErrHostCgroupNamespace},
	{"network", spec.NetnsProgMask(), func(w Workload) bool { return w.PrivateNetworkNamespace },
		func(r *Rule) bool { return r.Allow.HostNetworkNamespace },
		"could attach to the host's interfaces and network hooks", ErrHostNetworkNamespace},
}

// namespaceGuards refuses the program types of each guard to a workload
// that may share that host namespace, unless rule (nil without a policy)
// allows it. Bits this build has no name for may be a later kernel's
// program types of either kind.
func (p *Policy) namespaceGuards(rule *Rule, w Workload, d spec.Delegation) error {
	for _, g := range hostNamespaceGuards {
		if g.private(w) && w.HostUser == nil || rule != nil && g.allowed(rule) {
			continue
		}
		progs := d.Masks[spec.KindProgs] & (g.progs | ^spec.KindProgs.KnownMask())
		if progs == 0 {
			continue
		}
		e := &HostNamespaceError{Namespace: g.namespace, Progs: progs, reach: g.reach, sentinel: g.sentinel}
		if w.HostUser != nil {
			e.HostUser = w.HostUser.String()
		}
		if rule != nil {
			e.Rule, e.Source = rule.Name, p.Source
		}
		return e
	}
	return nil
}

// HostNamespaceError refuses program types to a container that shares one
// of the host's namespaces (cgroup or network), or whose front end cannot
// tell. It is both ErrDenied and ErrHostCgroupNamespace or
// ErrHostNetworkNamespace (errors.Is). Its message names no runtime: a
// front end may set Hint to its own way of giving the container a
// namespace of its own (e.g. "podman: --cgroupns=private"), which then
// follows that remedy in the sentence.
type HostNamespaceError struct {
	Namespace string // "cgroup" or "network"
	Progs     uint64 // the program types refused
	Rule      string // the rule that selected the workload; "" without a policy
	Source    string // that rule's policy; "" without a policy
	Hint      string // the front end's remedy for a private namespace; "" for none
	// HostUser names the user of a rootless container: no namespace of the
	// container's own helps then, since the user's other processes are in
	// the host's and may join the container's user namespace.
	HostUser string
	reach    string
	sentinel error
}

func (e *HostNamespaceError) Error() string {
	var b strings.Builder
	if e.Rule != "" {
		// Like every other refusal of a policy; without one there is none
		// to name.
		b.WriteString(ErrDenied.Error() + ": ")
	}
	if e.HostUser != "" {
		fmt.Fprintf(&b, "program types %s delegated to a rootless container of %s %s: the user's own processes share the host's %s namespace and may join the container's user namespace; set host%sNamespace: true in rule %q of policy %s if the user may",
			spec.KindProgs.FormatMask(e.Progs), e.HostUser, e.reach, e.Namespace, strings.ToUpper(e.Namespace[:1])+e.Namespace[1:], e.Rule, e.Source)
		return b.String()
	}
	fmt.Fprintf(&b, "program types %s delegated to a container that shares the host's %s namespace %s: give the container a %s namespace of its own",
		spec.KindProgs.FormatMask(e.Progs), e.Namespace, e.reach, e.Namespace)
	if e.Hint != "" {
		fmt.Fprintf(&b, " (%s)", e.Hint)
	}
	if e.Rule != "" {
		fmt.Fprintf(&b, ", or set host%sNamespace: true in rule %q of policy %s", strings.ToUpper(e.Namespace[:1])+e.Namespace[1:], e.Rule, e.Source)
	}
	return b.String()
}

// Unwrap makes the error an ErrDenied and its namespace's sentinel.
func (e *HostNamespaceError) Unwrap() []error {
	return []error{ErrDenied, e.sentinel}
}

// Selecting returns the first rule that selects w, or nil.
func (p *Policy) Selecting(w Workload) *Rule {
	for i := range p.Rules {
		if p.Rules[i].Match.selects(w) {
			return &p.Rules[i]
		}
	}
	return nil
}

func (m Match) selects(w Workload) bool {
	if m.forHostUsers() || w.HostUser != nil {
		return w.HostUser != nil && !m.hasWorkloadSelectors() && m.selectsHostUser(w.HostUser)
	}
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

// forHostUsers reports whether m selects host users (rootless containers).
func (m Match) forHostUsers() bool { return len(m.Users) > 0 || len(m.Groups) > 0 }

// hasWorkloadSelectors reports whether m selects on what a container's
// request or annotations say.
func (m Match) hasWorkloadSelectors() bool {
	return len(m.Namespaces) > 0 || len(m.Containers) > 0 || len(m.Images) > 0 || len(m.Annotations) > 0
}

// selectsHostUser reports whether u is one of m's users (when it has any)
// and in one of its groups (when it has any).
func (m Match) selectsHostUser(u *HostUser) bool {
	if !m.forHostUsers() {
		return false
	}
	if len(m.Users) > 0 && !slices.ContainsFunc(m.Users, func(s string) bool { return sameID(s, u.Name, u.UID) }) {
		return false
	}
	if len(m.Groups) == 0 {
		return true
	}
	for i, gid := range u.GIDs {
		name := ""
		if i < len(u.Groups) {
			name = u.Groups[i]
		}
		if slices.ContainsFunc(m.Groups, func(s string) bool { return sameID(s, name, gid) }) {
			return true
		}
	}
	return false
}

// sameID reports whether a users or groups item names the id: by its name
// (when the database has one), or by its number.
func sameID(item, name string, id uint32) bool {
	return name != "" && item == name || item == strconv.FormatUint(uint64(id), 10)
}

// maxIDLen bounds a user or group name in a rule (useradd's limit is 32).
const maxIDLen = 256

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

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
