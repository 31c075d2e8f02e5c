package spec

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/procfs"
	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
)

// TestEnumsMatchUnix cross-checks the tables against every constant of the
// four enums that golang.org/x/sys/unix v0.50.0 defines. x/sys lags the
// kernel (it stops at prog_bind_map, cgrp_storage, netfilter and
// trace_uprobe_multi), so the newer members are checked against BTF below.
func TestEnumsMatchUnix(t *testing.T) {
	tests := []struct {
		kind Kind
		name string
		want int
	}{
		{KindCmds, "map_create", unix.BPF_MAP_CREATE},
		{KindCmds, "map_lookup_elem", unix.BPF_MAP_LOOKUP_ELEM},
		{KindCmds, "map_update_elem", unix.BPF_MAP_UPDATE_ELEM},
		{KindCmds, "map_delete_elem", unix.BPF_MAP_DELETE_ELEM},
		{KindCmds, "map_get_next_key", unix.BPF_MAP_GET_NEXT_KEY},
		{KindCmds, "prog_load", unix.BPF_PROG_LOAD},
		{KindCmds, "obj_pin", unix.BPF_OBJ_PIN},
		{KindCmds, "obj_get", unix.BPF_OBJ_GET},
		{KindCmds, "prog_attach", unix.BPF_PROG_ATTACH},
		{KindCmds, "prog_detach", unix.BPF_PROG_DETACH},
		{KindCmds, "prog_test_run", unix.BPF_PROG_TEST_RUN},
		{KindCmds, "prog_run", unix.BPF_PROG_RUN},
		{KindCmds, "prog_get_next_id", unix.BPF_PROG_GET_NEXT_ID},
		{KindCmds, "map_get_next_id", unix.BPF_MAP_GET_NEXT_ID},
		{KindCmds, "prog_get_fd_by_id", unix.BPF_PROG_GET_FD_BY_ID},
		{KindCmds, "map_get_fd_by_id", unix.BPF_MAP_GET_FD_BY_ID},
		{KindCmds, "obj_get_info_by_fd", unix.BPF_OBJ_GET_INFO_BY_FD},
		{KindCmds, "prog_query", unix.BPF_PROG_QUERY},
		{KindCmds, "raw_tracepoint_open", unix.BPF_RAW_TRACEPOINT_OPEN},
		{KindCmds, "btf_load", unix.BPF_BTF_LOAD},
		{KindCmds, "btf_get_fd_by_id", unix.BPF_BTF_GET_FD_BY_ID},
		{KindCmds, "task_fd_query", unix.BPF_TASK_FD_QUERY},
		{KindCmds, "map_lookup_and_delete_elem", unix.BPF_MAP_LOOKUP_AND_DELETE_ELEM},
		{KindCmds, "map_freeze", unix.BPF_MAP_FREEZE},
		{KindCmds, "btf_get_next_id", unix.BPF_BTF_GET_NEXT_ID},
		{KindCmds, "map_lookup_batch", unix.BPF_MAP_LOOKUP_BATCH},
		{KindCmds, "map_lookup_and_delete_batch", unix.BPF_MAP_LOOKUP_AND_DELETE_BATCH},
		{KindCmds, "map_update_batch", unix.BPF_MAP_UPDATE_BATCH},
		{KindCmds, "map_delete_batch", unix.BPF_MAP_DELETE_BATCH},
		{KindCmds, "link_create", unix.BPF_LINK_CREATE},
		{KindCmds, "link_update", unix.BPF_LINK_UPDATE},
		{KindCmds, "link_get_fd_by_id", unix.BPF_LINK_GET_FD_BY_ID},
		{KindCmds, "link_get_next_id", unix.BPF_LINK_GET_NEXT_ID},
		{KindCmds, "enable_stats", unix.BPF_ENABLE_STATS},
		{KindCmds, "iter_create", unix.BPF_ITER_CREATE},
		{KindCmds, "link_detach", unix.BPF_LINK_DETACH},
		{KindCmds, "prog_bind_map", unix.BPF_PROG_BIND_MAP},
		{KindMaps, "unspec", unix.BPF_MAP_TYPE_UNSPEC},
		{KindMaps, "hash", unix.BPF_MAP_TYPE_HASH},
		{KindMaps, "array", unix.BPF_MAP_TYPE_ARRAY},
		{KindMaps, "prog_array", unix.BPF_MAP_TYPE_PROG_ARRAY},
		{KindMaps, "perf_event_array", unix.BPF_MAP_TYPE_PERF_EVENT_ARRAY},
		{KindMaps, "percpu_hash", unix.BPF_MAP_TYPE_PERCPU_HASH},
		{KindMaps, "percpu_array", unix.BPF_MAP_TYPE_PERCPU_ARRAY},
		{KindMaps, "stack_trace", unix.BPF_MAP_TYPE_STACK_TRACE},
		{KindMaps, "cgroup_array", unix.BPF_MAP_TYPE_CGROUP_ARRAY},
		{KindMaps, "lru_hash", unix.BPF_MAP_TYPE_LRU_HASH},
		{KindMaps, "lru_percpu_hash", unix.BPF_MAP_TYPE_LRU_PERCPU_HASH},
		{KindMaps, "lpm_trie", unix.BPF_MAP_TYPE_LPM_TRIE},
		{KindMaps, "array_of_maps", unix.BPF_MAP_TYPE_ARRAY_OF_MAPS},
		{KindMaps, "hash_of_maps", unix.BPF_MAP_TYPE_HASH_OF_MAPS},
		{KindMaps, "devmap", unix.BPF_MAP_TYPE_DEVMAP},
		{KindMaps, "sockmap", unix.BPF_MAP_TYPE_SOCKMAP},
		{KindMaps, "cpumap", unix.BPF_MAP_TYPE_CPUMAP},
		{KindMaps, "xskmap", unix.BPF_MAP_TYPE_XSKMAP},
		{KindMaps, "sockhash", unix.BPF_MAP_TYPE_SOCKHASH},
		{KindMaps, "cgroup_storage_deprecated", unix.BPF_MAP_TYPE_CGROUP_STORAGE_DEPRECATED},
		{KindMaps, "cgroup_storage", unix.BPF_MAP_TYPE_CGROUP_STORAGE},
		{KindMaps, "reuseport_sockarray", unix.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY},
		{KindMaps, "percpu_cgroup_storage", unix.BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE},
		{KindMaps, "queue", unix.BPF_MAP_TYPE_QUEUE},
		{KindMaps, "stack", unix.BPF_MAP_TYPE_STACK},
		{KindMaps, "sk_storage", unix.BPF_MAP_TYPE_SK_STORAGE},
		{KindMaps, "devmap_hash", unix.BPF_MAP_TYPE_DEVMAP_HASH},
		{KindMaps, "struct_ops", unix.BPF_MAP_TYPE_STRUCT_OPS},
		{KindMaps, "ringbuf", unix.BPF_MAP_TYPE_RINGBUF},
		{KindMaps, "inode_storage", unix.BPF_MAP_TYPE_INODE_STORAGE},
		{KindMaps, "task_storage", unix.BPF_MAP_TYPE_TASK_STORAGE},
		{KindMaps, "bloom_filter", unix.BPF_MAP_TYPE_BLOOM_FILTER},
		{KindMaps, "user_ringbuf", unix.BPF_MAP_TYPE_USER_RINGBUF},
		{KindMaps, "cgrp_storage", unix.BPF_MAP_TYPE_CGRP_STORAGE},
		{KindProgs, "unspec", unix.BPF_PROG_TYPE_UNSPEC},
		{KindProgs, "socket_filter", unix.BPF_PROG_TYPE_SOCKET_FILTER},
		{KindProgs, "kprobe", unix.BPF_PROG_TYPE_KPROBE},
		{KindProgs, "sched_cls", unix.BPF_PROG_TYPE_SCHED_CLS},
		{KindProgs, "sched_act", unix.BPF_PROG_TYPE_SCHED_ACT},
		{KindProgs, "tracepoint", unix.BPF_PROG_TYPE_TRACEPOINT},
		{KindProgs, "xdp", unix.BPF_PROG_TYPE_XDP},
		{KindProgs, "perf_event", unix.BPF_PROG_TYPE_PERF_EVENT},
		{KindProgs, "cgroup_skb", unix.BPF_PROG_TYPE_CGROUP_SKB},
		{KindProgs, "cgroup_sock", unix.BPF_PROG_TYPE_CGROUP_SOCK},
		{KindProgs, "lwt_in", unix.BPF_PROG_TYPE_LWT_IN},
		{KindProgs, "lwt_out", unix.BPF_PROG_TYPE_LWT_OUT},
		{KindProgs, "lwt_xmit", unix.BPF_PROG_TYPE_LWT_XMIT},
		{KindProgs, "sock_ops", unix.BPF_PROG_TYPE_SOCK_OPS},
		{KindProgs, "sk_skb", unix.BPF_PROG_TYPE_SK_SKB},
		{KindProgs, "cgroup_device", unix.BPF_PROG_TYPE_CGROUP_DEVICE},
		{KindProgs, "sk_msg", unix.BPF_PROG_TYPE_SK_MSG},
		{KindProgs, "raw_tracepoint", unix.BPF_PROG_TYPE_RAW_TRACEPOINT},
		{KindProgs, "cgroup_sock_addr", unix.BPF_PROG_TYPE_CGROUP_SOCK_ADDR},
		{KindProgs, "lwt_seg6local", unix.BPF_PROG_TYPE_LWT_SEG6LOCAL},
		{KindProgs, "lirc_mode2", unix.BPF_PROG_TYPE_LIRC_MODE2},
		{KindProgs, "sk_reuseport", unix.BPF_PROG_TYPE_SK_REUSEPORT},
		{KindProgs, "flow_dissector", unix.BPF_PROG_TYPE_FLOW_DISSECTOR},
		{KindProgs, "cgroup_sysctl", unix.BPF_PROG_TYPE_CGROUP_SYSCTL},
		{KindProgs, "raw_tracepoint_writable", unix.BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE},
		{KindProgs, "cgroup_sockopt", unix.BPF_PROG_TYPE_CGROUP_SOCKOPT},
		{KindProgs, "tracing", unix.BPF_PROG_TYPE_TRACING},
		{KindProgs, "struct_ops", unix.BPF_PROG_TYPE_STRUCT_OPS},
		{KindProgs, "ext", unix.BPF_PROG_TYPE_EXT},
		{KindProgs, "lsm", unix.BPF_PROG_TYPE_LSM},
		{KindProgs, "sk_lookup", unix.BPF_PROG_TYPE_SK_LOOKUP},
		{KindProgs, "syscall", unix.BPF_PROG_TYPE_SYSCALL},
		{KindProgs, "netfilter", unix.BPF_PROG_TYPE_NETFILTER},
		{KindAttachs, "cgroup_inet_ingress", unix.BPF_CGROUP_INET_INGRESS},
		{KindAttachs, "cgroup_inet_egress", unix.BPF_CGROUP_INET_EGRESS},
		{KindAttachs, "cgroup_inet_sock_create", unix.BPF_CGROUP_INET_SOCK_CREATE},
		{KindAttachs, "cgroup_sock_ops", unix.BPF_CGROUP_SOCK_OPS},
		{KindAttachs, "sk_skb_stream_parser", unix.BPF_SK_SKB_STREAM_PARSER},
		{KindAttachs, "sk_skb_stream_verdict", unix.BPF_SK_SKB_STREAM_VERDICT},
		{KindAttachs, "cgroup_device", unix.BPF_CGROUP_DEVICE},
		{KindAttachs, "sk_msg_verdict", unix.BPF_SK_MSG_VERDICT},
		{KindAttachs, "cgroup_inet4_bind", unix.BPF_CGROUP_INET4_BIND},
		{KindAttachs, "cgroup_inet6_bind", unix.BPF_CGROUP_INET6_BIND},
		{KindAttachs, "cgroup_inet4_connect", unix.BPF_CGROUP_INET4_CONNECT},
		{KindAttachs, "cgroup_inet6_connect", unix.BPF_CGROUP_INET6_CONNECT},
		{KindAttachs, "cgroup_inet4_post_bind", unix.BPF_CGROUP_INET4_POST_BIND},
		{KindAttachs, "cgroup_inet6_post_bind", unix.BPF_CGROUP_INET6_POST_BIND},
		{KindAttachs, "cgroup_udp4_sendmsg", unix.BPF_CGROUP_UDP4_SENDMSG},
		{KindAttachs, "cgroup_udp6_sendmsg", unix.BPF_CGROUP_UDP6_SENDMSG},
		{KindAttachs, "lirc_mode2", unix.BPF_LIRC_MODE2},
		{KindAttachs, "flow_dissector", unix.BPF_FLOW_DISSECTOR},
		{KindAttachs, "cgroup_sysctl", unix.BPF_CGROUP_SYSCTL},
		{KindAttachs, "cgroup_udp4_recvmsg", unix.BPF_CGROUP_UDP4_RECVMSG},
		{KindAttachs, "cgroup_udp6_recvmsg", unix.BPF_CGROUP_UDP6_RECVMSG},
		{KindAttachs, "cgroup_getsockopt", unix.BPF_CGROUP_GETSOCKOPT},
		{KindAttachs, "cgroup_setsockopt", unix.BPF_CGROUP_SETSOCKOPT},
		{KindAttachs, "trace_raw_tp", unix.BPF_TRACE_RAW_TP},
		{KindAttachs, "trace_fentry", unix.BPF_TRACE_FENTRY},
		{KindAttachs, "trace_fexit", unix.BPF_TRACE_FEXIT},
		{KindAttachs, "modify_return", unix.BPF_MODIFY_RETURN},
		{KindAttachs, "lsm_mac", unix.BPF_LSM_MAC},
		{KindAttachs, "trace_iter", unix.BPF_TRACE_ITER},
		{KindAttachs, "cgroup_inet4_getpeername", unix.BPF_CGROUP_INET4_GETPEERNAME},
		{KindAttachs, "cgroup_inet6_getpeername", unix.BPF_CGROUP_INET6_GETPEERNAME},
		{KindAttachs, "cgroup_inet4_getsockname", unix.BPF_CGROUP_INET4_GETSOCKNAME},
		{KindAttachs, "cgroup_inet6_getsockname", unix.BPF_CGROUP_INET6_GETSOCKNAME},
		{KindAttachs, "xdp_devmap", unix.BPF_XDP_DEVMAP},
		{KindAttachs, "cgroup_inet_sock_release", unix.BPF_CGROUP_INET_SOCK_RELEASE},
		{KindAttachs, "xdp_cpumap", unix.BPF_XDP_CPUMAP},
		{KindAttachs, "sk_lookup", unix.BPF_SK_LOOKUP},
		{KindAttachs, "xdp", unix.BPF_XDP},
		{KindAttachs, "sk_skb_verdict", unix.BPF_SK_SKB_VERDICT},
		{KindAttachs, "sk_reuseport_select", unix.BPF_SK_REUSEPORT_SELECT},
		{KindAttachs, "sk_reuseport_select_or_migrate", unix.BPF_SK_REUSEPORT_SELECT_OR_MIGRATE},
		{KindAttachs, "perf_event", unix.BPF_PERF_EVENT},
		{KindAttachs, "trace_kprobe_multi", unix.BPF_TRACE_KPROBE_MULTI},
		{KindAttachs, "lsm_cgroup", unix.BPF_LSM_CGROUP},
		{KindAttachs, "struct_ops", unix.BPF_STRUCT_OPS},
		{KindAttachs, "netfilter", unix.BPF_NETFILTER},
		{KindAttachs, "tcx_ingress", unix.BPF_TCX_INGRESS},
		{KindAttachs, "tcx_egress", unix.BPF_TCX_EGRESS},
		{KindAttachs, "trace_uprobe_multi", unix.BPF_TRACE_UPROBE_MULTI},
	}
	for _, tt := range tests {
		got, ok := tt.kind.Value(tt.name)
		if !ok || got != uint(tt.want) {
			t.Errorf("%v.Value(%q) = %d, %v; unix says %d", tt.kind, tt.name, got, ok, tt.want)
			continue
		}
		// The name the table prints for that value must read back the same.
		canon, ok := tt.kind.Name(got)
		if back, _ := tt.kind.Value(canon); !ok || back != got {
			t.Errorf("%v.Name(%d) = %q, %v; does not map back", tt.kind, got, canon, ok)
		}
	}
}

