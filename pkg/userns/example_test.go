package userns_test

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/userns"
)

// Open a filesystem context inside the user namespace of a container's
// process; the superblock created from it belongs to that namespace. The
// helper that does it is a few lines of C (package fscontext): the binary
// needs cgo.
func ExampleNamespaces_OpenFSContext() {
	ns, err := userns.Open(4242)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ns.Close()
	fd, err := ns.OpenFSContext("bpf")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer unix.Close(fd)
	fmt.Println("fs context fd", fd)
}

// Run code in a container's mount namespace without moving the rest of the
// program there, and give up on it if a hung volume blocks it for a second.
func ExampleNamespaces_DoOnThrowawayThread() {
	ns, err := userns.Open(4242)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ns.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err = ns.DoOnThrowawayThread(ctx, func(commit userns.Commit) error {
		var st unix.Stat_t
		return unix.Stat("/sys/fs/bpf", &st)
	})

	fmt.Println(err)
}

// A short-lived program (the OCI hook) does its last work in a container's
// mount namespace on its own thread, and exits.
func ExampleNamespaces_DoAndStay() {
	ns, err := userns.Open(4242)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ns.Close()
	err = ns.DoAndStay(func(userns.Commit) error {
		var st unix.Stat_t
		return unix.Stat("/sys/fs/bpf", &st)
	})
	// From here on, this goroutine's paths resolve in the container.
	fmt.Println(err)
}
