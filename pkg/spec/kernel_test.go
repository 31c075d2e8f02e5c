package spec_test

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/bpfsys"
	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// The kernel agrees with spec.LoadAttachTypes: the program types said to
// require one of their attach types are refused with attach type 0 (EINVAL,
// before the verifier), and load with the first one; the others load with
// 0. Loaded as root, without a token: the token check comes on top.
// cgroup_sock is the exception the table notes: the kernel turns its 0 into
// cgroup_inet_sock_create, which the token then checks. tracing and lsm
// need a BTF target as well, which a two-instruction program has not.
func TestLoadAttachTypesOnTheKernel(t *testing.T) {
	testenv.Privileged(t)
	load := func(prog, attach string) error {
		p, _ := spec.KindProgs.Value(prog)
		a, _ := spec.KindAttachs.Value(attach)
		fd, err := bpfsys.ProgLoad(-1, uint32(p), uint32(a))
		if err == nil {
			unix.Close(fd)
		}
		return err
	}
	for _, prog := range []string{"cgroup_sock_addr", "cgroup_sockopt", "sk_lookup", "netfilter", "cgroup_sock", "xdp", "sched_cls", "socket_filter"} {
		attachs, required := spec.LoadAttachTypes(prog)
		zero := load(prog, "cgroup_inet_ingress")
		switch {
		case prog == "cgroup_sock":
			if zero != nil {
				t.Errorf("cgroup_sock with attach type 0: %v, want it loaded (the kernel makes it cgroup_inet_sock_create)", zero)
			}
		case required && !errors.Is(zero, unix.EINVAL):
			t.Errorf("%s with attach type 0: %v, want EINVAL: the table says it requires one of %v", prog, zero, attachs)
		case !required && zero != nil:
			t.Errorf("%s with attach type 0: %v, want it loaded", prog, zero)
		}
		if len(attachs) > 0 {
			if err := load(prog, attachs[0]); err != nil {
				t.Errorf("%s with attach type %s: %v", prog, attachs[0], err)
			}
		}
	}
}
