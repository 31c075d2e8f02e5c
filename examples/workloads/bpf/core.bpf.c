// SPDX-License-Identifier: GPL-2.0
//
// core.bpf.c: the CO-RE workload of bpfworkload (examples/workloads/core.go).
//
// A raw tracepoint on sys_enter that, for the tasks called "bpfworkload",
// reads the task's thread-group leader, its struct pid and the pid number in
// the task's own pid namespace (numbers[level].nr) with CO-RE: the field
// offsets below are only names, which the loader (cilium/ebpf) relocates
// against the running kernel's BTF (/sys/kernel/btf/vmlinux). The user-space
// side checks that the number read is its own getpid(). The program also
// counts the events of tasks in the host's pid namespace (level 0): a raw
// tracepoint sees every task of the host, not only the container's.
//
// Build (make bin/core.bpf.o): clang -O2 -g -target bpf -c core.bpf.c
// No header is needed: the few kernel types and helpers are declared here.

typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

// Helper ids from enum bpf_func_id (include/uapi/linux/bpf.h).
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static __u64 (*bpf_get_current_pid_tgid)(void) = (void *)14;
static long (*bpf_get_current_comm)(void *buf, __u32 size) = (void *)16;
static __u64 (*bpf_get_current_task)(void) = (void *)35;
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *src) = (void *)113;

// What libbpf's BPF_CORE_READ does for one field: the address is computed
// with the kernel's offsets, recorded as a CO-RE relocation.
#define CORE_READ(dst, src) bpf_probe_read_kernel((dst), sizeof(*(dst)), __builtin_preserve_access_index(src))

// The fields read, under their kernel names; everything else is left out,
// but for ns: numbers[level] is indexed with a value known only at run
// time, which CO-RE cannot relocate, so struct upid must have the kernel's
// size (as it does with vmlinux.h).
struct upid {
	int nr;
	void *ns;
} __attribute__((preserve_access_index));

struct pid {
	unsigned int level;
	struct upid numbers[1];
} __attribute__((preserve_access_index));

struct task_struct {
	int tgid;
	struct task_struct *group_leader;
	struct pid *thread_pid;
} __attribute__((preserve_access_index));

enum {
	slotPid,       // the CO-RE-read pid of a "bpfworkload" task, in its pid namespace
	slotLevel,     // that pid namespace's level (0: the host's)
	slotHostTasks, // events of tasks in the host's pid namespace
	slotMismatch,  // events whose CO-RE-read tgid differs from the helper's
	slotCount,
};

struct {
	__uint(type, 2); // BPF_MAP_TYPE_ARRAY
	__uint(max_entries, slotCount);
	__type(key, __u32);
	__type(value, __u64);
} result SEC(".maps");

static void set(__u32 slot, __u64 v)
{
	__u64 *p = bpf_map_lookup_elem(&result, &slot);
	if (p)
		*p = v;
}

static void add(__u32 slot)
{
	__u64 *p = bpf_map_lookup_elem(&result, &slot);
	if (p)
		__sync_fetch_and_add(p, 1);
}

SEC("raw_tracepoint/sys_enter")
int core_pid(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct task_struct *leader = 0;
	struct pid *pid = 0;
	unsigned int level = 0;
	int tgid = 0, nr = 0;

	CORE_READ(&tgid, &task->tgid);
	if ((__u32)tgid != bpf_get_current_pid_tgid() >> 32)
		add(slotMismatch);
	CORE_READ(&leader, &task->group_leader);
	CORE_READ(&pid, &leader->thread_pid);
	CORE_READ(&level, &pid->level);
	if (level == 0)
		add(slotHostTasks);

	char comm[16] = {};
	const char want[] = "bpfworkload";
	bpf_get_current_comm(comm, sizeof(comm));
#pragma unroll
	for (int i = 0; i < sizeof(want); i++)
		if (comm[i] != want[i])
			return 0;
	if (level > 31) // bounds the index for the verifier; no kernel nests deeper
		return 0;
	CORE_READ(&nr, &pid->numbers[level].nr);
	set(slotPid, nr);
	set(slotLevel, level);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
