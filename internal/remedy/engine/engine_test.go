package engine

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/bpffs"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/userns"
)

func TestHint(t *testing.T) {
	tests := []struct {
		err  error
		want string // "" for no hint
	}{
		{fmt.Errorf("pid 7: %w", userns.ErrHostUserNamespace), "hostUsers: false"},
		{fmt.Errorf("pid 7: %w", userns.ErrNoProcess), "exited before the hook ran"},
		{fmt.Errorf("x: %w", userns.ErrUnexpectedUserNamespace), "not this container's process"},
		{fmt.Errorf("x: %w", bpffs.ErrNoTokenSupport), "Linux >= 6.9"},
		{fmt.Errorf("x: %w", bpffs.ErrNotPrivileged), "run the hook as root on the host"},
		{fmt.Errorf("x: %w", bpffs.ErrNotDirectory), "set bpf.token/path to a directory"},
		{fmt.Errorf("x: %w", bpffs.ErrPossibleAttack), "renames directories while the hook resolves"},
		{errors.New("something else"), ""},
	}
	for _, tt := range tests {
		got := Hint(tt.err, "the hook")
		if tt.want == "" {
			if got != "" {
				t.Errorf("Hint(%v) = %q, want none", tt.err, got)
			}
			continue
		}
		if !strings.HasPrefix(got, "; ") || !strings.Contains(got, tt.want) {
			t.Errorf("Hint(%v) = %q, want \"; ...%s...\"", tt.err, got, tt.want)
		}
	}
}
