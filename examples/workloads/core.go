package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// defaultCoreObject is where images built by test/images/build-image.sh
// carry core.bpf.o, compiled by clang from bpf/core.bpf.c.
const defaultCoreObject = "/usr/local/lib/bpfworkload/core.bpf.o"

// The slots of core.bpf.c's result map.
const (
	slotPid = iota
	slotLevel
	slotHostTasks
	slotMismatch
)

// runCORE loads bpf/core.bpf.c's object the way CO-RE programs are loaded:
// cilium/ebpf relocates its field accesses against the kernel's BTF. The
// raw tracepoint then reads this process's pid in its own pid namespace
// out of the kernel's task and pid structs, which must be getpid().
func runCORE(fs *flag.FlagSet, args []string) (string, error) {
	obj := fs.String("obj", defaultCoreObject, "the compiled bpf/core.bpf.c `object`")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: bpfworkload core [-obj FILE]")
		fs.PrintDefaults()
	}
	if err := parse(fs, args, 0); err != nil {
		return "", err
	}
	spec, err := ebpf.LoadCollectionSpec(*obj)
	if err != nil {
		return "", step("read object", err)
	}
	var objs struct {
		Prog   *ebpf.Program `ebpf:"core_pid"`
		Result *ebpf.Map     `ebpf:"result"`
	}
	// CO-RE relocation happens here, against /sys/kernel/btf/vmlinux; then
	// the map is created and the program loaded.
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return "", step("load object", err)
	}
	defer objs.Prog.Close()
	defer objs.Result.Close()
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: objs.Prog})
	if err != nil {
		return "", step("attach (BPF_RAW_TRACEPOINT_OPEN)", err)
	}
	defer l.Close()

	// Every syscall of this process fires the tracepoint; wait for the
	// program to have seen one.
	want := uint64(os.Getpid())
	var pid, level, hostTasks, mismatch uint64
	for deadline := time.Now().Add(2 * time.Second); ; {
		if pid, err = counter(objs.Result, slotPid); err != nil {
			return "", err
		}
		if pid != 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for slot, v := range map[int]*uint64{slotLevel: &level, slotHostTasks: &hostTasks, slotMismatch: &mismatch} {
		if *v, err = counter(objs.Result, uint32(slot)); err != nil {
			return "", err
		}
	}
	switch {
	case pid == 0:
		return "", step("check", fmt.Errorf("the program never saw this process"))
	case pid != want || mismatch != 0:
		return "", step("check", fmt.Errorf("the CO-RE read gave pid %d, getpid() is %d; %d tgid mismatches", pid, want, mismatch))
	}
	return fmt.Sprintf("CO-RE read pid %d (getpid %d) at pid namespace level %d; the program also saw %d syscalls of tasks in the host's pid namespace",
		pid, want, level, hostTasks), nil
}
