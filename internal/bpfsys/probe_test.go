package bpfsys

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
)

// The kernel, not a seccomp filter, answers an unknown command with EINVAL:
// the probe's seccomp check relies on it.
func TestRawUnknownCommand(t *testing.T) {
	testenv.Privileged(t)
	if _, err := Raw(0xffff); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("bpf(0xffff) = %v, want EINVAL", err)
	}
}

// An fd that is no BPF object gets EINVAL, which is also what kernels
// without token info answer for a token.
func TestGetTokenInfoNotBPF(t *testing.T) {
	testenv.Privileged(t)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := GetTokenInfo(int(f.Fd())); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("GetTokenInfo(/dev/null) = %v, want EINVAL", err)
	}
}

// Map types with requirements of their own load as root when MapAttr
// carries them, which checks where MapCreateAttr puts each field.
func TestMapCreateAttrLayout(t *testing.T) {
	testenv.Privileged(t)
	tests := []struct {
		name string
		attr MapAttr
	}{
		{"queue without key", MapAttr{Type: 22, ValueSize: 8, MaxEntries: 1}},
		{"ringbuf of one page", MapAttr{Type: 27, MaxEntries: uint32(os.Getpagesize())}},
		{"lpm_trie without preallocation", MapAttr{Type: 11, KeySize: 8, ValueSize: 8, MaxEntries: 1, Flags: FlagNoPrealloc}},
		{"cgroup_storage sized by the kernel", MapAttr{Type: 19, KeySize: 8, ValueSize: 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fd, err := MapCreateAttr(-1, tt.attr)
			if err != nil {
				t.Fatalf("MapCreateAttr(%+v) = %v", tt.attr, err)
			}
			unix.Close(fd)
		})
	}
	// A wrong size is refused, so the fields above did reach the kernel.
	if fd, err := MapCreateAttr(-1, MapAttr{Type: 22, KeySize: 4, ValueSize: 8, MaxEntries: 1}); err == nil {
		unix.Close(fd)
		t.Error("queue with a key: created, want EINVAL")
	}
}
