package spec

import (
	"fmt"
	"slices"
	"strings"
)

// Program types the kernel loads only with CAP_NET_ADMIN, or CAP_PERFMON,
// in the token's user namespace (is_net_admin_prog_type and
// is_perfmon_prog_type in kernel/bpf/syscall.c, Linux 6.18).
var (
	netAdminProgs = []string{
		"sched_cls", "sched_act", "xdp", "lwt_in", "lwt_out", "lwt_xmit", "lwt_seg6local",
		"sk_skb", "sk_msg", "flow_dissector", "cgroup_device", "cgroup_sock", "cgroup_skb",
		"cgroup_sock_addr", "cgroup_sockopt", "cgroup_sysctl", "sock_ops", "netfilter",
	}
	perfmonProgs = []string{
		"kprobe", "tracepoint", "perf_event", "raw_tracepoint", "raw_tracepoint_writable",
		"tracing", "lsm", "struct_ops", "ext",
	}
)

// hostTracingProgs are the perfmon program types whose hooks fire for every
// task on the host, so a container that loads them sees other containers'
// and the host's activity, not only its own: kprobe (kprobes, and
// kprobe_multi and uprobe_multi links), tracepoint, perf_event,
// raw_tracepoint (and _writable), and tracing (tp_btf, fentry, fexit). In
// value order, the order messages name them in.
var hostTracingProgs = []string{
	"kprobe", "tracepoint", "perf_event", "raw_tracepoint", "raw_tracepoint_writable", "tracing",
}

// cgroupProgs are the program types that attach to a cgroup: BPF_PROG_ATTACH
// and BPF_LINK_CREATE take any cgroup directory fd the caller can open (read
// only is enough; the kernel checks no ownership), measured on Linux 6.18
// for all but lsm. lsm is here for BPF_LSM_CGROUP, which attaches an lsm
// program to a cgroup through the same path (kernel/bpf/syscall.c,
// link_create). The list is of program types, not attach types, on
// purpose: the kernel refuses a cgroup attach of any other program type,
// while attach type 0, which almost every program type is loaded with, is
// cgroup_inet_ingress: guarding that would refuse every socket_filter.
var cgroupProgs = []string{
	"cgroup_skb", "cgroup_sock", "sock_ops", "cgroup_device", "cgroup_sock_addr",
	"cgroup_sysctl", "cgroup_sockopt", "lsm",
}

// loadAttachTypes lists, for the program types that are loaded with an
// expected attach type other than 0, the attach types they are loaded with:
// the kernel checks it against delegate_attachs at BPF_PROG_LOAD
// (bpf_token_allow_prog_type). Required: the kernel refuses the type with
// any other (bpf_prog_load_check_attach, Linux 6.18; for cgroup_sock it
// turns 0 into cgroup_inet_sock_create first). Otherwise the type loads
// with 0 too, but libbpf's section names (SEC("xdp"), SEC("tcx/ingress"))
// load it with one of these.
type attachEntry struct {
	prog     string
	attachs  []string
	required bool
	// The same as masks, filled in at init by attachMasks.
	progBit, attachMask uint64
}

var loadAttachTypes = attachMasks([]attachEntry{
	{prog: "cgroup_sock", attachs: []string{"cgroup_inet_sock_create", "cgroup_inet_sock_release", "cgroup_inet4_post_bind", "cgroup_inet6_post_bind"}, required: true},
	{prog: "cgroup_sock_addr", attachs: []string{
		"cgroup_inet4_bind", "cgroup_inet6_bind", "cgroup_inet4_connect", "cgroup_inet6_connect",
		"cgroup_udp4_sendmsg", "cgroup_udp6_sendmsg", "cgroup_udp4_recvmsg", "cgroup_udp6_recvmsg",
		"cgroup_inet4_getpeername", "cgroup_inet6_getpeername", "cgroup_inet4_getsockname", "cgroup_inet6_getsockname",
		"cgroup_unix_connect", "cgroup_unix_sendmsg", "cgroup_unix_recvmsg", "cgroup_unix_getpeername", "cgroup_unix_getsockname",
	}, required: true},
	{prog: "cgroup_sockopt", attachs: []string{"cgroup_getsockopt", "cgroup_setsockopt"}, required: true},
	{prog: "sk_lookup", attachs: []string{"sk_lookup"}, required: true},
	{prog: "netfilter", attachs: []string{"netfilter"}, required: true},
	{prog: "tracing", attachs: []string{"trace_raw_tp", "trace_fentry", "trace_fexit", "modify_return", "trace_iter"}, required: true},
	{prog: "lsm", attachs: []string{"lsm_mac", "lsm_cgroup"}, required: true},
	{prog: "xdp", attachs: []string{"xdp"}},
	{prog: "sched_cls", attachs: []string{"tcx_ingress", "tcx_egress"}},
})

