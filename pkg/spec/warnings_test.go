package spec

import (
	"strings"
	"testing"
)

func TestMissingCapsAndDelegationWarnings(t *testing.T) {
	socketFilter := Delegation{Masks: Masks{KindCmds: 1, KindProgs: 1 << 1, KindAttachs: 1}}
	xdpAndKprobe := Delegation{Masks: Masks{KindCmds: 1, KindProgs: 1<<6 | 1<<2, KindAttachs: 1 | 1<<37}}
	d := func(progs, attachs string) Delegation {
		p, _ := KindProgs.ParseList(progs)
		a, _ := KindAttachs.ParseList(attachs)
		return Delegation{Masks: Masks{KindCmds: 1 << 5, KindProgs: p, KindAttachs: a}}
	}
	const hostWide = "bpf.token/progs delegates "
	tests := []struct {
		name     string
		caps     []string
		d        Delegation
		wantCaps []string // the missing capabilities, in order
		want     []string // substrings, one per DelegationWarning, in order
	}{
		{"all there", []string{"CAP_BPF"}, socketFilter, nil, nil},
		{"no capabilities", nil, socketFilter, []string{"CAP_BPF"}, nil},
		{"no CAP_BPF", []string{"CAP_NET_ADMIN"}, socketFilter, []string{"CAP_BPF"}, nil},
		{"net and tracing programs", []string{"CAP_BPF"}, xdpAndKprobe, []string{"CAP_NET_ADMIN", "CAP_PERFMON"}, []string{hostWide + "kprobe: "}},
		{"net and tracing programs with caps", []string{"CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON"}, xdpAndKprobe, nil, []string{hostWide + "kprobe: "}},
		{"host-wide tracing", []string{"CAP_BPF", "CAP_PERFMON"}, Delegation{Masks: Masks{KindProgs: 1<<17 | 1<<24 | 1<<26 | 1<<5 | 1<<7, KindAttachs: 1 | 1<<23}}, nil,
			[]string{hostWide + "tracepoint, perf_event, raw_tracepoint, raw_tracepoint_writable, tracing: with CAP_PERFMON in the container's user namespace these programs observe the whole host, not only this container"}},
		{"lsm, struct_ops and ext are not tracing", []string{"CAP_BPF", "CAP_PERFMON"}, Delegation{Masks: Masks{KindProgs: 1<<27 | 1<<28 | 1<<29, KindAttachs: 1 | 1<<27}}, nil, nil},
		// The kernel refuses these types with attach type 0.
		{"cgroup_sock_addr without its hooks", []string{"CAP_BPF", "CAP_NET_ADMIN"}, d("cgroup_sock_addr", "cgroup_inet_ingress"), nil,
			[]string{"bpf.token/progs delegates cgroup_sock_addr, but bpf.token/attachs has none of the attach types the kernel loads it with (cgroup_inet4_bind, "}},
		{"cgroup_sock_addr with one hook, no attach type 0 needed", []string{"CAP_BPF", "CAP_NET_ADMIN"}, d("cgroup_sock_addr", "cgroup_inet4_connect"), nil, nil},
		{"cgroup_sock without its hooks", []string{"CAP_BPF", "CAP_NET_ADMIN"}, d("cgroup_sock", "cgroup_inet_ingress"), nil, []string{"delegates cgroup_sock, but"}},
		{"tracing without attach types", []string{"CAP_BPF", "CAP_PERFMON"}, d("tracing", ""), nil, []string{"delegates tracing, but", "observe the whole host"}},
		{"cgroup_skb loads with attach type 0", []string{"CAP_BPF", "CAP_NET_ADMIN"}, d("cgroup_skb", "cgroup_inet_ingress"), nil, nil},
		// These load with 0, but libbpf loads them with their own.
		{"xdp without attach type xdp", []string{"CAP_BPF", "CAP_NET_ADMIN"}, d("xdp", "cgroup_inet_ingress"), nil, []string{`lacks xdp, which libbpf loads SEC("xdp") programs with`}},
		{"sched_cls with tcx_egress", []string{"CAP_BPF", "CAP_NET_ADMIN"}, d("sched_cls", "cgroup_inet_ingress:tcx_egress"), nil, nil},
		{"the minimal xdp: no attach type 0 needed", []string{"CAP_BPF", "CAP_NET_ADMIN"}, d("xdp", "xdp"), nil, nil},
		{"the minimal tcx", []string{"CAP_BPF", "CAP_NET_ADMIN"}, d("sched_cls", "tcx_ingress"), nil, nil},
		{"xdp with no attach type at all: one warning", []string{"CAP_BPF", "CAP_NET_ADMIN"}, d("xdp", ""), nil, []string{"lacks cgroup_inet_ingress (attach type 0)"}},
		{"xdp with xdp, and socket_filter without 0", []string{"CAP_BPF", "CAP_NET_ADMIN"}, d("xdp:socket_filter", "xdp"), nil, []string{"lacks cgroup_inet_ingress (attach type 0)"}},
		{"sched_cls without tcx", []string{"CAP_BPF", "CAP_NET_ADMIN"}, d("sched_cls", "cgroup_inet_ingress"), nil, []string{"lacks tcx_ingress or tcx_egress"}},
		{"cgroup_skb without CAP_NET_ADMIN", []string{"CAP_BPF"}, d("cgroup_skb", "cgroup_inet_ingress"), []string{"CAP_NET_ADMIN"}, nil},
		{"any program type", []string{"CAP_BPF"}, Delegation{Masks: Masks{KindProgs: ^uint64(0), KindAttachs: 1}}, []string{"CAP_NET_ADMIN", "CAP_PERFMON"},
			[]string{hostWide + "kprobe, tracepoint, perf_event, raw_tracepoint, raw_tracepoint_writable, tracing: ", "bpf.token/progs=any"}},
		{"program types without attach type 0", []string{"CAP_BPF"}, Delegation{Masks: Masks{KindProgs: 1 << 1}}, nil, []string{"lacks cgroup_inet_ingress"}},
		{"any map and attach type", []string{"CAP_BPF"}, Delegation{Masks: Masks{KindMaps: ^uint64(0), KindAttachs: ^uint64(0)}}, nil, []string{"bpf.token/maps=any", "bpf.token/attachs=any"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotCaps []string
			for _, c := range MissingCaps(tt.d, tt.caps) {
				gotCaps = append(gotCaps, c.Cap)
				if !strings.HasSuffix(c.Why, "needs") {
					t.Errorf("%s: why %q does not complete \"which ...\"", c.Cap, c.Why)
				}
			}
			if strings.Join(gotCaps, ",") != strings.Join(tt.wantCaps, ",") {
				t.Errorf("MissingCaps = %v, want %v", gotCaps, tt.wantCaps)
			}
			got := DelegationWarnings(tt.d)
			if len(got) != len(tt.want) {
				t.Fatalf("DelegationWarnings = %q, want %d warnings", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) || strings.Contains(got[i], "\n") {
					t.Errorf("warning %d = %q, want one line containing %q", i, got[i], w)
				}
			}
		})
	}
}

// The masks are what the policy's guards and warnings test requests
// against; a name missing from them would be a silent hole.
func TestProgMasks(t *testing.T) {
	tests := []struct {
		name string
		mask uint64
		want string
	}{
		{"PerfmonProgMask", PerfmonProgMask(), "kprobe:tracepoint:perf_event:raw_tracepoint:raw_tracepoint_writable:tracing:struct_ops:ext:lsm"},
		{"CgroupProgMask", CgroupProgMask(), "cgroup_skb:cgroup_sock:sock_ops:cgroup_device:cgroup_sock_addr:cgroup_sysctl:cgroup_sockopt:lsm"},
		{"NetnsProgMask", NetnsProgMask(), "sched_cls:sched_act:xdp:lwt_in:lwt_out:lwt_xmit:lwt_seg6local:flow_dissector:sk_lookup:netfilter"},
	}
	for _, tt := range tests {
		if got := KindProgs.FormatMask(tt.mask); got != tt.want {
			t.Errorf("%s = %s, want %s", tt.name, got, tt.want)
		}
	}
}