func TestEnumTables(t *testing.T) {
	tests := []struct {
		kind     Kind
		count    int // distinct values, __MAX_* excluded
		aliases  map[string]string
		lastName string
		cEnum    string
		cPrefix  string
		noun     string
	}{
		{KindCmds, 38, map[string]string{"prog_run": "prog_test_run"},
			"prog_stream_read_by_fd", "bpf_cmd", "BPF_", "bpf command"},
		{KindMaps, 34, map[string]string{
			"cgroup_storage_deprecated":        "cgroup_storage",
			"percpu_cgroup_storage_deprecated": "percpu_cgroup_storage",
		}, "arena", "bpf_map_type", "BPF_MAP_TYPE_", "map type"},
		{KindProgs, 33, nil, "netfilter", "bpf_prog_type", "BPF_PROG_TYPE_", "program type"},
		{KindAttachs, 58, nil, "trace_uprobe_session", "bpf_attach_type", "BPF_", "attach type"},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			tab := tt.kind.table()
			if got := len(tab.canonical); got != tt.count {
				t.Errorf("%d names, want %d", got, tt.count)
			}
			if tab.cEnum != tt.cEnum || tab.cPrefix != tt.cPrefix || tab.noun != tt.noun {
				t.Errorf("table metadata = %q %q %q", tab.cEnum, tab.cPrefix, tab.noun)
			}
			// A u64 mask has room for values 0..63 only.
			if tt.count > 64 {
				t.Fatalf("enum has values >= 64")
			}
			want := uint64(1)<<tt.count - 1
			if got := tt.kind.KnownMask(); got != want {
				t.Errorf("KnownMask() = %#x, want %#x", got, want)
			}
			if got, _ := tt.kind.Name(uint(tt.count - 1)); got != tt.lastName {
				t.Errorf("last name = %q, want %q", got, tt.lastName)
			}
			if _, ok := tt.kind.Name(uint(tt.count)); ok {
				t.Errorf("Name(%d) has a name", tt.count)
			}
			seen := map[string]bool{}
			for v := range uint(tt.count) {
				name, ok := tt.kind.Name(v)
				if !ok || name == "" || name != strings.ToLower(name) || seen[name] {
					t.Errorf("Name(%d) = %q, %v: missing, not lowercase or duplicate", v, name, ok)
				}
				seen[name] = true
				if got, ok := tt.kind.Value(strings.ToUpper(name)); !ok || got != v {
					t.Errorf("Value(%q) = %d, %v; want %d", strings.ToUpper(name), got, ok, v)
				}
				if strings.HasPrefix(name, strings.ToLower(tt.cPrefix)) {
					t.Errorf("name %q kept the prefix", name)
				}
			}
			if len(tab.aliases) != len(tt.aliases) {
				t.Errorf("%d aliases, want %d", len(tab.aliases), len(tt.aliases))
			}
			for alias, canon := range tt.aliases {
				v, ok := tt.kind.Value(alias)
				if !ok {
					t.Errorf("alias %q not accepted", alias)
					continue
				}
				if got, _ := tt.kind.Name(v); got != canon {
					t.Errorf("alias %q prints as %q, want %q", alias, got, canon)
				}
				if got := tt.kind.FormatMask(1 << v); got != canon {
					t.Errorf("FormatMask(alias %q) = %q, want %q", alias, got, canon)
				}
			}
		})
	}
}

