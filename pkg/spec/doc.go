// Package spec turns what a container runtime hands over (OCI state,
// config.json and the container's bpf.token/ annotations) into a validated
// Delegation: delegate masks and a mount path.
//
// Its one hard constraint: the annotation contract is the user's interface
// and is kept exactly, and masks are computed here from a table of the
// kernel's UAPI enums, never by the kernel from user strings, so that kernels
// without BTF work and names and numbers can never be mixed in one kernel
// option (the kernel's parser drops bits then).
package spec
