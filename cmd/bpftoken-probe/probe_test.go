package main

import (
	"maps"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/bpfsys"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// fakeKernel answers like Linux 6.18's map_create and prog_load: the token
// counts only when the command and the type (and for programs the expected
// attach type) are delegated; without it, unprivileged BPF decides.
type fakeKernel struct {
	delegated    spec.Masks
	netAdmin     bool // CAP_NET_ADMIN in the token's user namespace
	unprivileged bool // kernel.unprivileged_bpf_disabled=0
	calls        int
}

func names(k spec.Kind, ns ...string) uint64 {
	var m uint64
	for _, n := range ns {
		m |= 1 << mustValue(k, n)
	}
	return m
}

func (f *fakeKernel) tokenAllows(token int, cmd string) bool {
	return token >= 0 && f.delegated.Has(spec.KindCmds, mustValue(spec.KindCmds, cmd))
}

func (f *fakeKernel) mapCreate(token int, a bpfsys.MapAttr) error {
	f.calls++
	name, _ := spec.KindMaps.Name(uint(a.Type))
	if !f.tokenAllows(token, "map_create") || !f.delegated.Has(spec.KindMaps, uint(a.Type)) {
		if f.unprivileged && name == "array" {
			return nil
		}
		return unix.EPERM
	}
	if name == "sockmap" && !f.netAdmin {
		return unix.EPERM
	}
	if name == "hash_of_maps" {
		return unix.EBADF // no inner map: refused after the permission check
	}
	return nil
}

func (f *fakeKernel) progLoad(token int, p, a uint32) error {
	f.calls++
	name, _ := spec.KindProgs.Name(uint(p))
	if name == "cgroup_sock" && a == 0 {
		a = uint32(mustValue(spec.KindAttachs, "cgroup_inet_sock_create")) // bpf_prog_load_fixup_attach_type
	}
	if slices.Contains(untestableProgs, name) {
		return unix.EPERM
	}
	if !f.tokenAllows(token, "prog_load") || !f.delegated.Has(spec.KindProgs, uint(p)) || !f.delegated.Has(spec.KindAttachs, uint(a)) {
		if f.unprivileged && name == "socket_filter" {
			return nil
		}
		return unix.EPERM
	}
	if name == "xdp" && !f.netAdmin {
		return unix.EPERM
	}
	if name == "tracing" {
		return unix.EINVAL // no BTF id: refused by the verifier
	}
	return nil
}

func (f *fakeKernel) btfLoad(token int) error {
	f.calls++
	if !f.tokenAllows(token, "btf_load") {
		return unix.EPERM
	}
	return nil
}

// notEPERM returns the names whose outcome is not EPERM, with it.
func notEPERM(outcomes map[string]string) map[string]string {
	out := map[string]string{}
	for n, o := range outcomes {
		if o != epermName {
			out[n] = o
		}
	}
	return out
}

func TestProbeToken(t *testing.T) {
	tests := []struct {
		name   string
		kernel fakeKernel
		cmds   map[string]string
		maps   map[string]string
		progs  map[string]string
		attach map[string]string
		pair   string
	}{
		{
			name: "tokencount's delegation",
			kernel: fakeKernel{delegated: spec.Masks{
				spec.KindCmds:    names(spec.KindCmds, "map_create", "prog_load"),
				spec.KindMaps:    names(spec.KindMaps, "array"),
				spec.KindProgs:   names(spec.KindProgs, "socket_filter"),
				spec.KindAttachs: names(spec.KindAttachs, "cgroup_inet_ingress"),
			}},
			cmds:  map[string]string{"map_create": "ok", "prog_load": "ok"},
			maps:  map[string]string{"array": "ok"},
			progs: map[string]string{"socket_filter": "ok", "cgroup_sock": outcomeUntested, "ext": outcomeUntested, "lsm": outcomeUntested},
			// cgroup_sock carries no attach type test: pair is socket_filter.
			attach: map[string]string{"cgroup_inet_ingress": "ok"},
			pair:   "socket_filter/cgroup_inet_ingress",
		},
		{
			name:   "nothing delegated",
			kernel: fakeKernel{},
			cmds:   map[string]string{},
			maps:   map[string]string{},
			progs:  map[string]string{"ext": outcomeUntested, "lsm": outcomeUntested},
			attach: map[string]string{},
		},
		{
			name: "maps without map_create, programs without attach types",
			kernel: fakeKernel{delegated: spec.Masks{
				spec.KindCmds:  names(spec.KindCmds, "prog_load", "btf_load"),
				spec.KindMaps:  names(spec.KindMaps, "array", "hash"),
				spec.KindProgs: names(spec.KindProgs, "socket_filter"),
			}},
			cmds:   map[string]string{"btf_load": "ok"},
			maps:   map[string]string{},
			progs:  map[string]string{"ext": outcomeUntested, "lsm": outcomeUntested},
			attach: map[string]string{},
		},
		{
			name: "xdp with its own attach type, without CAP_NET_ADMIN, and tracing",
			kernel: fakeKernel{delegated: spec.Masks{
				spec.KindCmds:    names(spec.KindCmds, "prog_load"),
				spec.KindProgs:   names(spec.KindProgs, "xdp", "tracing"),
				spec.KindAttachs: names(spec.KindAttachs, "xdp", "trace_fentry"),
			}},
			cmds: map[string]string{"prog_load": "ok"},
			maps: map[string]string{},
			// xdp needs CAP_NET_ADMIN: only tracing loads, and the verifier refuses it.
			progs:  map[string]string{"tracing": "EINVAL", "ext": outcomeUntested, "lsm": outcomeUntested},
			attach: map[string]string{"xdp": "EINVAL", "trace_fentry": "EINVAL"},
			pair:   "tracing/trace_fentry",
		},
		{
			name: "cgroup_sock alone: attach type 0 cannot be tested",
			kernel: fakeKernel{delegated: spec.Masks{
				spec.KindCmds:    names(spec.KindCmds, "prog_load"),
				spec.KindProgs:   names(spec.KindProgs, "cgroup_sock"),
				spec.KindAttachs: names(spec.KindAttachs, "cgroup_inet_ingress", "cgroup_inet_sock_create"),
			}},
			cmds:   map[string]string{"prog_load": "ok"},
			maps:   map[string]string{},
			progs:  map[string]string{"cgroup_sock": "ok", "ext": outcomeUntested, "lsm": outcomeUntested},
			attach: map[string]string{"cgroup_inet_ingress": outcomeUntested, "cgroup_inet_sock_create": "ok"},
			pair:   "cgroup_sock/cgroup_inet_sock_create",
		},
		{
			name: "cgroup_sock tested with another attach type than the pair's 0",
			kernel: fakeKernel{delegated: spec.Masks{
				spec.KindCmds:    names(spec.KindCmds, "prog_load"),
				spec.KindProgs:   names(spec.KindProgs, "socket_filter", "cgroup_sock"),
				spec.KindAttachs: names(spec.KindAttachs, "cgroup_inet_ingress", "cgroup_inet_sock_create"),
			}},
			cmds:   map[string]string{"prog_load": "ok"},
			maps:   map[string]string{},
			progs:  map[string]string{"socket_filter": "ok", "cgroup_sock": "ok", "ext": outcomeUntested, "lsm": outcomeUntested},
			attach: map[string]string{"cgroup_inet_ingress": "ok", "cgroup_inet_sock_create": "ok"},
			pair:   "socket_filter/cgroup_inet_ingress",
		},
		{
			name: "unprivileged BPF enabled: what works without a token proves nothing",
			kernel: fakeKernel{unprivileged: true, netAdmin: true, delegated: spec.Masks{
				spec.KindCmds:    names(spec.KindCmds, "map_create", "prog_load"),
				spec.KindMaps:    names(spec.KindMaps, "array", "sockmap", "hash_of_maps"),
				spec.KindProgs:   names(spec.KindProgs, "socket_filter", "xdp"),
				spec.KindAttachs: names(spec.KindAttachs, "cgroup_inet_ingress", "xdp"),
			}},
			cmds:  map[string]string{"map_create": "ok", "prog_load": "ok"},
			maps:  map[string]string{"array": outcomeNoTokenNeeded, "sockmap": "ok", "hash_of_maps": "EBADF"},
			progs: map[string]string{"socket_filter": outcomeNoTokenNeeded, "xdp": "ok", "ext": outcomeUntested, "lsm": outcomeUntested},
			// socket_filter cannot carry the tests: xdp does.
			attach: map[string]string{"cgroup_inet_ingress": "ok", "xdp": "ok"},
			pair:   "xdp/cgroup_inet_ingress",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := tt.kernel
			p := probeToken(&k, 3)
			check := func(kind string, got, want map[string]string) {
				if g := notEPERM(got); !maps.Equal(g, want) {
					t.Errorf("%s: outcomes other than EPERM = %v, want %v", kind, g, want)
				}
			}
			check("cmds", p.Cmds, tt.cmds)
			check("maps", p.Maps, tt.maps)
			check("progs", p.Progs, tt.progs)
			check("attachs", p.Attachs, tt.attach)
			if p.ProgPair != tt.pair {
				t.Errorf("pair = %q, want %q", p.ProgPair, tt.pair)
			}
			// Every known name is reported, so scripts can look any up.
			if len(p.Attachs) != len(attachNamesForTest()) {
				t.Errorf("%d attach outcomes, want %d", len(p.Attachs), len(attachNamesForTest()))
			}
			// Probing a full refusal stays cheap.
			if k.calls > 5000 {
				t.Errorf("%d bpf() calls", k.calls)
			}
		})
	}
}

