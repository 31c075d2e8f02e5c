package bpfsys

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"unsafe"
)

// More bpf commands and flags from include/uapi/linux/bpf.h, for the probes a
// tool runs to learn what a token allows.
const (
	cmdObjGetInfoByFD = 15

	// FlagNoPrealloc is BPF_F_NO_PREALLOC, which lpm_trie and the local
	// storage maps require.
	FlagNoPrealloc = 1 << 0
	// FlagMmapable is BPF_F_MMAPABLE, which arena maps require.
	FlagMmapable = 1 << 10
)

// TokenInfo is struct bpf_token_info: the delegation masks a token carries,
// one bit per enum value.
type TokenInfo struct {
	AllowedCmds    uint64
	AllowedMaps    uint64
	AllowedProgs   uint64
	AllowedAttachs uint64
}

// tokenInfoSize is sizeof(struct bpf_token_info).
const tokenInfoSize = int(unsafe.Sizeof(TokenInfo{}))

// GetTokenInfo reads a token's masks with BPF_OBJ_GET_INFO_BY_FD. Kernels
// before 6.17 have no info for token fds and answer EINVAL, as for any fd
// that is no BPF object. token must be a token: for a map or program fd the
// kernel fills in that object's info, which this would misread.
func GetTokenInfo(token int) (TokenInfo, error) {
	var info TokenInfo
	var a [attrSize]byte
	put32(&a, 0, uint32(token))         // info.bpf_fd
	put32(&a, 4, uint32(tokenInfoSize)) // info.info_len
	put64(&a, 8, uint64(uintptr(unsafe.Pointer(&info))))
	_, err := bpf(cmdObjGetInfoByFD, &a)
	runtime.KeepAlive(&info)
	if err != nil {
		return TokenInfo{}, err
	}
	// The kernel writes back how much it filled in: less than the whole
	// struct would leave masks we would wrongly read as "nothing allowed".
	if n := int(get32(&a, 4)); n < tokenInfoSize {
		return TokenInfo{}, fmt.Errorf("kernel returned %d bytes of bpf_token_info, want %d", n, tokenInfoSize)
	}
	return info, nil
}

// MapAttr is the part of BPF_MAP_CREATE's attr that decides whether the
// kernel's per-type checks accept a map. Map types differ in what they
// require (queues take no key, ringbufs a page-sized max_entries, local
// storage maps BTF type ids), and most of these checks run before the
// permission check, so a probe must pass them to learn what the token says.
type MapAttr struct {
	Type       uint32
	KeySize    uint32
	ValueSize  uint32
	MaxEntries uint32
	Flags      uint32
	// BTF type ids; a probe may pass made-up ids to get past the checks
	// that only look at whether they are set (the map then fails later,
	// after the permission check, with another errno than EPERM).
	BTFKeyTypeID          uint32
	BTFValueTypeID        uint32
	BTFVmlinuxValueTypeID uint32
}

// MapCreateAttr creates a map described by m, through token (or without one
// when token < 0).
func MapCreateAttr(token int, m MapAttr) (int, error) {
	var a [attrSize]byte
	put32(&a, 0, m.Type)
	put32(&a, 4, m.KeySize)
	put32(&a, 8, m.ValueSize)
	put32(&a, 12, m.MaxEntries)
	flags := m.Flags
	if token >= 0 {
		flags |= flagTokenFD
		put32(&a, 76, uint32(token)) // map_token_fd
	}
	put32(&a, 16, flags)
	put32(&a, 52, m.BTFKeyTypeID)
	put32(&a, 56, m.BTFValueTypeID)
	put32(&a, 60, m.BTFVmlinuxValueTypeID)
	return bpf(cmdMapCreate, &a)
}

// Raw issues bpf(cmd) with an all-zero attr. With a command no kernel knows
// it tells who answers: the kernel says EINVAL, a seccomp filter that blocks
// bpf() says EPERM (or ENOSYS) before the kernel sees the call.
func Raw(cmd int) (int, error) {
	var a [attrSize]byte
	return bpf(cmd, &a)
}

func get32(a *[attrSize]byte, off int) uint32 { return binary.NativeEndian.Uint32(a[off:]) }
