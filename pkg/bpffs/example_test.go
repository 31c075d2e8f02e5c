package bpffs_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/bpffs"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// An OCI hook at createRuntime gives the container whose init is pid a
// bpffs at /sys/fs/bpf that delegates array maps and socket filters. Before
// pivot_root the container's root is the bundle's root.path.
func ExampleProvision() {
	ann := map[string]string{
		"bpf.token/cmds":    "map_create:prog_load",
		"bpf.token/maps":    "array",
		"bpf.token/progs":   "socket_filter",
		"bpf.token/attachs": "cgroup_inet_ingress",
	}
	d, err := spec.ParseAnnotations(ann)
	if err != nil || d == nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := bpffs.Provision(ctx, bpffs.Target{
		Pid:        4242,
		Rootfs:     "/var/lib/containers/storage/overlay/0123/merged",
		Delegation: *d,
	})
	if err != nil {
		fmt.Println("refuse the container:", err)
		return
	}
	fmt.Println("mounted with", res.SuperOptions)
}
