package main

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestStatusField(t *testing.T) {
	status := "Name:\tbpftoken-probe\nCapEff:\t000000c000000000\nSeccomp:\t2\nSeccomp_filters:\t1\n"
	tests := []struct {
		key, want string
		ok        bool
	}{
		{"Seccomp", "2", true},
		{"Seccomp_filters", "1", true},
		{"CapEff", "000000c000000000", true},
		{"NoSuch", "", false},
	}
	for _, tt := range tests {
		if got, ok := statusField(status, tt.key); got != tt.want || ok != tt.ok {
			t.Errorf("statusField(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.ok)
		}
	}
}

func TestClassifySeccomp(t *testing.T) {
	tests := []struct {
		name string
		mode string
		err  error
		want seccompState
	}{
		{"no filter: the kernel answers", "0", unix.EINVAL, seccompState{Mode: "disabled", BPFErrno: "EINVAL"}},
		{"filter that allows bpf", "2", unix.EINVAL, seccompState{Mode: "filter", BPFErrno: "EINVAL"}},
		{"podman's default profile", "2", unix.EPERM, seccompState{Mode: "filter", BlocksBPF: true, BPFErrno: "EPERM"}},
		{"profile answering ENOSYS", "2", unix.ENOSYS, seccompState{Mode: "filter", BlocksBPF: true, BPFErrno: "ENOSYS"}},
		{"strict mode", "1", unix.EINVAL, seccompState{Mode: "strict", BPFErrno: "EINVAL"}},
		{"no /proc: mode unknown", "", unix.EINVAL, seccompState{Mode: "unknown", BPFErrno: "EINVAL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classifySeccomp(tt.mode, tt.err); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseUIDMap(t *testing.T) {
	tests := []struct {
		in   string
		want userNSState
	}{
		{"         0          0 4294967295\n", userNSState{Initial: true, UIDMap: "0 0 4294967295"}},
		{"         0     100000      65536\n", userNSState{UIDMap: "0 100000 65536"}},
		{"0 1000 1\n1 100000 65535\n", userNSState{UIDMap: "0 1000 1; 1 100000 65535"}},
		// An identity map of fewer ids is a namespace a runtime made.
		{"0 0 65536\n", userNSState{UIDMap: "0 0 65536"}},
		{"", userNSState{}},
	}
	for _, tt := range tests {
		if got := parseUIDMap(tt.in); got != tt.want {
			t.Errorf("parseUIDMap(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestHasCap(t *testing.T) {
	env := environment{Caps: map[string]bool{"CAP_BPF": true, "CAP_NET_ADMIN": false}}
	if !env.hasCap("CAP_BPF") || env.hasCap("CAP_NET_ADMIN") {
		t.Error("hasCap does not follow Caps")
	}
	if !(environment{}).hasCap("CAP_BPF") {
		t.Error("unknown capabilities must not be blamed")
	}
}
