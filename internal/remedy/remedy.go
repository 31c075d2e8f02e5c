// Package remedy words what a user should do about a problem the tools
// found in a container's setup, in the same words for every front end: a
// capability the container lacks, a seccomp profile that blocks bpf().
// Package remedy/engine does the same for the engine's errors.
//
// Its one hard constraint: pkg/ reports problems as data and sentinel
// errors and names no runtime; runtimes, their flags and files are named
// here and in the front ends only, and a fix names both kinds of runtime
// where they differ (podman, Kubernetes), because the same message reaches
// users of either.
package remedy

import (
	"fmt"
	"strings"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// SeccompBlocksBPF is the warning for a container whose seccomp profile
// denies bpf() (podman's default does unless the container has
// CAP_SYS_ADMIN; containerd's and CRI-O's allow it with CAP_BPF).
const SeccompBlocksBPF = "container's seccomp profile blocks bpf(): use a profile that allows it (podman: --security-opt seccomp=FILE, such as examples/seccomp/bpf.json of nri-bpftoken)"

// CapWarnings words spec.MissingCaps: one line per capability that using
// d needs and effective lacks.
func CapWarnings(d spec.Delegation, effective []string) []string {
	var out []string
	for _, c := range spec.MissingCaps(d, effective) {
		out = append(out, fmt.Sprintf("container lacks %s, which %s: add it (%s)", c.Cap, c.Why, AddCap(c.Cap)))
	}
	return out
}

// AddCap says how to give a container capability c (e.g. "CAP_BPF").
func AddCap(c string) string {
	short := strings.TrimPrefix(c, "CAP_")
	return fmt.Sprintf("podman: --cap-add %s; Kubernetes: securityContext.capabilities.add: [%s]", short, short)
}