func attachNamesForTest() []string {
	var out []string
	for a := uint(0); ; a++ {
		n, ok := spec.KindAttachs.Name(a)
		if !ok {
			return out
		}
		out = append(out, n)
	}
}

func TestProbeMasksAgreeWithDelegation(t *testing.T) {
	d := spec.Masks{
		spec.KindCmds:    names(spec.KindCmds, "map_create", "prog_load", "btf_load"),
		spec.KindMaps:    names(spec.KindMaps, "array", "hash_of_maps"),
		spec.KindProgs:   names(spec.KindProgs, "socket_filter", "tracing"),
		spec.KindAttachs: names(spec.KindAttachs, "cgroup_inet_ingress", "trace_fentry"),
	}
	k := fakeKernel{delegated: d, netAdmin: true}
	p := probeToken(&k, 3)
	if got := p.masks(); got != d {
		t.Errorf("masks from probing = %#x, want %#x", got, d)
	}
	env := environment{Caps: map[string]bool{"CAP_NET_ADMIN": true, "CAP_PERFMON": true}}
	if w := compareProbes(p, d, "token info", env); len(w) != 0 {
		t.Errorf("probes disagree with the delegation they came from: %v", w)
	}
}

func TestMapProbeAttr(t *testing.T) {
	pageSize := uint32(unix.Getpagesize())
	tests := []struct {
		name string
		want bpfsys.MapAttr
	}{
		{"array", bpfsys.MapAttr{KeySize: 4, ValueSize: 8, MaxEntries: 1}},
		{"prog_array", bpfsys.MapAttr{KeySize: 4, ValueSize: 4, MaxEntries: 1}},
		{"queue", bpfsys.MapAttr{ValueSize: 8, MaxEntries: 1}},
		{"ringbuf", bpfsys.MapAttr{MaxEntries: pageSize}},
		{"lpm_trie", bpfsys.MapAttr{KeySize: 8, ValueSize: 8, MaxEntries: 1, Flags: bpfsys.FlagNoPrealloc}},
		{"cgroup_storage", bpfsys.MapAttr{KeySize: 8, ValueSize: 8}},
		{"task_storage", bpfsys.MapAttr{KeySize: 4, ValueSize: 8, Flags: bpfsys.FlagNoPrealloc, BTFKeyTypeID: 1, BTFValueTypeID: 1}},
		{"struct_ops", bpfsys.MapAttr{KeySize: 4, ValueSize: 8, MaxEntries: 1, BTFVmlinuxValueTypeID: 1}},
		{"arena", bpfsys.MapAttr{MaxEntries: 1, Flags: bpfsys.FlagMmapable}},
	}
	for _, tt := range tests {
		typ := uint32(mustValue(spec.KindMaps, tt.name))
		tt.want.Type = typ
		if got := mapProbeAttr(tt.name, typ); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestPassed(t *testing.T) {
	for o, want := range map[string]bool{
		"ok": true, "EINVAL": true, "ENOTSUPP": true, "EBADF": true,
		"EPERM": false, outcomeNoTokenNeeded: false, outcomeUntested: false,
	} {
		if got := passed(o); got != want {
			t.Errorf("passed(%q) = %v, want %v", o, got, want)
		}
	}
}

func TestErrnoName(t *testing.T) {
	for err, want := range map[error]string{
		nil:              "ok",
		unix.EPERM:       "EPERM",
		unix.EOPNOTSUPP:  "EOPNOTSUPP",
		unix.Errno(524):  "ENOTSUPP",
		unix.EINVAL:      "EINVAL",
		unix.Errno(4095): "errno 4095",
	} {
		if got := errnoName(err); got != want {
			t.Errorf("errnoName(%v) = %q, want %q", err, got, want)
		}
	}
}
