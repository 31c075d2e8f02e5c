// Package nsenter holds the C constructor that lets a Go binary act, in a
// freshly executed copy of itself, from inside another user namespace.
//
// Its one hard constraint: setns(CLONE_NEWUSER) fails with EINVAL in a
// multi-threaded process, and a Go program is multi-threaded before main
// runs. So the namespace work happens in a cgo constructor, before the Go
// runtime starts (the pattern of runc's nsexec). Import this package for its
// side effect in every binary that uses pkg/userns; it costs one getenv when
// the binary is not started as a helper.
package nsenter

// #cgo CFLAGS: -Wall -Werror -O2
import "C"

// EnvVar is the environment variable that turns a process into the helper.
const EnvVar = "_BPFTOKEN_NSENTER"
