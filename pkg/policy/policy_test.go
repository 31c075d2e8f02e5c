package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// A rule may name profiles: its ceilings are then the profiles' items, ORed
// with its explicit lists, and a request is judged on its items whether it
// names a profile or spells the items out.
func TestCheckProfiles(t *testing.T) {
	p, err := Parse([]byte(`
rules:
  - name: net
    match: {namespaces: [net]}
    allow:
      profiles: [xdp, tc]
      maps: [ringbuf]
  - name: plain
    allow: {profiles: socket-filter}
`), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	xdp, _ := spec.LookupProfile("xdp")
	if got := p.Rules[0].Allow.Masks[spec.KindAttachs]; got&xdp.Masks[spec.KindAttachs] != xdp.Masks[spec.KindAttachs] {
		t.Fatalf("rule net allows attachs %s, lacks xdp's", spec.KindAttachs.FormatMask(got))
	}
	net := Workload{Namespace: "net", PrivateNetworkNamespace: true}
	tests := []struct {
		name    string
		w       Workload
		ann     map[string]string
		wantMsg string // "": allowed
	}{
		{"a profile the rule names", net, map[string]string{"bpf.token/profile": "xdp"}, ""},
		{"two of them, and a map the rule adds", net, map[string]string{"bpf.token/profile": "tc,xdp", "bpf.token/maps": "ringbuf"}, ""},
		{"a profile the rule does not name", net, map[string]string{"bpf.token/profile": "cgroup-net"},
			`progs cgroup_skb:cgroup_sock_addr (allowed: socket_filter:sched_cls:xdp)`},
		{"the profile's items spelled out", Workload{}, map[string]string{"bpf.token/progs": "socket_filter", "bpf.token/attachs": "cgroup_inet_ingress"}, ""},
		{"a profile above the rule", Workload{}, map[string]string{"bpf.token/profile": "ringbuf-telemetry"}, "maps ringbuf (allowed: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Check(tt.w, delegation(t, tt.ann))
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("Check = %v, want allowed", err)
				}
				return
			}
			if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Check = %v, want ErrDenied containing %q", err, tt.wantMsg)
			}
		})
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
		{"unknown profile", "rules:\n  - name: a\n    allow: {profiles: [xpd]}\n", `rule "a": allow.profiles: unknown profile "xpd" (did you mean "xdp"?); profiles: socket-filter, `},
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
	if len(p.Rules) != 4 || p.Rules[3].Name != "default" || len(p.Warnings) != 0 {
		t.Errorf("examples/policy.yaml parsed as %+v, warnings %q", p.Rules, p.Warnings)
	}
}

// Bits this build has no name for are program types, maps or commands a
// future kernel may add: a rule that does not allow "any" must not grant
// them through a number, whatever its ceiling says.
func TestCheckUnknownBits(t *testing.T) {
	const doc = `
rules:
  - name: numbers
    match: {annotations: {team: "*"}}
    allow: {cmds: any, progs: any, attachs: [cgroup_inet_ingress]}
  - name: numbers-and-any
    allow: {cmds: any, progs: any, attachs: [cgroup_inet_ingress], any: true}
`
	p, err := Parse([]byte(doc), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Private cgroup and network namespaces: 0x7fff... includes the cgroup
	// and network program types, which TestCheckNamespaceGuards covers.
	noAny := Workload{Annotations: map[string]string{"team": "net"}, PrivateCgroupNamespace: true, PrivateNetworkNamespace: true}
	withAny := Workload{PrivateCgroupNamespace: true, PrivateNetworkNamespace: true}
	tests := []struct {
		name    string
		w       Workload
		progs   string
		wantMsg string // "": allowed
	}{
		{"every bit but the top one", noAny, "0x7fffffffffffffff",
			"progs 0x7ffffffe00000000 (bits this build has no names for, and the rule does not allow any: list the progs needed by name, or set any: true)"},
		{"a single unknown high bit", noAny, "0x8000000000000000",
			"progs 0x8000000000000000 (bits this build has no names for"},
		{"a known bit by number", noAny, "0x2", ""},
		{"known bits by name", noAny, "socket_filter:kprobe", ""},
		{"unknown bits where the rule allows any", withAny, "0x7fffffffffffffff", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Check(tt.w, delegation(t, map[string]string{"bpf.token/progs": tt.progs, "bpf.token/attachs": "cgroup_inet_ingress"}))
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("Check = %v, want allowed", err)
				}
				return
			}
			if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), `rule "numbers"`) {
				t.Fatalf("Check = %v, want ErrDenied containing %q", err, tt.wantMsg)
			}
		})
	}
}

