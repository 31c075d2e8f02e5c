// Command tokencount shows that an unmodified eBPF library works inside an
// unprivileged (user-namespaced) container once a delegated bpffs is mounted.
//
// It creates an ARRAY map with one u64 slot, loads a socket filter that
// atomically adds 1 to that slot for every packet it sees, attaches the filter
// with SO_ATTACH_BPF to a UDP socket on 127.0.0.1 in the container's own
// network namespace, sends itself -packets datagrams and prints the count:
//
//	tokencount: loaded socket_filter via BPF token, counted 10 packets
//
// Build it as a static binary and copy it into any image:
//
//	CGO_ENABLED=0 go build -o tokencount ./examples/tokencount
//
// # How the BPF token is found
//
// There is no token-specific code here: github.com/cilium/ebpf (>= v0.22.0)
// does it by itself. On the first BPF_MAP_CREATE, BPF_PROG_LOAD or
// BPF_BTF_LOAD it reads /proc/self/mountinfo, and for every mount of type
// "bpf" (in mountinfo order) it opens the mount point with
// O_RDONLY|O_DIRECTORY and calls BPF_TOKEN_CREATE on it. Mounts that fail with
// EACCES, EINVAL, EPERM, EOPNOTSUPP or ENOENT are skipped; the first token
// that works is cached for the lifetime of the process and passed (with
// BPF_F_TOKEN_FD) to every map create, program load and BTF load. So the
// delegated bpffs can be mounted at /sys/fs/bpf or anywhere else; the
// library does not look at LIBBPF_BPF_TOKEN_PATH (that variable is libbpf's;
// libbpf >= 1.4 uses /sys/fs/bpf unless LIBBPF_BPF_TOKEN_PATH says otherwise).
// The mount list is read once per process: the bpffs must be mounted before
// the program starts.
//
// # What the container needs
//
//   - a bpffs instance owned by the container's user namespace, mounted (by
//     a process privileged in the initial user namespace) with at least
//     delegate_cmds=map_create:prog_load
//     delegate_maps=array
//     delegate_progs=socket_filter
//     delegate_attachs=cgroup_inet_ingress
//     (a socket filter's expected attach type is 0, which is
//     BPF_CGROUP_INET_INGRESS; the kernel checks it even for socket filters).
//     Pinning (-pin), SO_ATTACH_BPF and reading the map need no further
//     delegation.
//   - CAP_BPF in the container's user namespace, to create the token
//     (podman: --cap-add BPF). CAP_NET_ADMIN and CAP_PERFMON are not needed
//     for a socket filter.
//   - a seccomp profile that lets bpf() through (podman 4.3's default profile
//     allows bpf() only with CAP_SYS_ADMIN; see examples/seccomp/bpf.json).
//   - a kernel >= 6.9 with BPF tokens, and no lockdown in integrity mode.
//
// Without a usable token, creating the map fails with EPERM (when
// kernel.unprivileged_bpf_disabled is set, the usual default).
//
// Exit codes: 0 success, 1 failure, 2 usage, 3 (-check-pin) pin not found.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

func main() {
	packets := flag.Int("packets", 10, "number of UDP datagrams to send to ourselves")
	pin := flag.String("pin", "", "pin the counter map as `NAME` under the -bpffs directory")
	checkPin := flag.String("check-pin", "", "only check whether pin `NAME` exists under -bpffs (exit 0 if it does, 3 if not)")
	bpffs := flag.String("bpffs", "/sys/fs/bpf", "bpffs `directory` used for -pin and -check-pin (token discovery does not use it)")
	flag.Parse()
	if flag.NArg() != 0 || *packets < 0 {
		flag.Usage()
		os.Exit(2)
	}

	if *checkPin != "" {
		os.Exit(doCheckPin(filepath.Join(*bpffs, *checkPin)))
	}

	var pinPath string
	if *pin != "" {
		pinPath = filepath.Join(*bpffs, *pin)
	}
	n, err := run(*packets, pinPath)
	if err != nil {
		fail(err)
	}
	how := "via BPF token"
	if !haveTokenFD() {
		// Privileged in the initial user namespace (the library does not use
		// a token there), or unprivileged BPF is allowed on this host.
		how = "without a BPF token"
	}
	msg := fmt.Sprintf("tokencount: loaded socket_filter %s, counted %d packets", how, n)
	if pinPath != "" {
		msg += ", pinned map at " + pinPath
	}
	fmt.Println(msg)
}

// stage wraps an error with the step that failed.
type stage struct {
	what string
	err  error
}

func (s *stage) Error() string { return s.what + ": " + s.err.Error() }
func (s *stage) Unwrap() error { return s.err }

func wrap(what string, err error) error { return &stage{what, err} }

