// Package bpfsys issues the few raw bpf() commands the tests and tools need
// to prove what a BPF token allows: token creation, and map, program and BTF
// loads through a token.
//
// Its one hard constraint: it talks to the kernel directly (no library that
// might probe, fall back or retry), so that an EPERM observed here is the
// kernel's verdict on exactly one command with exactly one token.
package bpfsys

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// bpf commands and flags from include/uapi/linux/bpf.h.
const (
	cmdMapCreate   = 0
	cmdMapLookup   = 1
	cmdMapUpdate   = 2
	cmdProgLoad    = 5
	cmdObjPin      = 6
	cmdObjGet      = 7
	cmdBTFLoad     = 18
	cmdTokenCreate = 36

	flagTokenFD = 1 << 16 // BPF_F_TOKEN_FD
)

// attrSize covers every bpf_attr variant used here (the kernel accepts a
// larger zero-padded attr).
const attrSize = 160

func bpf(cmd int, attr *[attrSize]byte) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(unsafe.Pointer(attr)), attrSize)
	runtime.KeepAlive(attr)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

func put32(a *[attrSize]byte, off int, v uint32) { binary.NativeEndian.PutUint32(a[off:], v) }
func put64(a *[attrSize]byte, off int, v uint64) { binary.NativeEndian.PutUint64(a[off:], v) }

// TokenCreate creates a BPF token from bpffsFD, an O_RDONLY|O_DIRECTORY fd on
// the root of a delegated bpffs.
func TokenCreate(bpffsFD int) (int, error) {
	var a [attrSize]byte
	put32(&a, 4, uint32(bpffsFD)) // token_create.bpffs_fd
	return bpf(cmdTokenCreate, &a)
}

// MapCreate creates a map of the given type with 4-byte keys and 8-byte
// values, through token (or without one when token < 0).
func MapCreate(token int, mapType uint32) (int, error) {
	var a [attrSize]byte
	put32(&a, 0, mapType)
	put32(&a, 4, 4)
	put32(&a, 8, 8)
	put32(&a, 12, 1)
	if token >= 0 {
		put32(&a, 16, flagTokenFD) // map_flags
		put32(&a, 76, uint32(token))
	}
	return bpf(cmdMapCreate, &a)
}

// ProgLoad loads "r0 = 0; exit" as a program of progType with
// expectedAttach, through token (or without one when token < 0).
func ProgLoad(token int, progType, expectedAttach uint32) (int, error) {
	insns := []uint64{
		0x00000000000000b7, // BPF_ALU64|BPF_MOV|BPF_K r0 = 0
		0x0000000000000095, // BPF_JMP|BPF_EXIT
	}
	license := []byte("GPL\x00")
	var a [attrSize]byte
	put32(&a, 0, progType)
	put32(&a, 4, uint32(len(insns)))
	put64(&a, 8, uint64(uintptr(unsafe.Pointer(&insns[0]))))
	put64(&a, 16, uint64(uintptr(unsafe.Pointer(&license[0]))))
	put32(&a, 68, expectedAttach)
	if token >= 0 {
		put32(&a, 44, flagTokenFD) // prog_flags
		put32(&a, 144, uint32(token))
	}
	fd, err := bpf(cmdProgLoad, &a)
	runtime.KeepAlive(insns)
	runtime.KeepAlive(license)
	return fd, err
}

// BTFLoad loads a minimal BTF blob (one 32-bit int type) through token (or
// without one when token < 0).
func BTFLoad(token int) (int, error) {
	blob := minimalBTF()
	var a [attrSize]byte
	put64(&a, 0, uint64(uintptr(unsafe.Pointer(&blob[0]))))
	put32(&a, 16, uint32(len(blob)))
	if token >= 0 {
		put32(&a, 32, flagTokenFD) // btf_flags
		put32(&a, 36, uint32(token))
	}
	fd, err := bpf(cmdBTFLoad, &a)
	runtime.KeepAlive(blob)
	return fd, err
}

// ObjPin pins the object fd at path, which must be inside a bpffs.
func ObjPin(fd int, path string) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	var a [attrSize]byte
	put64(&a, 0, uint64(uintptr(unsafe.Pointer(p))))
	put32(&a, 8, uint32(fd))
	_, err = bpf(cmdObjPin, &a)
	runtime.KeepAlive(p)
	return err
}

// ObjGet opens the object pinned at path (no token needed: the bpffs's
// permissions decide).
func ObjGet(path string) (int, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	var a [attrSize]byte
	put64(&a, 0, uint64(uintptr(unsafe.Pointer(p))))
	fd, err := bpf(cmdObjGet, &a)
	runtime.KeepAlive(p)
	return fd, err
}

// MapUpdate sets the 8-byte value of the 4-byte key in a map made by
// MapCreate.
func MapUpdate(fd int, key uint32, value uint64) error {
	var a [attrSize]byte
	put32(&a, 0, uint32(fd))
	put64(&a, 8, uint64(uintptr(unsafe.Pointer(&key))))
	put64(&a, 16, uint64(uintptr(unsafe.Pointer(&value))))
	_, err := bpf(cmdMapUpdate, &a)
	runtime.KeepAlive(&key)
	runtime.KeepAlive(&value)
	return err
}

// MapLookup reads the 8-byte value of the 4-byte key in a map made by
// MapCreate.
func MapLookup(fd int, key uint32) (uint64, error) {
	var value uint64
	var a [attrSize]byte
	put32(&a, 0, uint32(fd))
	put64(&a, 8, uint64(uintptr(unsafe.Pointer(&key))))
	put64(&a, 16, uint64(uintptr(unsafe.Pointer(&value))))
	_, err := bpf(cmdMapLookup, &a)
	runtime.KeepAlive(&key)
	return value, err
}

func minimalBTF() []byte {
	const (
		hdrLen  = 24
		typeLen = 16 // btf_type (12) + int encoding (4)
		strs    = "\x00int\x00"
	)
	b := make([]byte, hdrLen+typeLen+len(strs))
	le := binary.NativeEndian
	le.PutUint16(b[0:], 0xeB9F) // magic
	b[2] = 1                    // version
	le.PutUint32(b[4:], hdrLen)
	le.PutUint32(b[8:], 0)                  // type_off
	le.PutUint32(b[12:], typeLen)           // type_len
	le.PutUint32(b[16:], typeLen)           // str_off
	le.PutUint32(b[20:], uint32(len(strs))) // str_len
	t := b[hdrLen:]
	le.PutUint32(t[0:], 1)         // name_off: "int"
	le.PutUint32(t[4:], 1<<24)     // info: kind BTF_KIND_INT
	le.PutUint32(t[8:], 4)         // size
	le.PutUint32(t[12:], 1<<24|32) // BTF_INT_SIGNED, 32 bits
	copy(b[hdrLen+typeLen:], strs)
	return b
}

// Describe renders an outcome as the tests compare it: "ok" or the errno's
// name, e.g. "EPERM".
func Describe(err error) string {
	if err == nil {
		return "ok"
	}
	if errno, ok := err.(unix.Errno); ok {
		if name := unix.ErrnoName(errno); name != "" {
			return name
		}
	}
	return fmt.Sprint(err)
}
