package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// listenUDP opens a UDP socket on 127.0.0.1 at port (0: a free one) and
// returns it with its port.
func listenUDP(port uint16) (*net.UDPConn, uint16, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port)})
	if err != nil {
		return nil, 0, step("open UDP socket", err)
	}
	return conn, uint16(conn.LocalAddr().(*net.UDPAddr).Port), nil
}

// sendToSelf sends one datagram per size in sizes from conn to conn's own
// address, then reads until as many arrived or none arrived for wait. It
// returns the sizes received, in order. A receive timeout is not an error:
// the caller compares what arrived with what it sent.
func sendToSelf(conn *net.UDPConn, sizes []int, wait time.Duration) ([]int, error) {
	self := conn.LocalAddr().(*net.UDPAddr)
	for _, n := range sizes {
		if _, err := conn.WriteToUDP(make([]byte, n), self); err != nil {
			return nil, step("send datagram", err)
		}
	}
	var got []int
	buf := make([]byte, 65536)
	for len(got) < len(sizes) {
		if err := conn.SetReadDeadline(time.Now().Add(wait)); err != nil {
			return nil, step("receive datagram", err)
		}
		n, _, err := conn.ReadFromUDP(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			return nil, step("receive datagram", err)
		}
		got = append(got, n)
	}
	return got, nil
}

// sendAndCount sends n 32-byte datagrams from conn to itself, then reads
// counter 0 of each map in counters. It fails with step "check" unless all n
// arrived and every counter is n; who names the counting program(s) there.
func sendAndCount(conn *net.UDPConn, n int, who string, counters ...*ebpf.Map) ([]uint64, error) {
	got, err := sendToSelf(conn, repeat(32, n), 2*time.Second)
	if err != nil {
		return nil, err
	}
	counts := make([]uint64, len(counters))
	ok := len(got) == n
	for i, m := range counters {
		if counts[i], err = counter(m, 0); err != nil {
			return nil, err
		}
		ok = ok && counts[i] == uint64(n)
	}
	if !ok {
		return nil, step("check", fmt.Errorf("sent %d datagrams, received %d, %s counted %v", n, len(got), who, counts))
	}
	return counts, nil
}

// repeat returns n copies of size.
func repeat(size, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = size
	}
	return s
}

// newCounters creates an array map of n u64 counters.
func newCounters(name string, n uint32) (*ebpf.Map, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       name,
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  8,
		MaxEntries: n,
	})
	return m, step("create map", err)
}

// counter reads counter i of m.
func counter(m *ebpf.Map, i uint32) (uint64, error) {
	var v uint64
	return v, step("read map", m.Lookup(i, &v))
}

// count returns instructions adding 1 to counter key of m. They clobber
// R0-R5.
func count(m *ebpf.Map, key int32, label string) asm.Instructions {
	return asm.Instructions{
		asm.StoreImm(asm.RFP, -4, int64(key), asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, label),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
	}
}

// Offsets of data and data_end in the program contexts.
const (
	xdpData      = 0  // struct xdp_md
	xdpDataEnd   = 4  //
	skbData      = 76 // struct __sk_buff
	skbDataEnd   = 80 //
	ethHeaderLen = 14
)

// udpToPort is a program, with R1 = the context, that counts (counter 0 of
// m) the IPv4 UDP packets to port and returns onMatch for them, other for
// the rest. dataOff and dataEndOff are the context's data and data_end
// fields; l2 is the length of the link-layer header before the IPv4 header
// (14 for XDP and tc on lo, 0 for cgroup_skb). Only IPv4 headers without
// options are matched, which is what the kernel sends on lo.
func udpToPort(m *ebpf.Map, dataOff, dataEndOff int16, l2 int16, port uint16, onMatch, other int32) asm.Instructions {
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, dataOff, asm.Word),
		asm.LoadMem(asm.R3, asm.R1, dataEndOff, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, int32(l2)+20+8),
		asm.JGT.Reg(asm.R4, asm.R3, "other"),
	}
	if l2 > 0 {
		insns = append(insns,
			asm.LoadMem(asm.R5, asm.R2, 12, asm.Half), // h_proto
			asm.JNE.Imm(asm.R5, int32(be16(0x0800)), "other"),
		)
	}
	insns = append(insns,
		asm.LoadMem(asm.R5, asm.R2, l2, asm.Byte), // version 4, IHL 5
		asm.JNE.Imm(asm.R5, 0x45, "other"),
		asm.LoadMem(asm.R5, asm.R2, l2+9, asm.Byte), // protocol
		asm.JNE.Imm(asm.R5, int32(17), "other"),
		asm.LoadMem(asm.R5, asm.R2, l2+20+2, asm.Half), // UDP destination port
		asm.JNE.Imm(asm.R5, int32(be16(port)), "other"),
	)
	insns = append(insns, count(m, 0, "match")...)
	return append(insns,
		asm.Mov.Imm(asm.R0, onMatch).WithSymbol("match"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, other).WithSymbol("other"),
		asm.Return(),
	)
}

// be16 is the value a 16-bit load gives for v stored in network byte order.
func be16(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// interfaceIndex returns the index of the named interface.
func interfaceIndex(name string) (int, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, step("find interface", fmt.Errorf("%s: %w", name, err))
	}
	return ifi.Index, nil
}