func run(packets int, pinPath string) (uint64, error) {
	// One u64 slot. With a token, memory is charged to the memory cgroup
	// (kernel >= 5.11), so no RLIMIT_MEMLOCK change is needed (or possible
	// without CAP_SYS_RESOURCE).
	counter, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "tokencount",
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  8,
		MaxEntries: 1,
	})
	if err != nil {
		return 0, wrap("create map", err)
	}
	defer counter.Close()

	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "tokencount",
		Type:    ebpf.SocketFilter,
		License: "Apache-2.0",
		Instructions: asm.Instructions{
			// key = 0 on the stack
			asm.StoreImm(asm.RFP, -4, 0, asm.Word),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			// value = bpf_map_lookup_elem(&counter, &key)
			asm.LoadMapPtr(asm.R1, counter.FD()),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			// __sync_fetch_and_add(value, 1)
			asm.Mov.Imm(asm.R1, 1),
			asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
			// return -1: keep the whole packet
			asm.Mov.Imm32(asm.R0, -1).WithSymbol("out"),
			asm.Return(),
		},
	})
	if err != nil {
		return 0, wrap("load program", err)
	}
	defer prog.Close()

	if pinPath != "" {
		if err := counter.Pin(pinPath); err != nil {
			return 0, wrap("pin map", err)
		}
	}

	if err := ensureLoopbackUp(); err != nil {
		return 0, wrap("bring up lo", err)
	}

	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, wrap("open UDP socket", err)
	}
	defer conn.Close()

	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, wrap("attach program", err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_BPF, prog.FD())
	}); err != nil {
		serr = err
	}
	if serr != nil {
		return 0, wrap("attach program (SO_ATTACH_BPF)", serr)
	}

	self := conn.LocalAddr().(*net.UDPAddr)
	buf := make([]byte, 64)
	for i := 0; i < packets; i++ {
		if _, err := conn.WriteToUDP([]byte("tokencount"), self); err != nil {
			return 0, wrap("send datagram", err)
		}
		// Receiving it guarantees the filter has already run on it.
		if err := conn.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
			return 0, wrap("receive datagram", err)
		}
		if _, _, err := conn.ReadFromUDP(buf); err != nil {
			return 0, wrap("receive datagram", err)
		}
	}

	var count uint64
	if err := counter.Lookup(uint32(0), &count); err != nil {
		return 0, wrap("read map", err)
	}
	return count, nil
}

// ensureLoopbackUp brings lo up if it is down (needs CAP_NET_ADMIN then; a
// podman container's lo is already up).
func ensureLoopbackUp() error {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return err
	}
	if lo.Flags&net.FlagUp != 0 {
		return nil
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

func doCheckPin(path string) int {
	if _, err := os.Lstat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			fmt.Printf("tokencount: pin %s does not exist\n", path)
			return 3
		}
		fmt.Printf("tokencount: check pin %s: %v\n", path, err)
		return 1
	}
	msg := fmt.Sprintf("tokencount: pin %s exists", path)
	// Reading it back needs only BPF_OBJ_GET and map lookups, no delegation.
	if m, err := ebpf.LoadPinnedMap(path, nil); err == nil {
		var count uint64
		if m.Lookup(uint32(0), &count) == nil {
			msg += fmt.Sprintf(", counted %d packets", count)
		}
		m.Close()
	}
	fmt.Println(msg)
	return 0
}

// haveTokenFD reports whether this process holds a BPF token: cilium/ebpf
// keeps the token it created open for the lifetime of the process.
func haveTokenFD() bool {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return false
	}
	for _, e := range ents {
		l, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && strings.Contains(l, "bpf-token") {
			return true
		}
	}
	return false
}

func fail(err error) {
	msg := "tokencount: " + err.Error()
	switch {
	case errors.Is(err, unix.EPERM):
		msg += " (EPERM): "
		var s *stage
		if errors.As(err, &s) && strings.HasPrefix(s.what, "pin") {
			msg += "cannot write to the bpffs (is it the container's delegated bpffs?)"
		} else if haveTokenFD() {
			msg += "a BPF token was created but does not delegate enough " +
				"(need delegate_cmds=map_create:prog_load, delegate_maps=array, " +
				"delegate_progs=socket_filter, delegate_attachs=cgroup_inet_ingress)"
		} else {
			msg += "no BPF token: is a delegated bpffs mounted (e.g. at /sys/fs/bpf) " +
				"for this user namespace, does the process have CAP_BPF, " +
				"and does seccomp allow bpf()?"
		}
	case errors.Is(err, unix.EOPNOTSUPP):
		msg += " (EOPNOTSUPP): kernel without BPF token support, or lockdown?"
	}
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(1)
}
