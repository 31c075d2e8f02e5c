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