// attachMasks fills in the masks of entries. A name the tables lack is a
// typo in this file: panicking at init makes every test catch it.
func attachMasks(entries []attachEntry) []attachEntry {
	for i := range entries {
		e := &entries[i]
		e.progBit = progMask([]string{e.prog})
		for _, a := range e.attachs {
			bit, ok := KindAttachs.Value(a)
			if !ok {
				panic(fmt.Sprintf("spec: unknown attach type %q in loadAttachTypes", a))
			}
			e.attachMask |= 1 << bit
		}
		if e.required {
			requiredAttachProgMask |= e.progBit
		}
	}
	return entries
}

// requiredAttachProgMask: the program types that cannot load with attach
// type 0 (set by attachMasks).
var requiredAttachProgMask uint64

// LoadAttachTypes returns the attach types program type prog is loaded
// with besides 0, and whether one of them is required; nil for a type that
// is loaded with 0 only.
func LoadAttachTypes(prog string) (attachs []string, required bool) {
	for _, e := range loadAttachTypes {
		if e.prog == prog {
			return slices.Clone(e.attachs), e.required
		}
	}
	return nil, false
}

// netnsProgs are the program types that attach to the interfaces, routes
// or hooks of the caller's network namespace: XDP and tcx links, flow
// dissector, sk_lookup and netfilter links take the namespace of the
// process that creates them, and check no capability over its owner (only
// the token's CAP_NET_ADMIN at load). In the host's network namespace that
// is the host's traffic. Measured for xdp and tcx on Linux 6.18
// (docs/workloads.md); the others by the same code path.
var netnsProgs = []string{
	"sched_cls", "sched_act", "xdp", "lwt_in", "lwt_out", "lwt_xmit", "lwt_seg6local",
	"flow_dissector", "sk_lookup", "netfilter",
}

var (
	perfmonProgMask = progMask(perfmonProgs)
	cgroupProgMask  = progMask(cgroupProgs)
	netnsProgMask   = progMask(netnsProgs)
)

// PerfmonProgMask returns the program types that need CAP_PERFMON: the
// tracing class, which reads kernel memory and host-wide activity.
func PerfmonProgMask() uint64 { return perfmonProgMask }

// CgroupProgMask returns the program types that attach to cgroups, and so
// can attach to any cgroup the container can open (see cgroupProgs).
func CgroupProgMask() uint64 { return cgroupProgMask }

// NetnsProgMask returns the program types that attach to the network
// namespace of the process that attaches them (see netnsProgs).
func NetnsProgMask() uint64 { return netnsProgMask }

// progMask ORs the bits of names. A name the table lacks is a typo in this
// file, and panicking at init makes every test catch it.
func progMask(names []string) uint64 {
	var m uint64
	for _, n := range names {
		bit, ok := KindProgs.Value(n)
		if !ok {
			panic(fmt.Sprintf("spec: unknown program type %q in a list of warnings.go", n))
		}
		m |= 1 << bit
	}
	return m
}

// CapNeed is a capability that using a delegation needs in the container's
// user namespace, and what needs it.
type CapNeed struct {
	Cap string // e.g. "CAP_BPF"
	Why string // completes "which ...", e.g. "creating a BPF token needs"
}

