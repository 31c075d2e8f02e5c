package spec_test

import (
	"errors"
	"fmt"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

func ExampleParseAnnotations() {
	d, err := spec.ParseAnnotations(map[string]string{
		"bpf.token/cmds":                   "map_create:prog_load:btf_load",
		"bpf.token/maps":                   "Array, ringbuf",
		"bpf.token/progs":                  "socket_filter",
		"bpf.token/attachs":                "cgroup_inet_ingress",
		"io.kubernetes.cri.container-name": "app", // not ours, ignored
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d)
	// The kernel gets numbers, never names: see Kind.FormatMask.
	fmt.Printf("%s=0x%x\n", spec.KindMaps.MountOption(), d.Masks[spec.KindMaps])

	// A typo in a key is an error, not a silently missing permission.
	_, err = spec.ParseAnnotations(map[string]string{"bpf.token/prog": "xdp"})
	fmt.Println(errors.Is(err, spec.ErrUnknownKey))
	fmt.Println(err)

	// No bpf.token/ key at all: nothing to do, and no error.
	d, err = spec.ParseAnnotations(map[string]string{"app": "web"})
	fmt.Println(d, err)
	// Output:
	// cmds=map_create:prog_load:btf_load maps=array:ringbuf progs=socket_filter attachs=cgroup_inet_ingress path=/sys/fs/bpf
	// delegate_maps=0x8000004
	// true
	// annotation bpf.token/prog: unknown key (did you mean "bpf.token/progs"?); valid keys: bpf.token/cmds, bpf.token/maps, bpf.token/progs, bpf.token/attachs, bpf.token/profile, bpf.token/path, bpf.token/scope
	// <nil> <nil>
}

func ExampleKind_FormatMask() {
	mask, err := spec.KindCmds.ParseList("PROG_LOAD, map_create:prog_run,0x8000000000000000")
	if err != nil {
		fmt.Println(err)
		return
	}
	// Canonical names in enum order (prog_run is an alias of prog_test_run),
	// then the bits without a name.
	fmt.Println(spec.KindCmds.FormatMask(mask))
	fmt.Println(spec.KindMaps.FormatMask(^uint64(0)))
	fmt.Printf("%q\n", spec.KindMaps.FormatMask(0))
	// Output:
	// map_create:prog_load:prog_test_run:0x8000000000000000
	// any
	// ""
}

func ExampleKind_ParseList() {
	_, err := spec.KindMaps.ParseList("array,hsh")
	fmt.Println(err)
	// Output:
	// annotation bpf.token/maps: unknown map type "hsh" (did you mean "hash"?); use names of enum bpf_map_type without BPF_MAP_TYPE_, "any", or a number
}

func ExampleParseProfiles() {
	// What bpf.token/profile: xdp asks for, and what it needs besides.
	m, names, err := spec.ParseProfiles(spec.AnnotationProfile, "xdp")
	if err != nil {
		fmt.Println(err)
		return
	}
	p, _ := spec.LookupProfile(names[0])
	for _, k := range spec.Kinds {
		fmt.Printf("%s=%s\n", k, k.FormatMask(m[k]))
	}
	fmt.Println(p.Caps)
	// A bpffs that delegates this much can run these profiles' workloads.
	fmt.Println(spec.CoveredProfiles(m))
	// Output:
	// cmds=map_create:prog_load:btf_load
	// maps=hash:array:percpu_array
	// progs=socket_filter:xdp
	// attachs=cgroup_inet_ingress:xdp
	// [CAP_BPF CAP_NET_ADMIN]
	// [socket-filter xdp]
}