func TestKindStrings(t *testing.T) {
	tests := []struct {
		kind                 Kind
		str, option, annoKey string
	}{
		{KindCmds, "cmds", "delegate_cmds", AnnotationCmds},
		{KindMaps, "maps", "delegate_maps", AnnotationMaps},
		{KindProgs, "progs", "delegate_progs", AnnotationProgs},
		{KindAttachs, "attachs", "delegate_attachs", AnnotationAttachs},
	}
	if len(tests) != len(Kinds) {
		t.Fatalf("test covers %d kinds, Kinds has %d", len(tests), len(Kinds))
	}
	for i, tt := range tests {
		if Kinds[i] != tt.kind {
			t.Errorf("Kinds[%d] = %v, want %v", i, Kinds[i], tt.kind)
		}
		if got := tt.kind.String(); got != tt.str {
			t.Errorf("String() = %q, want %q", got, tt.str)
		}
		if got := tt.kind.MountOption(); got != tt.option {
			t.Errorf("MountOption() = %q, want %q", got, tt.option)
		}
		if got := tt.kind.AnnotationKey(); got != tt.annoKey {
			t.Errorf("AnnotationKey() = %q, want %q", got, tt.annoKey)
		}
	}
}

// An out-of-range Kind is a caller bug, but it must not panic where the
// caller might only be logging it.
func TestInvalidKind(t *testing.T) {
	for _, k := range []Kind{-1, 4, 100} {
		if got := k.String(); !strings.HasPrefix(got, "Kind(") {
			t.Errorf("String() = %q", got)
		}
		if _, ok := k.Value("hash"); ok {
			t.Errorf("%v.Value found a name", k)
		}
		if _, ok := k.Name(0); ok {
			t.Errorf("%v.Name found a name", k)
		}
		if k.KnownMask() != 0 {
			t.Errorf("%v.KnownMask() != 0", k)
		}
		if got := k.FormatMask(5); got != "0x5" {
			t.Errorf("%v.FormatMask(5) = %q", k, got)
		}
		if _, err := k.ParseList("hash"); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("%v.ParseList: %v", k, err)
		}
	}
}

