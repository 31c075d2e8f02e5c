package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// udpHeaderLen: a socket filter on a UDP socket sees the datagram from its
// UDP header on.
const udpHeaderLen = 8

// filteredUDP opens a UDP socket on 127.0.0.1 with prog attached
// (SO_ATTACH_BPF).
func filteredUDP(prog *ebpf.Program) (*net.UDPConn, error) {
	conn, _, err := listenUDP(0)
	if err != nil {
		return nil, err
	}
	raw, err := conn.SyscallConn()
	if err == nil {
		if cerr := raw.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_BPF, prog.FD())
		}); cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		conn.Close()
		return nil, step("attach (SO_ATTACH_BPF)", err)
	}
	return conn, nil
}

func runSocketFilter(fs *flag.FlagSet, args []string) (string, error) {
	packets := fs.Int("packets", 10, "datagrams to send")
	if err := parse(fs, args, 0); err != nil {
		return "", err
	}
	counters, err := newCounters("wl_sockfilter", 1)
	if err != nil {
		return "", err
	}
	defer counters.Close()
	insns := count(counters, 0, "out")
	insns = append(insns,
		asm.Mov.Imm32(asm.R0, -1).WithSymbol("out"), // keep the whole packet
		asm.Return(),
	)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "wl_sockfilter",
		Type:         ebpf.SocketFilter,
		License:      "Apache-2.0",
		Instructions: insns,
	})
	if err != nil {
		return "", step("load program", err)
	}
	defer prog.Close()

	conn, err := filteredUDP(prog)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	n, err := sendAndCount(conn, *packets, "the filter", counters)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("socket filter counted %d of %d datagrams on %s", n[0], *packets, conn.LocalAddr()), nil
}

func runRingbuf(fs *flag.FlagSet, args []string) (string, error) {
	packets := fs.Int("packets", 10, "datagrams to send (payloads of 10, 20, ... bytes)")
	if err := parse(fs, args, 0); err != nil {
		return "", err
	}
	events, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "wl_ringbuf",
		Type:       ebpf.RingBuf,
		MaxEntries: 1 << 16,
	})
	if err != nil {
		return "", step("create map", err)
	}
	defer events.Close()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "wl_ringbuf",
		Type:    ebpf.SocketFilter,
		License: "Apache-2.0",
		Instructions: asm.Instructions{
			// u32 len = skb->len, on the stack
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
			asm.StoreMem(asm.RFP, -8, asm.R2, asm.Word),
			// bpf_ringbuf_output(&events, &len, 4, 0)
			asm.LoadMapPtr(asm.R1, events.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -8),
			asm.Mov.Imm(asm.R3, 4),
			asm.Mov.Imm(asm.R4, 0),
			asm.FnRingbufOutput.Call(),
			asm.Mov.Imm32(asm.R0, -1),
			asm.Return(),
		},
	})
	if err != nil {
		return "", step("load program", err)
	}
	defer prog.Close()
	rd, err := ringbuf.NewReader(events)
	if err != nil {
		return "", step("open ring buffer reader", err)
	}
	defer rd.Close()

	conn, err := filteredUDP(prog)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	sizes := make([]int, *packets)
	total := 0
	for i := range sizes {
		sizes[i] = 10 * (i + 1)
		total += sizes[i]
	}
	if _, err := sendToSelf(conn, sizes, 2*time.Second); err != nil {
		return "", err
	}
	rd.SetDeadline(time.Now().Add(2 * time.Second))
	for i, size := range sizes {
		rec, err := rd.Read()
		if err != nil {
			return "", step("read ring buffer", fmt.Errorf("record %d of %d: %w", i+1, len(sizes), err))
		}
		if len(rec.RawSample) != 4 {
			return "", step("check", fmt.Errorf("record %d has %d bytes, want 4", i+1, len(rec.RawSample)))
		}
		if l := binary.NativeEndian.Uint32(rec.RawSample); l != uint32(size+udpHeaderLen) {
			return "", step("check", fmt.Errorf("record %d: packet length %d, want %d (%d bytes of payload + the UDP header)", i+1, l, size+udpHeaderLen, size))
		}
	}
	return fmt.Sprintf("%d ring buffer records read, packet lengths %d..%d bytes (%d bytes of payload + %d-byte UDP headers)",
		len(sizes), sizes[0]+udpHeaderLen, sizes[len(sizes)-1]+udpHeaderLen, total, udpHeaderLen), nil
}
