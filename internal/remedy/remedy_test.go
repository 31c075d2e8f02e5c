package remedy

import (
	"strings"
	"testing"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

func TestCapWarnings(t *testing.T) {
	xdp := spec.Delegation{Masks: spec.Masks{spec.KindCmds: 1, spec.KindProgs: 1 << 6, spec.KindAttachs: 1}}
	got := CapWarnings(xdp, []string{"CAP_PERFMON"})
	want := []string{
		"container lacks CAP_BPF, which creating a BPF token needs: add it (podman: --cap-add BPF; Kubernetes: securityContext.capabilities.add: [BPF])",
		"container lacks CAP_NET_ADMIN, which loading or attaching the delegated program types [xdp] needs: add it (podman: --cap-add NET_ADMIN; Kubernetes: securityContext.capabilities.add: [NET_ADMIN])",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("CapWarnings = %q, want %q", got, want)
	}
	if got := CapWarnings(xdp, []string{"CAP_BPF", "CAP_NET_ADMIN"}); len(got) != 0 {
		t.Errorf("CapWarnings with every capability = %q", got)
	}
}
