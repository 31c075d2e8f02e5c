package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"syscall"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

const (
	xdpDrop  = 1  // XDP_DROP
	xdpPass  = 2  // XDP_PASS
	tcxNext  = -1 // TCX_NEXT: on to the next program / the stack
	lossWait = 300 * time.Millisecond
)

func runXDP(fs *flag.FlagSet, args []string) (string, error) {
	iface := fs.String("iface", "lo", "`interface` to attach to (the datagrams to 127.0.0.1 pass through lo)")
	port := fs.Uint("port", 0, "UDP `port` whose datagrams are dropped (default: a free port)")
	packets := fs.Int("packets", 10, "datagrams to send to each port")
	viaNetlink := fs.Bool("netlink", false, "attach through netlink (RTM_SETLINK IFLA_XDP) instead of a BPF link")
	if err := parse(fs, args, 0); err != nil {
		return "", err
	}
	if *port > 65535 {
		fmt.Fprintln(fs.Output(), "-port must be 0..65535")
		return "", errUsage
	}
	ifindex, err := interfaceIndex(*iface)
	if err != nil {
		return "", err
	}
	dropped, dropPort, err := listenUDP(uint16(*port))
	if err != nil {
		return "", err
	}
	defer dropped.Close()
	passed, _, err := listenUDP(0)
	if err != nil {
		return "", err
	}
	defer passed.Close()

	counters, err := newCounters("wl_xdp", 1)
	if err != nil {
		return "", err
	}
	defer counters.Close()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "wl_xdp",
		Type:         ebpf.XDP,
		AttachType:   ebpf.AttachXDP,
		License:      "Apache-2.0",
		Instructions: udpToPort(counters, xdpData, xdpDataEnd, ethHeaderLen, dropPort, xdpDrop, xdpPass),
	})
	if err != nil {
		return "", step("load program", err)
	}
	defer prog.Close()

	how := "BPF link"
	if *viaNetlink {
		how = "netlink"
		if err := xdpNetlink(ifindex, prog.FD()); err != nil {
			return "", step("attach (netlink)", err)
		}
		defer func() { _ = xdpNetlink(ifindex, -1) }() // the netns would take it away anyway
	} else {
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: link.XDPGenericMode})
		if err != nil {
			return "", step("attach (BPF_LINK_CREATE)", err)
		}
		defer l.Close()
	}

	lost, err := sendToSelf(dropped, repeat(32, *packets), lossWait)
	if err != nil {
		return "", err
	}
	got, err := sendToSelf(passed, repeat(32, *packets), 2*time.Second)
	if err != nil {
		return "", err
	}
	n, err := counter(counters, 0)
	if err != nil {
		return "", err
	}
	if len(lost) != 0 || len(got) != *packets || n != uint64(*packets) {
		return "", step("check", fmt.Errorf("port %d: %d of %d datagrams received (want 0), counter %d (want %d); port %d: %d of %d received",
			dropPort, len(lost), *packets, n, *packets, passed.LocalAddr().(*net.UDPAddr).Port, len(got), *packets))
	}
	return fmt.Sprintf("xdp on %s (generic, %s) dropped %d of %d datagrams to port %d (counter %d, 0 received); port %d received %d of %d",
		*iface, how, *packets, *packets, dropPort, n, passed.LocalAddr().(*net.UDPAddr).Port, len(got), *packets), nil
}

// xdpNetlink attaches the XDP program progFD (-1: detaches) in generic mode
// to interface ifindex with RTM_SETLINK, the way ip link set xdpgeneric does.
// The kernel checks CAP_NET_ADMIN over the user namespace that owns the
// network namespace (netlink_ns_capable).
func xdpNetlink(ifindex, progFD int) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}

	attr := func(typ uint16, payload []byte) []byte {
		b := make([]byte, unix.SizeofRtAttr, unix.SizeofRtAttr+len(payload)+3)
		binary.NativeEndian.PutUint16(b[0:], uint16(unix.SizeofRtAttr+len(payload)))
		binary.NativeEndian.PutUint16(b[2:], typ)
		b = append(b, payload...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	u32 := func(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
	xdp := append(attr(unix.IFLA_XDP_FD, u32(uint32(int32(progFD)))), attr(unix.IFLA_XDP_FLAGS, u32(unix.XDP_FLAGS_SKB_MODE))...)
	ifi := unix.IfInfomsg{Family: unix.AF_UNSPEC, Index: int32(ifindex)}
	body := append(unsafe.Slice((*byte)(unsafe.Pointer(&ifi)), unix.SizeofIfInfomsg), attr(unix.IFLA_XDP|unix.NLA_F_NESTED, xdp)...)
	hdr := unix.NlMsghdr{
		Len:   uint32(unix.SizeofNlMsghdr + len(body)),
		Type:  unix.RTM_SETLINK,
		Flags: unix.NLM_F_REQUEST | unix.NLM_F_ACK,
		Seq:   1,
	}
	msg := append(unsafe.Slice((*byte)(unsafe.Pointer(&hdr)), unix.SizeofNlMsghdr), body...)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}

	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Type != unix.NLMSG_ERROR || m.Header.Seq != 1 {
				continue
			}
			if len(m.Data) < 4 {
				return fmt.Errorf("short netlink error message")
			}
			if code := int32(binary.NativeEndian.Uint32(m.Data)); code != 0 {
				return unix.Errno(-code)
			}
			return nil
		}
	}
}

func runTCX(fs *flag.FlagSet, args []string) (string, error) {
	iface := fs.String("iface", "lo", "`interface` to attach to at ingress (the datagrams to 127.0.0.1 pass through lo)")
	packets := fs.Int("packets", 10, "datagrams to send")
	if err := parse(fs, args, 0); err != nil {
		return "", err
	}
	ifindex, err := interfaceIndex(*iface)
	if err != nil {
		return "", err
	}
	conn, port, err := listenUDP(0)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	counters, err := newCounters("wl_tcx", 1)
	if err != nil {
		return "", err
	}
	defer counters.Close()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "wl_tcx",
		Type:         ebpf.SchedCLS,
		AttachType:   ebpf.AttachTCXIngress,
		License:      "Apache-2.0",
		Instructions: udpToPort(counters, skbData, skbDataEnd, ethHeaderLen, port, tcxNext, tcxNext),
	})
	if err != nil {
		return "", step("load program", err)
	}
	defer prog.Close()
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: prog, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		return "", step("attach (BPF_LINK_CREATE)", err)
	}
	defer l.Close()

	n, err := sendAndCount(conn, *packets, "tcx", counters)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("tcx ingress on %s counted %d of %d datagrams to 127.0.0.1:%d, all %d received", *iface, n[0], *packets, port, *packets), nil
}