func TestValue(t *testing.T) {
	tests := []struct {
		kind Kind
		name string
		want uint
		ok   bool
	}{
		{KindCmds, "map_create", 0, true},
		{KindCmds, "MAP_CREATE", 0, true},
		{KindCmds, "Prog_Load", 5, true},
		{KindCmds, "prog_run", 10, true},
		{KindCmds, "token_create", 36, true},
		{KindMaps, "cgroup_storage_deprecated", 19, true},
		{KindMaps, "CGRP_STORAGE", 32, true},
		{KindProgs, "xdp", 6, true},
		{KindAttachs, "xdp", 37, true},
		{KindAttachs, "trace_uprobe_session", 57, true},
		// Not names: the prefix, padding, "any", and Unicode case folding
		// (U+212A KELVIN SIGN lowercases to 'k').
		{KindMaps, "BPF_MAP_TYPE_HASH", 0, false},
		{KindMaps, " hash", 0, false},
		{KindMaps, "any", 0, false},
		{KindMaps, "", 0, false},
		{KindProgs, "\u212Aprobe", 0, false},
		{KindProgs, "kprobe\x00", 0, false},
		{KindCmds, "__max_bpf_cmd", 0, false},
	}
	for _, tt := range tests {
		got, ok := tt.kind.Value(tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%v.Value(%q) = %d, %v; want %d, %v", tt.kind, tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// TestTablesMatchRunningKernel compares the tables with the running kernel's
// BTF, which is where bpffs itself looks names up. On the 6.18 kernel the
// tables were taken from, they must match exactly. Elsewhere a difference is
// only logged: older kernels lack the newest members, newer ones add members
// this package will learn about when the tables are updated.
func TestTablesMatchRunningKernel(t *testing.T) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		testenv.Unavailable(t, fmt.Sprintf("no kernel BTF to compare the tables with: %v", err))
	}
	release, err := procfs.KernelRelease()
	if err != nil {
		t.Fatal(err)
	}
	strict := strings.HasPrefix(release, "6.18.") || release == "6.18"
	report := t.Logf
	if strict {
		report = t.Errorf
	}

	enums := map[Kind]string{
		KindCmds: "bpf_cmd", KindMaps: "bpf_map_type",
		KindProgs: "bpf_prog_type", KindAttachs: "bpf_attach_type",
	}
	for _, k := range Kinds {
		var e *btf.Enum
		if err := spec.TypeByName(enums[k], &e); err != nil {
			t.Errorf("%s: %v", enums[k], err)
			continue
		}
		tab := k.table()
		inKernel := map[string]bool{}
		for _, m := range e.Values {
			if !strings.HasPrefix(m.Name, tab.cPrefix) {
				continue // __MAX_* sentinels
			}
			name := strings.ToLower(strings.TrimPrefix(m.Name, tab.cPrefix))
			inKernel[name] = true
			if m.Value >= 64 {
				t.Errorf("kernel %s has %s = %d, beyond a u64 mask", enums[k], m.Name, m.Value)
				continue
			}
			got, ok := k.Value(name)
			switch {
			case !ok:
				report("kernel %s has %s = %d, the table does not (kernel %s)", enums[k], m.Name, m.Value, release)
			case uint64(got) != m.Value:
				// Values of the UAPI are fixed forever: this is a real bug.
				t.Errorf("%s: %s = %d in the kernel, %d in the table", enums[k], m.Name, m.Value, got)
			}
		}
		for name := range tab.byName {
			if !inKernel[name] {
				report("table %v has %q, kernel %s (%s) does not", k, name, release, enums[k])
			}
		}
		if bits.OnesCount64(k.KnownMask()) != len(tab.canonical) {
			t.Errorf("%v: KnownMask has %d bits for %d names", k, bits.OnesCount64(k.KnownMask()), len(tab.canonical))
		}
	}
}
