package spec

import (
	"strings"
)

// Delegation is what a container asked for.
type Delegation struct {
	Masks Masks
	Path  string // cleaned absolute path inside the container
}

// String renders d on one line for logs, e.g.
// "cmds=map_create:prog_load maps=array path=/sys/fs/bpf". Zero masks and an
// empty path are left out.
func (d Delegation) String() string {
	var parts []string
	for _, k := range Kinds {
		if m := d.Masks[k]; m != 0 {
			parts = append(parts, k.String()+"="+k.FormatMask(m))
		}
	}
	if d.Path != "" {
		// Parsed paths are printable, but a hand-built Delegation may not be.
		parts = append(parts, "path="+Echo(d.Path))
	}
	return strings.Join(parts, " ")
}
