// Command bpfworkload runs real eBPF workloads, one per subcommand, to prove
// what a BPF token lets a user-namespaced container do. Each subcommand loads
// its program (written with cilium/ebpf's asm package: no clang, no object
// files), attaches it, generates traffic and checks the effect:
//
//	bpfworkload <name>: ok: <the measured effect, with numbers>   (stdout, exit 0)
//	bpfworkload <name>: <step>: <error> (<ERRNO>)                 (stderr, exit 1)
//
// The failure line names the step the kernel refused ("create map", "load
// program", "attach (BPF_LINK_CREATE)", "attach (netlink)", ...) and its
// errno, so that tests can assert which check failed. Exit code 2: usage.
//
// Build it as a static binary (make bin/bpfworkload):
//
//	CGO_ENABLED=0 go build -trimpath -o bpfworkload ./examples/workloads
//
// # Subcommands and what they need
//
// Every subcommand but get needs a delegated bpffs (github.com/cilium/ebpf
// finds it by itself, see examples/tokencount), CAP_BPF in the container's
// user namespace to create the token (podman: --cap-add BPF) and a seccomp
// profile that lets bpf() through (examples/seccomp/bpf.json). The exact
// delegation (bpf.token/* annotations) and capabilities, each item proven
// necessary and the whole sufficient on podman 4.3 through the OCI hook by
// test/bats/workloads.bats (Linux 6.18):
//
//	subcommand     cmds                  maps     progs             attachs                                 caps
//	socket-filter  map_create:prog_load  array    socket_filter     cgroup_inet_ingress                     BPF
//	cgroup-skb     map_create:prog_load  array    cgroup_skb        cgroup_inet_ingress:cgroup_inet_egress  BPF, NET_ADMIN
//	connect-deny   map_create:prog_load  array    cgroup_sock_addr  cgroup_inet4_connect                    BPF, NET_ADMIN
//	xdp            map_create:prog_load  array    xdp               xdp                                     BPF, NET_ADMIN
//	tcx            map_create:prog_load  array    sched_cls         tcx_ingress                             BPF, NET_ADMIN
//	ringbuf        map_create:prog_load  ringbuf  socket_filter     cgroup_inet_ingress                     BPF
//	core           map_create:prog_load  array    raw_tracepoint    cgroup_inet_ingress                     BPF, PERFMON
//	pin            map_create            array    -                 -                                       BPF
//	get            -                     -        -                 -                                       none
//
// Without CAP_BPF there is no token and the map creation fails with EPERM;
// without map_create or the map type, likewise. A program's expected attach
// type is checked against the token at load time: a socket filter's is 0,
// which is cgroup_inet_ingress, so that item is needed even for socket
// filters; the xdp and tcx programs are loaded with expected attach types xdp
// and tcx_ingress. Without prog_load, the program type or its attach type,
// and without CAP_NET_ADMIN for xdp, sched_cls (tcx) and cgroup_sock_addr
// (connect-deny), the program load fails with EPERM. A cgroup_skb program
// loads without CAP_NET_ADMIN, but BPF_LINK_CREATE on the cgroup then fails
// with EPERM. BPF links, pinning and BPF_OBJ_GET need nothing in cmds.
//
//   - socket-filter [-packets N]: an array map, a socket filter counting the
//     packets of a UDP socket on 127.0.0.1 (SO_ATTACH_BPF); sends N datagrams
//     to itself and checks the count.
//   - cgroup-skb [-packets N] [-cgroup DIR]: two cgroup_skb programs counting
//     the UDP datagrams to a socket of its own at the ingress and at the
//     egress of the process's own cgroup v2, attached with BPF_LINK_CREATE
//     (link.AttachCgroup); checks both counts. The directory comes from
//     /proc/self/cgroup's "0::" line and the cgroup2 mounts in
//     /proc/self/mountinfo; when a mount's root is above the cgroup
//     namespace's root ("/.."), the directory below it whose cgroup.procs
//     lists the process; -cgroup overrides. The hook delegates cgroup program
//     types only to a container with a cgroup namespace of its own (podman:
//     --cgroupns=private), and the container must see a cgroup2 mount: on a
//     host with hybrid cgroups, runc mounts only the v1 hierarchies, so the
//     tests put the container under a cgroup parent of its own and bind-mount
//     that parent's directory of the host's cgroup2 tree.
//   - connect-deny [-port P] [-tries N] [-cgroup DIR]: a cgroup_sock_addr
//     program at cgroup_inet4_connect, attached to the own cgroup v2 like
//     cgroup-skb, refusing (and counting) connect() to port P; checks that N
//     connect() to 127.0.0.1:P fail with EPERM and that connect() to a TCP
//     listener of its own on 127.0.0.1 works.
//   - xdp [-iface IF] [-port P] [-packets N] [-netlink]: an XDP program (generic
//     mode) dropping and counting the UDP datagrams to port P (default: a free
//     port), attached with a BPF link (link.AttachXDP), or through netlink
//     (RTM_SETLINK, IFLA_XDP) with -netlink; checks that none of N datagrams
//     to P arrive, that the counter is N and that N datagrams to another port
//     arrive. The datagrams to 127.0.0.1 pass through lo only. Netlink needs
//     CAP_NET_ADMIN over the user namespace that owns the network namespace:
//     it works in podman's and a containerd pod's own network namespace
//     (created in the container's or the pod's user namespace) and fails
//     with EPERM in one owned by the host's user namespace (a netns from ip
//     netns add, host network), where the BPF link still works (it checks no
//     netns owner).
//   - tcx [-iface IF] [-packets N]: a sched_cls program attached with tcx at
//     ingress (link.AttachTCX) counting the UDP datagrams to a socket of its
//     own; checks the count. Works in a host-owned network namespace too.
//   - ringbuf [-packets N]: a socket filter writing one record (the packet
//     length) per packet into a ring buffer, read in user space with
//     cilium/ebpf's ringbuf reader; sends N datagrams of 10, 20, ... bytes and
//     checks each record (payload + the 8-byte UDP header).
//   - core [-obj FILE]: loads bpf/core.bpf.c, compiled by clang with BTF
//     (make bin/core.bpf.o; images carry it at
//     /usr/local/lib/bpfworkload/core.bpf.o): a raw tracepoint on sys_enter
//     whose CO-RE reads of the kernel's task_struct and struct pid, relocated
//     by cilium/ebpf against the running kernel's BTF, give this process's pid
//     in its own pid namespace; checks it is getpid(). The program fires for
//     every task of the host: it counts those in the host's pid namespace.
//     btf_load is not needed: cilium/ebpf relocates in user space and loads
//     the program without BTF when the token does not allow BTF_LOAD.
//   - pin [-bpffs DIR] [-value V] NAME: creates an array map, stores V and pins
//     it as DIR/NAME (mode 0600, owned by the caller).
//   - get [-bpffs DIR] NAME: opens the pin (BPF_OBJ_GET) and prints the value.
//     Needs no token and no capability, only access to the pin: the same
//     bpffs (another process of the same container, podman exec), and the
//     pin's file permissions (EACCES otherwise). Another container has a
//     bpffs of its own (ENOENT), and cannot bind-mount the first one's: a
//     mount of another mount namespace cannot be bound (EINVAL).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A workload parses its arguments and returns its effect, or an error from
// step().
type workload func(fs *flag.FlagSet, args []string) (string, error)

