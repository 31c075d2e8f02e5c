package spec

import (
	"fmt"
	"math/bits"
	"strings"
)

// Kind is one of the four delegate options.
type Kind int

// The four delegate options of a bpffs mount, in the order the kernel
// documents them.
const (
	KindCmds Kind = iota
	KindMaps
	KindProgs
	KindAttachs
)

// Kinds lists every Kind, for callers that walk all delegate options.
var Kinds = [...]Kind{KindCmds, KindMaps, KindProgs, KindAttachs}

// enumTable describes one kernel UAPI enum as the bpffs delegate_* options
// see it: member names with the enum's common prefix removed, lowercased.
type enumTable struct {
	name      string // "cmds": Kind.String
	key       string // annotation key
	cEnum     string // the C enum, for error messages
	cPrefix   string // the prefix users must leave out
	noun      string // what one item is, for error messages
	canonical []string
	aliases   []enumAlias
	byName    map[string]uint // canonical names and aliases
	known     uint64
}

// enumAlias is a second enum member with the value of an earlier one. The
// kernel keeps such members for source compatibility; we accept them on input
// but never print them, so that one mask always has one spelling.
type enumAlias struct {
	name  string
	value uint
}

// The tables below are the members of the kernel UAPI enums as of Linux 6.18,
// taken from the running kernel's BTF with
//
//	bpftool btf dump file /sys/kernel/btf/vmlinux format c
//
// The __MAX_* sentinels are left out. Every enum is dense (values 0..N-1), so
// the tables are arrays indexed by value; a duplicated index does not compile.
//
// A delegate mask is a u64 with bit (1 << value) per member, so a member with
// value 64 or more could never be delegated. The constant checks after each
// table stop the build if a future update ever adds one; in 6.18 the largest
// value is 57 (trace_uprobe_session in enum bpf_attach_type), the closest to
// that limit.
//
// Older kernels lack the newest members. That is harmless: the hook passes
// masks to the kernel as numbers, and bpffs stores bits it has no name for.

// cmdNames is enum bpf_cmd without the BPF_ prefix.
var cmdNames = [...]string{
	0:  "map_create",
	1:  "map_lookup_elem",
	2:  "map_update_elem",
	3:  "map_delete_elem",
	4:  "map_get_next_key",
	5:  "prog_load",
	6:  "obj_pin",
	7:  "obj_get",
	8:  "prog_attach",
	9:  "prog_detach",
	10: "prog_test_run",
	11: "prog_get_next_id",
	12: "map_get_next_id",
	13: "prog_get_fd_by_id",
	14: "map_get_fd_by_id",
	15: "obj_get_info_by_fd",
	16: "prog_query",
	17: "raw_tracepoint_open",
	18: "btf_load",
	19: "btf_get_fd_by_id",
	20: "task_fd_query",
	21: "map_lookup_and_delete_elem",
	22: "map_freeze",
	23: "btf_get_next_id",
	24: "map_lookup_batch",
	25: "map_lookup_and_delete_batch",
	26: "map_update_batch",
	27: "map_delete_batch",
	28: "link_create",
	29: "link_update",
	30: "link_get_fd_by_id",
	31: "link_get_next_id",
	32: "enable_stats",
	33: "iter_create",
	34: "link_detach",
	35: "prog_bind_map",
	36: "token_create",
	37: "prog_stream_read_by_fd",
}

const _ = uint(63 - (len(cmdNames) - 1)) // every bpf_cmd value fits in a u64 mask

var cmdAliases = []enumAlias{
	{"prog_run", 10}, // BPF_PROG_RUN = BPF_PROG_TEST_RUN
}

// mapNames is enum bpf_map_type without the BPF_MAP_TYPE_ prefix.
var mapNames = [...]string{
	0:  "unspec",
	1:  "hash",
	2:  "array",
	3:  "prog_array",
	4:  "perf_event_array",
	5:  "percpu_hash",
	6:  "percpu_array",
	7:  "stack_trace",
	8:  "cgroup_array",
	9:  "lru_hash",
	10: "lru_percpu_hash",
	11: "lpm_trie",
	12: "array_of_maps",
	13: "hash_of_maps",
	14: "devmap",
	15: "sockmap",
	16: "cpumap",
	17: "xskmap",
	18: "sockhash",
	19: "cgroup_storage",
	20: "reuseport_sockarray",
	21: "percpu_cgroup_storage",
	22: "queue",
	23: "stack",
	24: "sk_storage",
	25: "devmap_hash",
	26: "struct_ops",
	27: "ringbuf",
	28: "inode_storage",
	29: "task_storage",
	30: "bloom_filter",
	31: "user_ringbuf",
	32: "cgrp_storage",
	33: "arena",
}