// Workload fields, paths and annotation values are the tenant's: a message
// carries them quoted and clipped, never raw terminal escapes or kilobytes.
func TestCheckEchoesTenantStrings(t *testing.T) {
	p, err := Parse([]byte("rules:\n  - name: shop\n    match: {namespaces: [shop]}\n    allow: {maps: array}\n"), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hostile := "registry.example.com/\x1b[31mred" + strings.Repeat("x", 1000)
	tests := []struct {
		name string
		w    Workload
		ann  map[string]string
	}{
		{"image", Workload{Namespace: "other", Container: "web", Image: hostile}, map[string]string{"bpf.token/maps": "array"}},
		{"namespace", Workload{Namespace: hostile}, map[string]string{"bpf.token/maps": "array"}},
		{"container", Workload{Container: hostile}, map[string]string{"bpf.token/maps": "array"}},
		{"path", Workload{Namespace: "shop"}, map[string]string{"bpf.token/maps": "array", "bpf.token/path": "/" + strings.Repeat("p", 1000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Check(tt.w, delegation(t, tt.ann))
			if !errors.Is(err, ErrDenied) {
				t.Fatalf("Check = %v, want ErrDenied", err)
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\x1b\n") || len(msg) > 400 {
				t.Errorf("message (%d bytes) carries the tenant's string raw or unclipped: %q", len(msg), msg)
			}
		})
	}
	if s := (Workload{Image: hostile}).String(); strings.Contains(s, "\x1b") || len(s) > 100 {
		t.Errorf("Workload.String = %q", s)
	}
}

// With two faults the same one is reported every time, the first in
// spec.Kinds order, so that a message does not change between runs.
func TestParseErrorsAreDeterministic(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"allow lists", "rules:\n  - name: a\n    allow: {attachs: xdpp, progs: kprbe, maps: hsh}\n", "allow.maps"},
		{"annotation globs", "rules:\n  - name: a\n    match: {annotations: {b: \"[b\", a: \"[a\"}}\n", `"[a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 20 {
				_, err := Parse([]byte(tt.doc), "p.yaml")
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Parse = %v, want the fault of %s", err, tt.want)
				}
			}
		})
	}
}

// Only a policy path that does not exist itself means "no policy" (for the
// hook: grant what the annotations ask). Anything else there that cannot be
// read, such as a symlink to a config mount not there yet, is an error, so
// that the hook fails closed.
func TestLoadOptional(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(example), 0o644); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling.yaml")
	if err := os.Symlink(filepath.Join(dir, "not-mounted-yet", "policy.yaml"), dangling); err != nil {
		t.Fatal(err)
	}
	loop := filepath.Join(dir, "loop.yaml")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	directory := filepath.Join(dir, "directory.yaml")
	if err := os.Mkdir(directory, 0o755); err != nil {
		t.Fatal(err)
	}
	// /etc/nri-bpftoken itself a symlink to a mount not there yet.
	danglingDir := filepath.Join(dir, "conf.d")
	if err := os.Symlink(filepath.Join(dir, "not-mounted-yet"), danglingDir); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		path      string
		wantRules int    // with a nil error; 0: no policy
		wantErr   string // "": no error
	}{
		{"good file", good, 3, ""},
		{"missing file", filepath.Join(dir, "missing.yaml"), 0, ""},
		{"missing directory", filepath.Join(dir, "missing", "policy.yaml"), 0, ""},
		{"dangling symlink above it", filepath.Join(danglingDir, "policy.yaml"), 0, "conf.d: no such file"},
		{"dangling symlink", dangling, 0, "dangling.yaml"},
		{"symlink loop", loop, 0, "loop.yaml"},
		{"directory", directory, 0, "not a regular file"},
		{"FIFO, which must not hang", fifo, 0, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := loadOptional(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "policy ") {
					t.Fatalf("loadOptional = %+v, %v; want an error containing %q", p, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadOptional = %v", err)
			}
			if tt.wantRules == 0 && p != nil || tt.wantRules != 0 && (p == nil || len(p.Rules) != tt.wantRules) {
				t.Fatalf("loadOptional = %+v, want %d rules", p, tt.wantRules)
			}
		})
	}
}

// A cgroup program attaches to any cgroup directory the container can open,
// with no ownership check; in the host's cgroup namespace that includes
// other containers' cgroups. So cgroup program types need a cgroup
// namespace of the container's own, or a rule that says otherwise, even
// without a policy.
func TestCheckNamespaceGuards(t *testing.T) {
	const doc = `
rules:
  - name: infra
    match: {namespaces: [infra]}
    allow: {progs: [socket_filter, cgroup_skb, lsm, xdp, sched_cls], attachs: [cgroup_inet_ingress], hostCgroupNamespace: true, hostNetworkNamespace: true}
  - name: tenants
    allow: {progs: [socket_filter, cgroup_skb, lsm, xdp, sched_cls], attachs: [cgroup_inet_ingress]}
`
	p, err := Parse([]byte(doc), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const guard = "program types cgroup_skb delegated to a container that shares the host's cgroup namespace could attach to any cgroup it can open, other containers' included: give the container a cgroup namespace of its own"
	const netGuard = "program types xdp delegated to a container that shares the host's network namespace could attach to the host's interfaces and network hooks: give the container a network namespace of its own"
	tests := []struct {
		name    string
		p       *Policy
		ns      string
		private bool
		progs   string
		wantMsg string // "": allowed
	}{
		{"no policy, shared, cgroup_skb", nil, "", false, "cgroup_skb", guard},
		{"no policy, shared, socket_filter", nil, "", false, "socket_filter", ""},
		{"no policy, private, cgroup_skb", nil, "", true, "cgroup_skb", ""},
		{"no policy, private, socket_filter", nil, "", true, "socket_filter", ""},
		{"no policy, shared, any", nil, "", false, "any", "delegated to a container that shares the host's cgroup namespace"},
		{"hostCgroupNamespace, shared, cgroup_skb", p, "infra", false, "cgroup_skb", ""},
		{"hostCgroupNamespace, shared, socket_filter", p, "infra", false, "socket_filter", ""},
		{"hostCgroupNamespace, private, cgroup_skb", p, "infra", true, "cgroup_skb", ""},
		{"hostCgroupNamespace, private, socket_filter", p, "infra", true, "socket_filter", ""},
		{"rule without it, shared, cgroup_skb", p, "shop", false, "cgroup_skb",
			guard + `, or set hostCgroupNamespace: true in rule "tenants" of policy p.yaml`},
		{"rule without it, shared, socket_filter", p, "shop", false, "socket_filter", ""},
		{"rule without it, private, cgroup_skb", p, "shop", true, "cgroup_skb", ""},
		{"rule without it, private, socket_filter", p, "shop", true, "socket_filter", ""},
		{"rule without it, shared, lsm (lsm_cgroup)", p, "shop", false, "lsm", "program types lsm delegated"},
		// The network namespace, the same way.
		{"no policy, host network, xdp", nil, "", false, "xdp", netGuard},
		{"no policy, private network, xdp", nil, "", true, "xdp", ""},
		{"hostNetworkNamespace, host network, xdp and sched_cls", p, "infra", false, "xdp:sched_cls", ""},
		{"rule without it, host network, xdp", p, "shop", false, "xdp",
			netGuard + `, or set hostNetworkNamespace: true in rule "tenants" of policy p.yaml`},
		{"rule without it, host network, sched_cls", p, "shop", false, "sched_cls", "program types sched_cls delegated to a container that shares the host's network namespace"},
		{"rule without it, private network, xdp", p, "shop", true, "xdp", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// private: the namespace the case is about; the other is private.
			w := Workload{Namespace: tt.ns, PrivateCgroupNamespace: tt.private, PrivateNetworkNamespace: tt.private}
			if strings.Contains(tt.name, "network") {
				w.PrivateCgroupNamespace = true
			} else {
				w.PrivateNetworkNamespace = true
			}
			err := tt.p.Check(w, delegation(t, map[string]string{"bpf.token/progs": tt.progs, "bpf.token/attachs": "cgroup_inet_ingress"}))
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("Check = %v, want allowed", err)
				}
				return
			}
			sentinel := ErrHostCgroupNamespace
			if strings.Contains(tt.name, "network") {
				sentinel = ErrHostNetworkNamespace
			}
			if !errors.Is(err, ErrDenied) || !errors.Is(err, sentinel) || !strings.Contains(err.Error(), tt.wantMsg) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Check = %v, want one line, ErrDenied and %v, containing %q", err, sentinel, tt.wantMsg)
			}
		})
	}
}

// Tracing-class program types for a rule that does not select on the one
// field a pod author does not choose, the namespace, get a warning; in rule
// order, so that the log is the same every run.
func TestParseWarnings(t *testing.T) {
	const doc = `
rules:
  - name: tracers
    match: {namespaces: [monitoring]}
    allow: {progs: [kprobe, tracepoint]}
  - name: by-image
    match: {images: ["registry.example.com/ebpf/*"], annotations: {team: obs}}
    allow: {progs: [socket_filter, tracing, kprobe]}
  - name: sockets
    allow: {progs: [socket_filter, cgroup_skb]}
  - name: everything
    allow: {progs: any, any: true}
`
	want := []string{
		`policy p.yaml: rule "by-image" grants program types [kprobe tracing] that read kernel memory and host-wide activity, and selects only on fields a pod author controls (containers, images, annotations, or nothing): add match.namespaces`,
		`policy p.yaml: rule "everything" grants program types [kprobe tracepoint perf_event raw_tracepoint raw_tracepoint_writable tracing struct_ops ext lsm] that`,
	}
	for range 5 {
		p, err := Parse([]byte(doc), "p.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Warnings) != len(want) {
			t.Fatalf("Warnings = %q, want %d", p.Warnings, len(want))
		}
		for i, w := range want {
			if !strings.HasPrefix(p.Warnings[i], w) || strings.Contains(p.Warnings[i], "\n") {
				t.Errorf("warning %d = %q, want one line starting %q", i, p.Warnings[i], w)
			}
		}
	}
}

// A front end adds its runtime's remedy where it belongs in the sentence.
func TestHostNamespaceErrorHint(t *testing.T) {
	err := (*Policy)(nil).Check(Workload{}, delegation(t, map[string]string{"bpf.token/progs": "cgroup_sock_addr", "bpf.token/attachs": "cgroup_inet4_connect"}))
	var ce *HostNamespaceError
	if !errors.As(err, &ce) {
		t.Fatalf("Check = %v, want a *HostNamespaceError", err)
	}
	ce.Hint = "podman: --cgroupns=private"
	const want = "program types cgroup_sock_addr delegated to a container that shares the host's cgroup namespace could attach to any cgroup it can open, other containers' included: give the container a cgroup namespace of its own (podman: --cgroupns=private)"
	if got := err.Error(); got != want {
		t.Errorf("message = %q\nwant      %q", got, want)
	}
}

const usersPolicy = `
rules:
  - name: alice
    match:
      users: [alice]
    allow:
      profiles: [socket-filter]
  - name: ebpf-group
    match:
      groups: ["2000"]
    allow:
      cmds: [map_create]
      maps: [array]
  - name: net-team
    match:
      users: ["1003"]
    allow:
      profiles: [xdp]
      hostNetworkNamespace: true
  - name: mixed
    match:
      users: [mallory]
      containers: [x]
    allow:
      cmds: any
      any: true
  - name: everyone
    allow:
      cmds: [map_create, prog_load]
      maps: [array, hash]
`

func TestHostUsers(t *testing.T) {
	p, err := Parse([]byte(usersPolicy), "users.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], `rule "mixed" selects host users or groups and also`) {
		t.Errorf("warnings = %q, want one about rule mixed", p.Warnings)
	}
	alice := &HostUser{UID: 1001, Name: "alice", GIDs: []uint32{1001}, Groups: []string{"alice"}}
	bob := &HostUser{UID: 1002, Name: "bob", GIDs: []uint32{1002, 2000}, Groups: []string{"bob", "ebpf"}}
	carol := &HostUser{UID: 1003, GIDs: []uint32{1003}}
	mallory := &HostUser{UID: 1004, Name: "mallory", GIDs: []uint32{1004}, Groups: []string{"mallory"}}
	sockFilter := map[string]string{"bpf.token/profile": "socket-filter"}
	tests := []struct {
		name    string
		w       Workload
		ann     map[string]string
		wantMsg []string // nil: allowed
	}{
		{"user by name", Workload{HostUser: alice}, sockFilter, nil},
		{"above the user's rule", Workload{HostUser: alice}, map[string]string{"bpf.token/cmds": "map_create", "bpf.token/maps": "ringbuf"},
			[]string{`rule "alice" of policy users.yaml does not allow maps ringbuf`}},
		{"group by gid", Workload{HostUser: bob}, map[string]string{"bpf.token/cmds": "map_create", "bpf.token/maps": "array"}, nil},
		{"the group's ceiling", Workload{HostUser: bob}, sockFilter, []string{`rule "ebpf-group"`, "does not allow"}},
		// A rule without users or groups is the hook's and the plugin's:
		// it never selects a host user, who would otherwise get it.
		{"no rule for the user", Workload{HostUser: mallory}, map[string]string{"bpf.token/cmds": "map_create", "bpf.token/maps": "array"},
			[]string{`no rule of policy users.yaml selects user mallory (uid 1004), and a user no rule names gets nothing`}},
		{"user by uid, without a name", Workload{HostUser: carol}, map[string]string{"bpf.token/profile": "xdp"}, nil},
		// The user's processes are in the host's namespaces whatever the
		// container's are.
		{"network types need the rule's consent", Workload{HostUser: alice, PrivateNetworkNamespace: true, PrivateCgroupNamespace: true},
			map[string]string{"bpf.token/progs": "xdp", "bpf.token/attachs": "xdp"},
			[]string{"rule \"alice\"", "does not allow progs xdp"}},
		// A rule for host users never selects another runtime's container,
		// whatever the container's name says.
		{"a container named like a user", Workload{Container: "x", Annotations: map[string]string{"user": "mallory"}},
			map[string]string{"bpf.token/cmds": "map_create", "bpf.token/maps": "hash"}, nil},
		{"containers still get the general rule, not the users'", Workload{Container: "alice"}, sockFilter,
			[]string{`rule "everyone"`}},
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
			for _, m := range tt.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("Check = %q, want it to contain %q", err, m)
				}
			}
		})
	}
}

func TestHostUserGuards(t *testing.T) {
	p, err := Parse([]byte(`
rules:
  - name: alice
    match: {users: [alice]}
    allow: {profiles: [xdp, cgroup-net]}
`), "users.yaml")
	if err != nil {
		t.Fatal(err)
	}
	alice := &HostUser{UID: 1001, Name: "alice"}
	for _, tt := range []struct {
		ann      map[string]string
		sentinel error
	}{
		{map[string]string{"bpf.token/profile": "xdp"}, ErrHostNetworkNamespace},
		{map[string]string{"bpf.token/profile": "cgroup-net"}, ErrHostCgroupNamespace},
	} {
		// Private namespaces of the container do not count for a host user.
		err := p.Check(Workload{HostUser: alice, PrivateCgroupNamespace: true, PrivateNetworkNamespace: true}, delegation(t, tt.ann))
		if !errors.Is(err, tt.sentinel) || !errors.Is(err, ErrDenied) {
			t.Fatalf("Check(%v) = %v, want %v", tt.ann, err, tt.sentinel)
		}
		for _, m := range []string{`rootless container of user alice (uid 1001)`, "the user's own processes share the host's", `in rule "alice" of policy users.yaml if the user may`} {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("Check(%v) = %q, want %q in it", tt.ann, err, m)
			}
		}
	}
}

func TestBadUserSelector(t *testing.T) {
	for _, id := range []string{`""`, `"a b"`, `"x:y"`, `"\u00e9"`} {
		_, err := Parse([]byte("rules:\n  - name: r\n    match: {users: ["+id+"]}\n"), "p.yaml")
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "not a user or group name") {
			t.Errorf("users: [%s]: err = %v", id, err)
		}
	}
}
