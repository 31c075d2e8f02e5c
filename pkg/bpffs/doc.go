// Package bpffs builds a delegated bpffs for a container, mounts it inside the
// container's rootfs and checks the result.
//
// Its one hard constraint: the superblock must belong to the container's user
// namespace, yet only a process privileged in the initial user namespace may
// set its delegate_* options and create it. So the fs context is opened inside
// the container (by pkg/userns's helper) and everything after that is done
// here, by the host process: delegate masks, FSCONFIG_CMD_CREATE, fsmount,
// and move_mount from a thread that has joined the container's mount
// namespace. The mount point is resolved with openat2(RESOLVE_IN_ROOT) against
// the container's rootfs, because before pivot_root a symlink in the image
// would otherwise resolve against the host's root.
package bpffs
