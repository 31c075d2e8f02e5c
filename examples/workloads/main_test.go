package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

func TestDescribe(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{step("load program", fmt.Errorf("load program: %w", unix.EPERM)), "load program: operation not permitted (EPERM)"},
		{step("attach (BPF_LINK_CREATE)", fmt.Errorf("create link: %w", unix.EPERM)),
			"attach (BPF_LINK_CREATE): create link: operation not permitted (EPERM)"},
		{step("open pin (BPF_OBJ_GET)", unix.ENOENT), "open pin (BPF_OBJ_GET): no such file or directory (ENOENT)"},
		{step("check", errors.New("sent 3\ndatagrams,  received 2")), "check: sent 3 datagrams, received 2"},
		{step("x", unix.Errno(4095)), "x: errno 4095 (errno 4095)"},
	}
	for _, tt := range tests {
		if got := describe(tt.err); got != tt.want {
			t.Errorf("describe(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestBe16(t *testing.T) {
	// Stored with the machine's byte order, be16(v) lays out v's bytes in
	// network order: what a 16-bit packet load compares against.
	for _, v := range []uint16{0x0800, 9, 53, 0xfffe} {
		got := binary.NativeEndian.AppendUint16(nil, be16(v))
		if want := binary.BigEndian.AppendUint16(nil, v); !bytes.Equal(got, want) {
			t.Errorf("be16(%#x) stored as % x, want % x", v, got, want)
		}
	}
}
