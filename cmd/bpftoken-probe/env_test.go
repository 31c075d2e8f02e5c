package main

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/procfs"
)

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
		uidMap, err := procfs.ParseIDMap(tt.in)
		if err != nil {
			t.Fatalf("ParseIDMap(%q): %v", tt.in, err)
		}
		if got := userNSOf(uidMap); got != tt.want {
			t.Errorf("userNSOf(%q) = %+v, want %+v", tt.in, got, tt.want)
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

func TestParseProcCgroup(t *testing.T) {
	tests := []struct {
		name, in string
		want     cgroupNSState
	}{
		{"v2, namespace of its own", "0::/\n", cgroupNSState{Private: true, Cgroup: "/"}},
		{"v2, the host's namespace", "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-1a2b.scope\n",
			cgroupNSState{Cgroup: "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-1a2b.scope"}},
		{"v2, kubepods", "0::/kubepods.slice/kubepods-besteffort.slice/cri-containerd-ab12.scope\n",
			cgroupNSState{Cgroup: "/kubepods.slice/kubepods-besteffort.slice/cri-containerd-ab12.scope"}},
		// systemd in a container moves itself into a child cgroup: not at
		// the root, so not taken for private (the warning says why).
		{"v2, child cgroup of its own namespace", "0::/init.scope\n", cgroupNSState{Cgroup: "/init.scope"}},
		// Joined from outside the namespace's root: only a namespace other
		// than the host's shows paths above its root.
		{"v2, above the namespace root", "0::/../../system.slice/x.scope\n", cgroupNSState{Private: true, Cgroup: "/../../system.slice/x.scope"}},
		{"hybrid, namespace of its own", "12:cpuset:/\n1:name=systemd:/\n0::/\n", cgroupNSState{Private: true, Cgroup: "/"}},
		{"hybrid, host's: the v2 entry is named", "12:cpuset:/docker/ab\n1:name=systemd:/docker/ab\n0::/system.slice/docker-ab.scope\n",
			cgroupNSState{Cgroup: "/system.slice/docker-ab.scope"}},
		// v1 controllers may sit elsewhere than the v2 entry: it decides.
		{"hybrid, v1 memory elsewhere", "4:memory:/process_api/f339\n3:cpuset:/\n1:name=systemd:/\n0::/\n", cgroupNSState{Private: true, Cgroup: "/"}},
		{"v1 only, host's", "4:memory:/\n3:pids:/docker/ab\n2:cpu:/docker/cd\n", cgroupNSState{Cgroup: "/docker/ab"}},
		{"v1 only, own", "4:memory:/\n3:pids:/\n", cgroupNSState{Private: true, Cgroup: "/"}},
		{"a path with colons", "0::/a:b:c\n", cgroupNSState{Cgroup: "/a:b:c"}},
		{"empty: unknown", "", cgroupNSState{}},
		{"garbage: unknown", "nonsense\n0:x\n", cgroupNSState{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseProcCgroup(tt.in); got != tt.want {
				t.Errorf("parseProcCgroup(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}
