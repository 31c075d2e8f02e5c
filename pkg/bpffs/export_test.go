package bpffs

import "testing"

// UseMountinfo makes the mount checks read mountinfo, as on kernels without
// statmount's supported mask (before 6.15), until t ends.
func UseMountinfo(t testing.TB) {
	forceMountinfo = true
	t.Cleanup(func() { forceMountinfo = false })
}
