package main

import (
	"strings"
	"testing"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// missingFrom returns the first of wants that no line contains, or "".
func missingFrom(lines []string, wants []string) string {
	all := strings.Join(lines, "\n")
	for _, w := range wants {
		if !strings.Contains(all, w) {
			return w
		}
	}
	return ""
}

func TestSpecAndCommandWarnings(t *testing.T) {
	allCaps := environment{Caps: map[string]bool{"CAP_BPF": true, "CAP_NET_ADMIN": true, "CAP_PERFMON": true}}
	tokencount := spec.Masks{
		spec.KindCmds:    names(spec.KindCmds, "map_create", "prog_load"),
		spec.KindMaps:    names(spec.KindMaps, "array"),
		spec.KindProgs:   names(spec.KindProgs, "socket_filter"),
		spec.KindAttachs: names(spec.KindAttachs, "cgroup_inet_ingress"),
	}
	tests := []struct {
		name  string
		env   environment
		m     spec.Masks
		want  []string // substrings that must appear
		count int      // number of warnings
	}{
		{name: "a sound delegation", env: allCaps, m: tokencount, count: 0},
		{
			name: "socket_filter without attach type 0",
			env:  allCaps,
			m: spec.Masks{spec.KindCmds: names(spec.KindCmds, "prog_load"),
				spec.KindProgs: names(spec.KindProgs, "socket_filter")},
			want:  []string{"lacks cgroup_inet_ingress"},
			count: 1,
		},
		{
			name:  "any maps",
			env:   allCaps,
			m:     spec.Masks{spec.KindCmds: names(spec.KindCmds, "map_create"), spec.KindMaps: ^uint64(0)},
			want:  []string{"bpf.token/maps=any"},
			count: 1,
		},
		{
			name: "types without their command",
			env:  allCaps,
			m: spec.Masks{spec.KindMaps: names(spec.KindMaps, "array"), spec.KindProgs: names(spec.KindProgs, "xdp"),
				spec.KindAttachs: names(spec.KindAttachs, "cgroup_inet_ingress", "xdp")},
			want:  []string{"not the map_create command", "bpf.token/cmds=map_create", "not the prog_load command", "bpf.token/cmds=prog_load"},
			count: 2,
		},
		{
			name:  "no CAP_BPF, no CAP_NET_ADMIN for xdp",
			env:   environment{Caps: map[string]bool{}},
			m:     spec.Masks{spec.KindCmds: names(spec.KindCmds, "prog_load"), spec.KindProgs: names(spec.KindProgs, "xdp"), spec.KindAttachs: names(spec.KindAttachs, "cgroup_inet_ingress", "xdp")},
			want:  []string{"lacks CAP_BPF", "--cap-add BPF", "lacks CAP_NET_ADMIN", "[xdp]"},
			count: 2,
		},
		{name: "capabilities unknown: not blamed", env: environment{}, m: tokencount, count: 0},
		{name: "nothing known but the capabilities", env: environment{Caps: map[string]bool{}}, m: spec.Masks{},
			want: []string{"lacks CAP_BPF"}, count: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := append(specWarnings(tt.env, tt.m), commandWarnings(tt.m)...)
			if m := missingFrom(got, tt.want); m != "" {
				t.Errorf("warnings lack %q: %q", m, got)
			}
			if len(got) != tt.count {
				t.Errorf("%d warnings, want %d: %q", len(got), tt.count, got)
			}
		})
	}
}

func TestSeccompWarning(t *testing.T) {
	tests := []struct {
		s    seccompState
		want []string
	}{
		{seccompState{Mode: "filter", BPFErrno: "EINVAL"}, nil},
		{seccompState{Mode: "filter", BlocksBPF: true, BPFErrno: "EPERM"},
			[]string{"seccomp blocks bpf()", "got EPERM", "--security-opt seccomp="}},
		{seccompState{Mode: "disabled", BlocksBPF: true, BPFErrno: "EACCES"},
			[]string{"blocked although seccomp is off", "EACCES", "LSM"}},
		{seccompState{Mode: "unknown", BlocksBPF: true, BPFErrno: "ENOSYS"},
			[]string{"seccomp blocks bpf()", "got ENOSYS"}},
	}
	for _, tt := range tests {
		got := seccompWarning(tt.s)
		if tt.want == nil {
			if got != "" {
				t.Errorf("%+v: unexpected warning %q", tt.s, got)
			}
			continue
		}
		if m := missingFrom([]string{got}, tt.want); m != "" {
			t.Errorf("%+v: %q lacks %q", tt.s, got, m)
		}
	}
}

func TestLibbpfPathWarning(t *testing.T) {
	tests := []struct {
		name, path, source, env string
		envSet                  bool
		want                    string
	}{
		{"default path", "/sys/fs/bpf", sourceMountInfo, "", false, ""},
		{"elsewhere, found by scanning", "/run/bpf", sourceMountInfo, "", false, "LIBBPF_BPF_TOKEN_PATH=/run/bpf"},
		{"elsewhere, variable set", "/run/bpf", sourceEnv, "/run/bpf", true, ""},
		{"elsewhere, given as a flag", "/run/bpf", sourceFlag, "", false, ""},
		{"variable set but empty", "/sys/fs/bpf", sourceMountInfo, "", true, "set but empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := libbpfPathWarning(tt.path, tt.source, tt.env, tt.envSet)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want one containing %q", got, tt.want)
			}
		})
	}
}

