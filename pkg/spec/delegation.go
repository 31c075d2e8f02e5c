package spec

import (
	"errors"
	"strings"
)

// Delegation is what a container asked for.
type Delegation struct {
	Masks Masks
	Path  string // cleaned absolute path inside the container
	// Shared: the pod's one bpffs (bpf.token/scope: pod), which its
	// containers share and which outlives each of them.
	Shared bool
	// Profiles are the names bpf.token/profile gave, in its order, joined
	// by commas (a string keeps Delegation comparable); their items are in
	// Masks already.
	Profiles string
}

// String renders d on one line for logs, e.g.
// "cmds=map_create:prog_load maps=array path=/sys/fs/bpf". Zero masks and an
// empty path are left out.
func (d Delegation) String() string {
	var parts []string
	if d.Profiles != "" {
		parts = append(parts, "profile="+d.Profiles)
	}
	for _, k := range Kinds {
		if m := d.Masks[k]; m != 0 {
			parts = append(parts, k.String()+"="+k.FormatMask(m))
		}
	}
	if d.Path != "" {
		// Parsed paths are printable, but a hand-built Delegation may not be.
		parts = append(parts, "path="+Echo(d.Path))
	}
	if d.Shared {
		parts = append(parts, "scope="+ScopePod)
	}
	return strings.Join(parts, " ")
}

// ErrNoUserNamespace means the container does not get a user namespace of
// its own, so no BPF token can exist for it: a container that asks for
// delegation without one is refused.
var ErrNoUserNamespace = errors.New("container has no user namespace of its own")