// MissingCaps lists what using d needs of CAP_BPF (to create the token),
// CAP_NET_ADMIN and CAP_PERFMON (to load the delegated program types that
// ask for them) and effective lacks, in that order. Front ends word the fix:
// a capability may also be gained later, so this is for warnings.
func MissingCaps(d Delegation, effective []string) []CapNeed {
	var out []CapNeed
	need := func(c, why string) {
		if !slices.Contains(effective, c) {
			out = append(out, CapNeed{Cap: c, Why: why})
		}
	}
	need("CAP_BPF", "creating a BPF token needs")
	if progs := delegatedAmong(d.Masks[KindProgs], netAdminProgs); len(progs) > 0 {
		need("CAP_NET_ADMIN", fmt.Sprintf("loading or attaching the delegated program types %v needs", progs))
	}
	if progs := delegatedAmong(d.Masks[KindProgs], perfmonProgs); len(progs) > 0 {
		need("CAP_PERFMON", fmt.Sprintf("loading the delegated program types %v needs", progs))
	}
	return out
}

// DelegationWarnings lists what in a delegation itself would surprise its
// user: combinations the kernel will refuse, tracing that reaches beyond the
// container, and grants wider than anyone needs.
func DelegationWarnings(d Delegation) []string {
	var out []string
	// The kernel checks a program's expected attach type against
	// delegate_attachs too, and most program types are loaded with 0. Not
	// those that require one of their own, nor those whose own attach type
	// is delegated (xdp with xdp: libbpf and cilium/ebpf load them so).
	progs, attachs := d.Masks[KindProgs], d.Masks[KindAttachs]
	needZero := progs &^ requiredAttachProgMask
	for _, e := range loadAttachTypes {
		if !e.required && attachs&e.attachMask != 0 {
			needZero &^= e.progBit
		}
	}
	zero := d.Masks.Has(KindAttachs, 0)
	if needZero != 0 && !zero {
		out = append(out, AnnotationAttachs+" lacks cgroup_inet_ingress (attach type 0), which every program loaded without an expected attach type needs (socket_filter, kprobe, tracepoint, xdp without BPF_XDP, ...): add it to "+AnnotationAttachs)
	}
	for _, e := range loadAttachTypes {
		if progs&e.progBit == 0 || progs == ^uint64(0) || attachs == ^uint64(0) || attachs&e.attachMask != 0 {
			continue
		}
		switch {
		case e.required:
			out = append(out, fmt.Sprintf("%s delegates %s, but %s has none of the attach types the kernel loads it with (%s), so it cannot load: add the ones the workload uses to %s",
				AnnotationProgs, e.prog, AnnotationAttachs, strings.Join(e.attachs, ", "), AnnotationAttachs))
		case zero:
			// Without attach type 0 either, the warning above says it.
			out = append(out, fmt.Sprintf("%s delegates %s, but %s lacks %s, which libbpf loads SEC(%q) programs with: add it to %s, unless the workload loads them with attach type 0",
				AnnotationProgs, e.prog, AnnotationAttachs, strings.Join(e.attachs, " or "), libbpfSection(e.prog), AnnotationAttachs))
		}
	}
	// A token's capabilities count in the container's user namespace, but
	// these programs' hooks are not namespaced: the grant is host-wide.
	if progs := delegatedAmong(d.Masks[KindProgs], hostTracingProgs); len(progs) > 0 {
		out = append(out, fmt.Sprintf("%s delegates %s: with CAP_PERFMON in the container's user namespace these programs observe the whole host, not only this container", AnnotationProgs, strings.Join(progs, ", ")))
	}
	for _, k := range Kinds {
		if d.Masks[k] == ^uint64(0) {
			out = append(out, fmt.Sprintf("%s=any delegates every %s this kernel has and any a future kernel adds: list the ones the workload needs", k.AnnotationKey(), k))
		}
	}
	return out
}

// libbpfSection names the libbpf section of a program type whose load
// carries a non-zero attach type.
func libbpfSection(prog string) string {
	if prog == "sched_cls" {
		return "tcx/ingress"
	}
	return prog
}

// delegatedAmong returns the names in names whose bit is set in mask. For
// "any" it names them all, which is what the warning should say then.
func delegatedAmong(mask uint64, names []string) []string {
	var out []string
	for _, n := range names {
		if bit, ok := KindProgs.Value(n); ok && mask&(1<<bit) != 0 {
			out = append(out, n)
		}
	}
	return out
}
