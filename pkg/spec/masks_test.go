package spec

import (
	"reflect"
	"testing"
)

func TestMasksNames(t *testing.T) {
	m := Masks{KindCmds: maskOf(0, 5), KindMaps: maskOf(2, 63), KindProgs: ^uint64(0)}
	for k, want := range map[Kind][]string{
		KindCmds:    {"map_create", "prog_load"},
		KindMaps:    {"array", "0x8000000000000000"},
		KindProgs:   {"any"},
		KindAttachs: {}, // not nil: JSON shows [] rather than null
	} {
		if got := m.Names(k); !reflect.DeepEqual(got, want) || got == nil {
			t.Errorf("Names(%v) = %#v, want %#v", k, got, want)
		}
	}
	if !m.Has(KindMaps, 63) || m.Has(KindMaps, 1) || m.Has(KindAttachs, 0) {
		t.Errorf("Has is wrong for %#x", m)
	}
}

func TestSameDelegation(t *testing.T) {
	known := KindMaps.KnownMask()
	tests := []struct {
		name string
		a, b uint64
		want bool
	}{
		{"equal", 4, 4, true},
		{"different", 4, 8, false},
		{"any and all 64 bits", ^uint64(0), ^uint64(0), true},
		{"any and every known bit", ^uint64(0), known, true},
		{"any and every known bit and more", ^uint64(0), known | 1<<63, true},
		{"any and less", ^uint64(0), known &^ 4, false},
		{"nothing and every known bit", 0, known, false},
	}
	for _, tt := range tests {
		// The rule is symmetric: either side may be the one bpffs showed.
		for _, ab := range [][2]uint64{{tt.a, tt.b}, {tt.b, tt.a}} {
			if got := KindMaps.SameDelegation(ab[0], ab[1]); got != tt.want {
				t.Errorf("%s: SameDelegation(%#x, %#x) = %v, want %v", tt.name, ab[0], ab[1], got, tt.want)
			}
		}
	}
}
