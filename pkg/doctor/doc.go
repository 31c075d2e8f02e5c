// Package doctor checks whether a node can give containers BPF tokens, and
// says how to fix what stands in the way. Both binaries run it as their
// "doctor" subcommand: the kernel version, a real token made by a stand-in
// container, kernel BTF, lockdown, user namespace settings, and, depending on
// the binary, the hooks.d JSON that makes podman and CRI-O run the hook or
// the NRI socket the plugin connects to. Each check ends in a verdict (ok,
// warn, fail) and, when not ok, the fix.
//
// Its one hard constraint: the token check must prove the real thing and
// leave nothing behind. Only a process inside a user namespace that owns a
// delegated bpffs can create a token, and a running Go program (always
// multi-threaded) can never enter a user namespace. So the check starts a
// throwaway container stand-in: this very binary, re-executed through
// /proc/self/exe with a hidden argument (handled by this package's init,
// before main runs, in any program that imports the package) in a new user
// and mount namespace. The host side mounts a delegated bpffs for it with
// pkg/bpffs, exactly as for a real container; the stand-in creates the token
// and a map through it and reports. Then the stand-in is killed and reaped
// (its mount dies with its namespace) and the temporary rootfs removed,
// whatever happened. The stand-in gets no parent-death signal, because
// pkg/userns ends OS threads on purpose and that signal follows the thread
// that forked; it exits on its own when its stdin closes or after a minute.
package doctor
