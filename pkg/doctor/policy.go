package doctor

import (
	"fmt"
	"strings"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/policy"
)

// checkHookPolicy reads the policy the hook would read: file, or
// policy.DefaultPath when file is empty. Without one the hook grants what
// a podman container's annotations ask (podman's records tell the admin's
// from an image's) and refuses every container from another runtime, whose
// annotations a pod author writes.
func checkHookPolicy(file string) Result {
	r := Result{Name: CheckPolicy}
	var pol *policy.Policy
	var err error
	if file == "" {
		file = policy.DefaultPath
		pol, err = policy.LoadDefault()
	} else {
		pol, err = policy.Load(file)
	}
	switch {
	case err != nil:
		r.Verdict, r.Detail = Fail, err.Error()
		r.Fix = "fix or remove the policy file (docs/policy.md); until then every container that asks for delegation is refused"
	case pol == nil:
		r.Verdict = Warn
		r.Detail = fmt.Sprintf("no policy at %s: podman containers get what the admin's annotations ask (never what an image's ask); containers from CRI-O or any other runtime are refused", file)
		r.Fix = fmt.Sprintf("write %s (docs/policy.md) to set ceilings for podman containers and to let CRI-O pods have tokens", file)
	case len(pol.Warnings) > 0:
		r.Verdict = Warn
		r.Detail = fmt.Sprintf("policy %s: %d rules; %s", file, len(pol.Rules), strings.Join(pol.Warnings, "; "))
		r.Fix = "select such rules by Kubernetes namespace, the one selector a pod author cannot choose (docs/policy.md)"
	default:
		r.Verdict = OK
		r.Detail = fmt.Sprintf("policy %s: %d rules", file, len(pol.Rules))
	}
	return r
}
