package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nri-bpftoken/nri-bpftoken/internal/remedy"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// commandWarnings points out types delegated without the command that uses
// them: the kernel ignores a token that lacks the command, so the types are
// unusable. (spec.DelegationWarnings covers the other surprises.)
func commandWarnings(m spec.Masks) []string {
	var w []string
	if m[spec.KindMaps] != 0 && !m.Has(spec.KindCmds, mustValue(spec.KindCmds, "map_create")) {
		w = append(w, "map types are delegated but not the map_create command, so no map can be created with the token: add it (bpf.token/cmds=map_create)")
	}
	if m[spec.KindProgs] != 0 && !m.Has(spec.KindCmds, mustValue(spec.KindCmds, "prog_load")) {
		w = append(w, "program types are delegated but not the prog_load command, so no program can be loaded with the token: add it (bpf.token/cmds=prog_load)")
	}
	return w
}

// mustValue looks up a name from this package's own tables; a typo there is a
// bug every test run catches.
func mustValue(k spec.Kind, name string) uint {
	v, ok := k.Value(name)
	if !ok {
		panic(fmt.Sprintf("bpftoken-probe: unknown %s name %q", k, name))
	}
	return v
}

// specWarnings says what the hook says of a container, so that both say the
// same thing: CAP_BPF for the token, CAP_NET_ADMIN and CAP_PERFMON for the
// delegated program types that need them (here from this process's
// effective set; left out without a capget answer), then program types
// without attach type 0, tracing that sees the whole host, "any" grants.
func specWarnings(env environment, m spec.Masks) []string {
	d := spec.Delegation{Masks: m}
	if env.Caps == nil {
		return spec.DelegationWarnings(d)
	}
	var effective []string
	for _, c := range checkedCaps {
		if env.Caps[c.name] {
			effective = append(effective, c.name)
		}
	}
	return append(remedy.CapWarnings(d, effective), spec.DelegationWarnings(d)...)
}

// seccompWarning says what blocks bpf(), from the answer to an invalid
// command. Without seccomp only an LSM can have answered; with seccomp in
// force, or its state unknown (no /proc), seccomp is by far the likeliest.
func seccompWarning(s seccompState) string {
	if !s.BlocksBPF {
		return ""
	}
	if s.Mode != "disabled" {
		return fmt.Sprintf("%s (an invalid bpf command got %s, not the kernel's EINVAL): %s", seccompBlocks, s.BPFErrno, seccompFix)
	}
	return fmt.Sprintf("bpf() is blocked although seccomp is off (an invalid bpf command got %s, not the kernel's EINVAL): an LSM policy refuses it; ask the host's administrator", s.BPFErrno)
}

// libbpfPathWarning: libbpf looks for the token's bpffs only at /sys/fs/bpf
// unless LIBBPF_BPF_TOKEN_PATH says otherwise, and an empty value turns its
// token support off.
func libbpfPathWarning(path, source string, env string, envSet bool) string {
	switch {
	case envSet && env == "":
		return spec.LibbpfTokenPathEnv + " is set but empty, which tells libbpf not to use a token: unset it or set it to the bpffs path"
	case source == sourceMountInfo && path != spec.DefaultPath && !envSet:
		return fmt.Sprintf("the delegated bpffs is at %s, where libbpf does not look: set %s=%s for libbpf programs (cilium/ebpf finds it by itself)", path, spec.LibbpfTokenPathEnv, path)
	}
	return ""
}

// compareMasks names the kinds on which two sources disagree, in one line
// per kind. Mount masks may say "any" for every known bit (Kind.SameDelegation).
func compareMasks(token, mount spec.Masks, mountPoint string) []string {
	var w []string
	for _, k := range spec.Kinds {
		if !k.SameDelegation(token[k], mount[k]) {
			w = append(w, fmt.Sprintf("the token info and the mount options of %s disagree on %s: token %q, mount %q",
				mountPoint, k, k.FormatMask(token[k]), k.FormatMask(mount[k])))
		}
	}
	return w
}