var workloads = map[string]workload{
	"socket-filter": runSocketFilter,
	"cgroup-skb":    runCgroupSKB,
	"connect-deny":  runConnectDeny,
	"xdp":           runXDP,
	"tcx":           runTCX,
	"ringbuf":       runRingbuf,
	"core":          runCORE,
	"pin":           runPin,
	"get":           runGet,
}

func main() {
	if len(os.Args) < 2 || workloads[os.Args[1]] == nil {
		names := make([]string, 0, len(workloads))
		for n := range workloads {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "usage: bpfworkload {%s} [flags]\n", strings.Join(names, "|"))
		os.Exit(2)
	}
	name := os.Args[1]
	fs := flag.NewFlagSet("bpfworkload "+name, flag.ContinueOnError)
	effect, err := workloads[name](fs, os.Args[2:])
	if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bpfworkload %s: %s\n", name, describe(err))
		os.Exit(1)
	}
	fmt.Printf("bpfworkload %s: ok: %s\n", name, effect)
}

// errUsage: bad arguments (the flag package printed the usage).
var errUsage = errors.New("usage")

// parse parses args with fs and checks the number of positional arguments.
func parse(fs *flag.FlagSet, args []string, positional int) error {
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != positional {
		fmt.Fprintf(fs.Output(), "%s: want %d positional arguments, got %d\n", fs.Name(), positional, fs.NArg())
		fs.Usage()
		return errUsage
	}
	// Counts of datagrams and attempts: at least one, or nothing is proven.
	bad := ""
	fs.VisitAll(func(f *flag.Flag) {
		if n, err := strconv.Atoi(f.Value.String()); (f.Name == "packets" || f.Name == "tries") && (err != nil || n < 1) {
			bad = f.Name
		}
	})
	if bad != "" {
		fmt.Fprintf(fs.Output(), "%s: -%s must be at least 1\n", fs.Name(), bad)
		return errUsage
	}
	return nil
}

// stepError is an error with the step that failed.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// step wraps err (if any) with the step that failed.
func step(what string, err error) error {
	if err == nil {
		return nil
	}
	return &stepError{what, err}
}

// describe renders err as one line: "<step>: <error> (<ERRNO>)", without
// repeating the step when the library's message already starts with it, and
// without the errno when there is none.
func describe(err error) string {
	msg := err.Error()
	var se *stepError
	if errors.As(err, &se) {
		inner := se.err.Error()
		inner = strings.TrimPrefix(inner, se.step+": ")
		msg = se.step + ": " + inner
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if name := errnoName(err); name != "" {
		msg += " (" + name + ")"
	}
	return msg
}

// errnoName is the symbolic name of the errno in err's chain ("EPERM"), or "".
func errnoName(err error) string {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return ""
	}
	if name := unix.ErrnoName(errno); name != "" {
		return name
	}
	return fmt.Sprintf("errno %d", int(errno))
}
