package bpffs

import (
	"testing"

	"golang.org/x/sys/unix"
)

// UseMountinfo makes the mount checks read mountinfo, as on kernels without
// statmount's supported mask (before 6.15), until t ends.
func UseMountinfo(t testing.TB) {
	forceMountinfo = true
	t.Cleanup(func() { forceMountinfo = false })
}

// RaceEveryResolve makes every openat2 fail with EAGAIN, as when a process
// in the container renames directories without pause, until t ends.
func RaceEveryResolve(t testing.TB) {
	openat2 = func(int, string, *unix.OpenHow) (int, error) { return -1, unix.EAGAIN }
	t.Cleanup(func() { openat2 = unix.Openat2 })
}
