package policy_test

import (
	"fmt"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/policy"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

func ExamplePolicy_Check() {
	p, err := policy.Parse([]byte(`
rules:
  - name: shop
    match: {namespaces: [shop]}
    allow: {cmds: map_create, maps: array}
`), "policy.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	d, _ := spec.ParseAnnotations(map[string]string{"bpf.token/cmds": "map_create", "bpf.token/maps": "array,hash"})
	fmt.Println(p.Check(policy.Workload{Namespace: "shop", Container: "web"}, *d))
	// Output: denied by policy: rule "shop" of policy policy.yaml does not allow maps hash (allowed: array): ask for less, or widen the rule
}

// Without a policy there are no ceilings, but cgroup program types still
// need a container with a cgroup namespace of its own: in the host's they
// could attach to other containers' cgroups.
func ExamplePolicy_Check_cgroupNamespace() {
	var none *policy.Policy
	d, _ := spec.ParseAnnotations(map[string]string{"bpf.token/progs": "socket_filter,cgroup_skb", "bpf.token/attachs": "cgroup_inet_ingress"})
	fmt.Println(none.Check(policy.Workload{Container: "web"}, *d))
	fmt.Println(none.Check(policy.Workload{Container: "web", PrivateCgroupNamespace: true}, *d))
	// Output:
	// program types cgroup_skb delegated to a container that shares the host's cgroup namespace could attach to any cgroup it can open, other containers' included: give the container a cgroup namespace of its own
	// <nil>
}
