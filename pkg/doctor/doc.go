// Package doctor checks whether a node can give containers BPF tokens, and
// says how to fix what stands in the way: the kernel version, a real token
// made by a stand-in container, kernel BTF, lockdown, user namespace
// settings, and, when Options ask for them, the hooks.d JSON that makes
// podman and CRI-O run the hook and the hook's policy, or the NRI socket the
// plugin connects to. Each check ends in a verdict (ok, warn, fail) and, when
// not ok, the fix. It is a library of checks: the command line that runs
// them and prints their results belongs to its callers.
//
// Its one hard constraint: the token check must prove the real thing and
// leave nothing behind. Only a process inside a user namespace that owns a
// delegated bpffs can create a token, and a running Go program (always
// multi-threaded) can never enter a user namespace. So the check starts a
// throwaway container stand-in: the running binary, re-executed through
// /proc/self/exe with a hidden argument in a new user and mount namespace.
// A program that calls Run must therefore hand over to the stand-in first
// thing in main:
//
//	if doctor.IsStandin(os.Args) {
//		os.Exit(doctor.RunStandin())
//	}
//
// The host side mounts a delegated bpffs for the stand-in with pkg/bpffs,
// exactly as for a real container; the stand-in creates the token and a map
// through it and reports. Then the stand-in is killed and reaped (its mount
// dies with its namespace) and the temporary rootfs removed, whatever
// happened. The stand-in gets no parent-death signal, because pkg/userns
// ends OS threads on purpose and that signal follows the thread that forked;
// it exits on its own when its stdin closes or after a minute.
package doctor