// compareProbes checks probe outcomes against a full description of the
// delegation (token info or mount options). A probe that passed although the
// type is not delegated is always a surprise. A refused probe of a delegated
// type is one only when the refusal cannot come from elsewhere: with the
// command delegated (for maps), with some program loading at all (for
// programs and attach types), and with every capability a type may need.
func compareProbes(p *probeResults, ref spec.Masks, refName string, env environment) []string {
	allCaps := env.hasCap("CAP_NET_ADMIN") && env.hasCap("CAP_PERFMON")
	canTest := map[spec.Kind]bool{
		spec.KindMaps:    ref.Has(spec.KindCmds, mustValue(spec.KindCmds, "map_create")),
		spec.KindProgs:   p.ProgPair != "",
		spec.KindAttachs: p.ProgPair != "",
	}
	var w []string
	for _, k := range []spec.Kind{spec.KindMaps, spec.KindProgs, spec.KindAttachs} {
		var extra, missing []string
		for name, o := range p.kind(k) {
			bit, ok := k.Value(name)
			if !ok || !p.tested(k, name) {
				continue
			}
			switch delegated := ref.Has(k, bit); {
			case passed(o) && !delegated:
				extra = append(extra, name)
			case !passed(o) && delegated && canTest[k] && allCaps:
				missing = append(missing, name)
			}
		}
		if len(extra)+len(missing) == 0 {
			continue
		}
		slices.Sort(extra)
		slices.Sort(missing)
		w = append(w, fmt.Sprintf("probing disagrees with the %s on %s: allowed but not delegated: [%s]; delegated but refused: [%s]",
			refName, k, strings.Join(extra, " "), strings.Join(missing, " ")))
	}
	return w
}

// cgroupAttachProgs are the program types that attach to a cgroup, by
// BPF_PROG_ATTACH or BPF_LINK_CREATE on a cgroup directory fd. The kernel
// checks no ownership of the cgroup, and a read-only fd is enough (measured
// on Linux 6.18). lsm joins them with expected attach type lsm_cgroup (see
// cgroupNSWarning).
var cgroupAttachProgs = []string{
	"cgroup_skb", "cgroup_sock", "cgroup_sock_addr", "sock_ops", "cgroup_device", "cgroup_sysctl", "cgroup_sockopt",
}

// cgroupNSWarning: cgroup program types are delegated and this process does
// not sit at the root of a cgroup namespace of its own, so the container
// likely sees the host's cgroup tree, other containers' cgroups included,
// and could attach to them. The hook and the plugin refuse these types to a
// container in the host's cgroup namespace unless a policy rule allows it
// (hostCgroupNamespace); this catches the rest.
func cgroupNSWarning(ns cgroupNSState, m spec.Masks) string {
	if ns.Cgroup == "" || ns.Private {
		return ""
	}
	progs := delegatedProgs(m, cgroupAttachProgs)
	// The kernel checks the expected attach type against delegate_attachs
	// when loading, so an lsm program reaches cgroups only with lsm_cgroup.
	if m.Has(spec.KindProgs, mustValue(spec.KindProgs, "lsm")) && m.Has(spec.KindAttachs, mustValue(spec.KindAttachs, "lsm_cgroup")) {
		progs = append(progs, "lsm (with lsm_cgroup)")
	}
	if len(progs) == 0 {
		return ""
	}
	return fmt.Sprintf("cgroup program types are delegated (%s) and this process is in cgroup %s, not at the root of a cgroup namespace of its own, "+
		"so the container likely shares the host's cgroup namespace (or runs in a child cgroup of its own): these programs attach to any cgroup directory "+
		"the container can open, a read-only fd is enough, other containers' included: give the container a cgroup namespace of its own "+
		"(podman: --cgroupns=private) and do not mount the host's cgroup tree into it",
		strings.Join(progs, ", "), ns.Cgroup)
}

// delegatedProgs returns the names among names whose program type m
// delegates, in the order of names.
func delegatedProgs(m spec.Masks, names []string) []string {
	var out []string
	for _, n := range names {
		if m.Has(spec.KindProgs, mustValue(spec.KindProgs, n)) {
			out = append(out, n)
		}
	}
	return out
}