func TestCompareMasks(t *testing.T) {
	known := spec.KindMaps.KnownMask()
	tests := []struct {
		name         string
		token, mount spec.Masks
		want         []string
	}{
		{name: "equal", token: spec.Masks{spec.KindMaps: 4}, mount: spec.Masks{spec.KindMaps: 4}},
		{name: "mount any, token all 64 bits", token: spec.Masks{spec.KindMaps: ^uint64(0)}, mount: spec.Masks{spec.KindMaps: ^uint64(0)}},
		{name: "mount any, token every known bit", token: spec.Masks{spec.KindMaps: known}, mount: spec.Masks{spec.KindMaps: ^uint64(0)}},
		{name: "mount any, token less", token: spec.Masks{spec.KindMaps: known &^ 4}, mount: spec.Masks{spec.KindMaps: ^uint64(0)},
			want: []string{`disagree on maps: token "unspec:hash:`}},
		{name: "different", token: spec.Masks{spec.KindProgs: 2}, mount: spec.Masks{spec.KindProgs: 64},
			want: []string{`disagree on progs: token "socket_filter", mount "xdp"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := compareMasks(tt.token, tt.mount, "/sys/fs/bpf")
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %d lines", got, len(tt.want))
			}
			if m := missingFrom(got, tt.want); m != "" {
				t.Errorf("%q lacks %q", got, m)
			}
		})
	}
}

func TestCompareProbes(t *testing.T) {
	ref := spec.Masks{
		spec.KindCmds:    names(spec.KindCmds, "map_create", "prog_load"),
		spec.KindMaps:    names(spec.KindMaps, "array", "sockmap"),
		spec.KindProgs:   names(spec.KindProgs, "socket_filter"),
		spec.KindAttachs: names(spec.KindAttachs, "cgroup_inet_ingress"),
	}
	probes := func(mapsOut map[string]string, pair string) *probeResults {
		return &probeResults{
			Maps:     mapsOut,
			Progs:    map[string]string{"socket_filter": "ok", "lsm": outcomeUntested},
			Attachs:  map[string]string{"cgroup_inet_ingress": "ok"},
			ProgPair: pair,
		}
	}
	allCaps := environment{Caps: map[string]bool{"CAP_NET_ADMIN": true, "CAP_PERFMON": true}}
	noNetAdmin := environment{Caps: map[string]bool{"CAP_PERFMON": true}}
	tests := []struct {
		name string
		p    *probeResults
		env  environment
		want []string
	}{
		{name: "agree", p: probes(map[string]string{"array": "ok", "sockmap": "ok", "hash": "EPERM"}, "socket_filter/cgroup_inet_ingress"), env: allCaps},
		{name: "allowed but not delegated", env: allCaps,
			p:    probes(map[string]string{"array": "ok", "sockmap": "ok", "hash": "ok"}, "socket_filter/cgroup_inet_ingress"),
			want: []string{"on maps: allowed but not delegated: [hash]; delegated but refused: []"}},
		{name: "delegated but refused", env: allCaps,
			p:    probes(map[string]string{"array": "EPERM", "sockmap": "ok"}, "socket_filter/cgroup_inet_ingress"),
			want: []string{"delegated but refused: [array]"}},
		{name: "a refusal a missing capability may explain", env: noNetAdmin,
			p: probes(map[string]string{"array": "ok", "sockmap": "EPERM"}, "socket_filter/cgroup_inet_ingress")},
		{name: "no token needed: no verdict", env: allCaps,
			p: probes(map[string]string{"array": outcomeNoTokenNeeded, "sockmap": "ok", "hash": outcomeNoTokenNeeded}, "x/y")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := compareProbes(tt.p, ref, "token info", tt.env)
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %d lines", got, len(tt.want))
			}
			if m := missingFrom(got, tt.want); m != "" {
				t.Errorf("%q lacks %q", got, m)
			}
		})
	}
	// Without a program pair, program and attach refusals prove nothing.
	p := &probeResults{Maps: map[string]string{"array": "ok", "sockmap": "ok"},
		Progs: map[string]string{"socket_filter": "EPERM"}, Attachs: map[string]string{"cgroup_inet_ingress": "EPERM"}}
	if got := compareProbes(p, ref, "token info", allCaps); len(got) != 0 {
		t.Errorf("no pair: got %q", got)
	}
}

func TestCgroupNSWarning(t *testing.T) {
	hostNS := cgroupNSState{Cgroup: "/system.slice/libpod-1a2b.scope"}
	ownNS := cgroupNSState{Private: true, Cgroup: "/"}
	progs := func(ns ...string) spec.Masks {
		return spec.Masks{spec.KindCmds: names(spec.KindCmds, "prog_load"), spec.KindProgs: names(spec.KindProgs, ns...),
			spec.KindAttachs: names(spec.KindAttachs, "cgroup_inet_ingress")}
	}
	withAttach := func(m spec.Masks, attach string) spec.Masks {
		m[spec.KindAttachs] |= names(spec.KindAttachs, attach)
		return m
	}
	const warned = "attach to any cgroup directory the container can open, a read-only fd is enough, other containers' included"
	tests := []struct {
		name string
		ns   cgroupNSState
		m    spec.Masks
		want []string // nil: no warning
	}{
		{name: "host's namespace, cgroup_skb", ns: hostNS, m: progs("socket_filter", "cgroup_skb"),
			want: []string{"(cgroup_skb)", "in cgroup /system.slice/libpod-1a2b.scope", warned, "--cgroupns=private"}},
		{name: "host's namespace, every cgroup type", ns: hostNS,
			m:    progs("cgroup_skb", "cgroup_sock", "cgroup_sock_addr", "sock_ops", "cgroup_device", "cgroup_sysctl", "cgroup_sockopt"),
			want: []string{"(cgroup_skb, cgroup_sock, cgroup_sock_addr, sock_ops, cgroup_device, cgroup_sysctl, cgroup_sockopt)", warned}},
		{name: "host's namespace, any program type", ns: hostNS, m: spec.Masks{spec.KindProgs: ^uint64(0)},
			want: []string{"(cgroup_skb, cgroup_sock, cgroup_sock_addr, sock_ops, cgroup_device, cgroup_sysctl, cgroup_sockopt)"}},
		{name: "host's namespace, lsm with lsm_cgroup", ns: hostNS, m: withAttach(progs("lsm"), "lsm_cgroup"),
			want: []string{"(lsm (with lsm_cgroup))", warned}},
		{name: "host's namespace, lsm without lsm_cgroup", ns: hostNS, m: withAttach(progs("lsm"), "lsm_mac")},
		{name: "host's namespace, no cgroup type", ns: hostNS, m: progs("socket_filter", "xdp", "kprobe")},
		{name: "own namespace", ns: ownNS, m: progs("cgroup_skb", "sock_ops")},
		{name: "namespace unknown: not blamed", ns: cgroupNSState{}, m: progs("cgroup_skb")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cgroupNSWarning(tt.ns, tt.m)
			if tt.want == nil {
				if got != "" {
					t.Errorf("unexpected warning %q", got)
				}
				return
			}
			if m := missingFrom([]string{got}, tt.want); m != "" {
				t.Errorf("%q lacks %q", got, m)
			}
		})
	}
}

// Tracing program types see the whole host, whatever namespaces the
// container has: the probe says so once (the warning is spec's, shared with
// the hook and the plugin), for each of them and only for them.
func TestHostTracingWarning(t *testing.T) {
	allCaps := environment{Caps: map[string]bool{"CAP_BPF": true, "CAP_NET_ADMIN": true, "CAP_PERFMON": true}}
	const hostWide = "with CAP_PERFMON in the container's user namespace these programs observe the whole host, not only this container"
	tests := []struct {
		name  string
		env   environment
		progs []string
		want  []string // nil: no such warning
	}{
		{"kprobe", allCaps, []string{"kprobe"}, []string{"delegates kprobe: "}},
		{"every host-wide type", allCaps,
			[]string{"raw_tracepoint", "raw_tracepoint_writable", "tracing", "tracepoint", "kprobe", "perf_event"},
			[]string{"delegates kprobe, tracepoint, perf_event, raw_tracepoint, raw_tracepoint_writable, tracing: "}},
		{"capabilities unknown", environment{}, []string{"tracing"}, []string{"delegates tracing: "}},
		{"without CAP_PERFMON yet", environment{Caps: map[string]bool{"CAP_BPF": true}}, []string{"perf_event"},
			[]string{"delegates perf_event: ", "lacks CAP_PERFMON"}},
		{"lsm, struct_ops, ext: perfmon but not host-wide tracing", allCaps, []string{"lsm", "struct_ops", "ext"}, nil},
		{"network types", allCaps, []string{"xdp", "cgroup_skb", "socket_filter"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := spec.Masks{spec.KindCmds: names(spec.KindCmds, "prog_load"), spec.KindProgs: names(spec.KindProgs, tt.progs...),
				spec.KindAttachs: names(spec.KindAttachs, "cgroup_inet_ingress")}
			r := &result{tokenOK: true, info: &m, granted: m, env: tt.env}
			got := r.collectWarnings()
			n := 0
			for _, w := range got {
				if strings.Contains(w, hostWide) {
					n++
				}
			}
			switch {
			case tt.want == nil && n != 0:
				t.Errorf("unexpected host-wide warning: %q", got)
			case tt.want != nil && n != 1:
				t.Errorf("%d host-wide warnings, want 1: %q", n, got)
			}
			if m := missingFrom(got, tt.want); m != "" {
				t.Errorf("warnings lack %q: %q", m, got)
			}
		})
	}
}