const _ = uint(63 - (len(mapNames) - 1)) // every bpf_map_type value fits in a u64 mask

// The kernel declares the _DEPRECATED members first, so its BTF (and hence
// the delegate_maps list the kernel shows in mountinfo) names 19 and 21
// "cgroup_storage_deprecated" and "percpu_cgroup_storage_deprecated". We print
// the names the UAPI header recommends instead.
var mapAliases = []enumAlias{
	{"cgroup_storage_deprecated", 19},
	{"percpu_cgroup_storage_deprecated", 21},
}

// progNames is enum bpf_prog_type without the BPF_PROG_TYPE_ prefix.
var progNames = [...]string{
	0:  "unspec",
	1:  "socket_filter",
	2:  "kprobe",
	3:  "sched_cls",
	4:  "sched_act",
	5:  "tracepoint",
	6:  "xdp",
	7:  "perf_event",
	8:  "cgroup_skb",
	9:  "cgroup_sock",
	10: "lwt_in",
	11: "lwt_out",
	12: "lwt_xmit",
	13: "sock_ops",
	14: "sk_skb",
	15: "cgroup_device",
	16: "sk_msg",
	17: "raw_tracepoint",
	18: "cgroup_sock_addr",
	19: "lwt_seg6local",
	20: "lirc_mode2",
	21: "sk_reuseport",
	22: "flow_dissector",
	23: "cgroup_sysctl",
	24: "raw_tracepoint_writable",
	25: "cgroup_sockopt",
	26: "tracing",
	27: "struct_ops",
	28: "ext",
	29: "lsm",
	30: "sk_lookup",
	31: "syscall",
	32: "netfilter",
}

const _ = uint(63 - (len(progNames) - 1)) // every bpf_prog_type value fits in a u64 mask

// attachNames is enum bpf_attach_type without the BPF_ prefix.
var attachNames = [...]string{
	0:  "cgroup_inet_ingress",
	1:  "cgroup_inet_egress",
	2:  "cgroup_inet_sock_create",
	3:  "cgroup_sock_ops",
	4:  "sk_skb_stream_parser",
	5:  "sk_skb_stream_verdict",
	6:  "cgroup_device",
	7:  "sk_msg_verdict",
	8:  "cgroup_inet4_bind",
	9:  "cgroup_inet6_bind",
	10: "cgroup_inet4_connect",
	11: "cgroup_inet6_connect",
	12: "cgroup_inet4_post_bind",
	13: "cgroup_inet6_post_bind",
	14: "cgroup_udp4_sendmsg",
	15: "cgroup_udp6_sendmsg",
	16: "lirc_mode2",
	17: "flow_dissector",
	18: "cgroup_sysctl",
	19: "cgroup_udp4_recvmsg",
	20: "cgroup_udp6_recvmsg",
	21: "cgroup_getsockopt",
	22: "cgroup_setsockopt",
	23: "trace_raw_tp",
	24: "trace_fentry",
	25: "trace_fexit",
	26: "modify_return",
	27: "lsm_mac",
	28: "trace_iter",
	29: "cgroup_inet4_getpeername",
	30: "cgroup_inet6_getpeername",
	31: "cgroup_inet4_getsockname",
	32: "cgroup_inet6_getsockname",
	33: "xdp_devmap",
	34: "cgroup_inet_sock_release",
	35: "xdp_cpumap",
	36: "sk_lookup",
	37: "xdp",
	38: "sk_skb_verdict",
	39: "sk_reuseport_select",
	40: "sk_reuseport_select_or_migrate",
	41: "perf_event",
	42: "trace_kprobe_multi",
	43: "lsm_cgroup",
	44: "struct_ops",
	45: "netfilter",
	46: "tcx_ingress",
	47: "tcx_egress",
	48: "trace_uprobe_multi",
	49: "cgroup_unix_connect",
	50: "cgroup_unix_sendmsg",
	51: "cgroup_unix_recvmsg",
	52: "cgroup_unix_getpeername",
	53: "cgroup_unix_getsockname",
	54: "netkit_primary",
	55: "netkit_peer",
	56: "trace_kprobe_session",
	57: "trace_uprobe_session",
}

const _ = uint(63 - (len(attachNames) - 1)) // every bpf_attach_type value fits in a u64 mask

