package spec

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestWarnings(t *testing.T) {
	withCaps := func(caps ...string) *specs.Spec {
		return &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Effective: caps}}}
	}
	withSeccomp := func(s *specs.LinuxSeccomp, caps ...string) *specs.Spec {
		cfg := withCaps(caps...)
		cfg.Linux = &specs.Linux{Seccomp: s}
		return cfg
	}
	socketFilter := Delegation{Masks: Masks{KindCmds: 1, KindProgs: 1 << 1, KindAttachs: 1}}
	xdpAndKprobe := Delegation{Masks: Masks{KindCmds: 1, KindProgs: 1<<6 | 1<<2, KindAttachs: 1}}
	const hostWide = "bpf.token/progs delegates "
	tests := []struct {
		name string
		cfg  *specs.Spec
		d    Delegation
		want []string // substrings, one per expected warning, in order
	}{
		{"all there", withCaps("CAP_BPF"), socketFilter, nil},
		{"no capabilities section", &specs.Spec{}, socketFilter, []string{"lacks CAP_BPF"}},
		{"no CAP_BPF", withCaps("CAP_NET_ADMIN"), socketFilter, []string{"--cap-add BPF"}},
		{"net and tracing programs", withCaps("CAP_BPF"), xdpAndKprobe, []string{"CAP_NET_ADMIN", "CAP_PERFMON", hostWide + "kprobe: "}},
		{"net and tracing programs with caps", withCaps("CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON"), xdpAndKprobe, []string{hostWide + "kprobe: "}},
		{"host-wide tracing", withCaps("CAP_BPF", "CAP_PERFMON"), Delegation{Masks: Masks{KindProgs: 1<<17 | 1<<24 | 1<<26 | 1<<5 | 1<<7, KindAttachs: 1}},
			[]string{hostWide + "tracepoint, perf_event, raw_tracepoint, raw_tracepoint_writable, tracing: with CAP_PERFMON in the container's user namespace these programs observe the whole host, not only this container"}},
		{"lsm, struct_ops and ext are not tracing", withCaps("CAP_BPF", "CAP_PERFMON"), Delegation{Masks: Masks{KindProgs: 1<<27 | 1<<28 | 1<<29, KindAttachs: 1}}, nil},
		{"any program type", withCaps("CAP_BPF"), Delegation{Masks: Masks{KindProgs: ^uint64(0), KindAttachs: 1}},
			[]string{"CAP_NET_ADMIN", "CAP_PERFMON", hostWide + "kprobe, tracepoint, perf_event, raw_tracepoint, raw_tracepoint_writable, tracing: ", "bpf.token/progs=any"}},
		{"program types without attach type 0", withCaps("CAP_BPF"), Delegation{Masks: Masks{KindProgs: 1 << 1}}, []string{"lacks cgroup_inet_ingress"}},
		{"any map and attach type", withCaps("CAP_BPF"), Delegation{Masks: Masks{KindMaps: ^uint64(0), KindAttachs: ^uint64(0)}}, []string{"bpf.token/maps=any", "bpf.token/attachs=any"}},
		{"seccomp default deny, bpf not listed", withSeccomp(&specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"read", "write"}, Action: specs.ActAllow}},
		}, "CAP_BPF"), socketFilter, []string{"seccomp profile blocks bpf()"}},
		{"seccomp allows bpf", withSeccomp(&specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"bpf", "read"}, Action: specs.ActAllow}},
		}, "CAP_BPF"), socketFilter, nil},
		{"seccomp allows bpf only with arguments", withSeccomp(&specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"bpf"}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0, Op: specs.OpEqualTo}}}},
		}, "CAP_BPF"), socketFilter, []string{"seccomp"}},
		{"seccomp default allow, bpf denied", withSeccomp(&specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"bpf"}, Action: specs.ActErrno}},
		}, "CAP_BPF"), socketFilter, []string{"seccomp"}},
		{"seccomp default allow", withSeccomp(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow}, "CAP_BPF"), socketFilter, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Warnings(tt.cfg, tt.d)
			if len(got) != len(tt.want) {
				t.Fatalf("Warnings = %q, want %d warnings", got, len(tt.want))
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
	}
	for _, tt := range tests {
		if got := KindProgs.FormatMask(tt.mask); got != tt.want {
			t.Errorf("%s = %s, want %s", tt.name, got, tt.want)
		}
	}
}