// enumTables is indexed by Kind.
var enumTables = [...]*enumTable{
	KindCmds: newEnumTable("cmds", AnnotationCmds, "bpf_cmd", "BPF_",
		"bpf command", cmdNames[:], cmdAliases),
	KindMaps: newEnumTable("maps", AnnotationMaps, "bpf_map_type", "BPF_MAP_TYPE_",
		"map type", mapNames[:], mapAliases),
	KindProgs: newEnumTable("progs", AnnotationProgs, "bpf_prog_type", "BPF_PROG_TYPE_",
		"program type", progNames[:], nil),
	KindAttachs: newEnumTable("attachs", AnnotationAttachs, "bpf_attach_type", "BPF_",
		"attach type", attachNames[:], nil),
}

func newEnumTable(name, key, cEnum, cPrefix, noun string, canonical []string, aliases []enumAlias) *enumTable {
	t := &enumTable{
		name:      name,
		key:       key,
		cEnum:     cEnum,
		cPrefix:   cPrefix,
		noun:      noun,
		canonical: canonical,
		aliases:   aliases,
		byName:    make(map[string]uint, len(canonical)+len(aliases)),
	}
	for v, n := range canonical {
		t.byName[n] = uint(v)
		t.known |= 1 << uint(v)
	}
	for _, a := range aliases {
		// The tables are static, so a clash is a bug in this file; failing
		// at init makes every test catch it.
		if _, dup := t.byName[a.name]; dup || a.value >= uint(len(canonical)) {
			panic(fmt.Sprintf("spec: bad alias %q in enum %s", a.name, cEnum))
		}
		t.byName[a.name] = a.value
	}
	return t
}

// table returns nil for a Kind outside Kinds so that every method can treat a
// bogus Kind as "knows no names" instead of panicking.
func (k Kind) table() *enumTable {
	if k < 0 || int(k) >= len(enumTables) {
		return nil
	}
	return enumTables[k]
}

// String returns "cmds", "maps", "progs" or "attachs".
func (k Kind) String() string {
	if t := k.table(); t != nil {
		return t.name
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// MountOption returns the bpffs mount option, e.g. "delegate_cmds".
func (k Kind) MountOption() string { return "delegate_" + k.String() }

// AnnotationKey returns the annotation key, e.g. "bpf.token/cmds".
func (k Kind) AnnotationKey() string { return AnnotationPrefix + k.String() }

// Value returns the enum value of name (without the enum's prefix, any case,
// aliases included).
func (k Kind) Value(name string) (bit uint, ok bool) {
	t := k.table()
	if t == nil {
		return 0, false
	}
	lower, ok := asciiLower(name)
	if !ok {
		return 0, false
	}
	bit, ok = t.byName[lower]
	return bit, ok
}

// Name returns the canonical lowercase name of enum value bit.
func (k Kind) Name(bit uint) (string, bool) {
	t := k.table()
	if t == nil || bit >= uint(len(t.canonical)) {
		return "", false
	}
	return t.canonical[bit], true
}

// KnownMask returns the OR of all bits that have a name.
func (k Kind) KnownMask() uint64 {
	if t := k.table(); t != nil {
		return t.known
	}
	return 0
}

// FormatMask renders mask in the syntax ParseList accepts, for logs and
// messages: named bits in value order separated by ':', then any bits without
// a name as a single trailing hex item; "any" for all 64 bits, "" for none.
//
// The result must not be passed to the kernel as a delegate_* value: bpffs
// lets a numeric item replace the bits gathered so far instead of OR-ing it,
// and kernels without BTF know no names at all. Pass fmt.Sprintf("0x%x", mask)
// there.
func (k Kind) FormatMask(mask uint64) string {
	switch mask {
	case 0:
		return ""
	case ^uint64(0):
		return "any"
	}
	var b strings.Builder
	rest := mask
	if t := k.table(); t != nil {
		for m := mask & t.known; m != 0; m &= m - 1 {
			v := bits.TrailingZeros64(m)
			if b.Len() > 0 {
				b.WriteByte(':')
			}
			b.WriteString(t.canonical[v])
		}
		rest &^= t.known
	}
	if rest != 0 {
		if b.Len() > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%#x", rest)
	}
	return b.String()
}

// asciiLower lowercases s if it is pure ASCII. Names are C identifiers, and
// the kernel compares them with strcasecmp, so Unicode case folding must not
// apply: strings.ToLower would turn "\u212Aprobe" (KELVIN SIGN) into "kprobe".
func asciiLower(s string) (string, bool) {
	hasUpper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return "", false
		}
		hasUpper = hasUpper || ('A' <= c && c <= 'Z')
	}
	if !hasUpper {
		return s, true
	}
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b), true
}
