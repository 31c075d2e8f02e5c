package spec

import "strings"

// Masks holds one delegation mask per Kind, indexed by it. Indexing with a
// Kind outside Kinds panics: silently dropping a mask would mount a bpffs
// that delegates less than intended.
type Masks [len(Kinds)]uint64

// Has reports whether bit is set in the mask of k.
func (m Masks) Has(k Kind, bit uint) bool { return m[k]&(1<<bit) != 0 }

// Names renders the mask of k as a list for people and jq: FormatMask's
// items (canonical names in value order, then bits without a name as one hex
// item, or "any" for all 64 bits). Never nil, so that JSON shows [] rather
// than null.
func (m Masks) Names(k Kind) []string {
	s := k.FormatMask(m[k])
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ":")
}

// SameDelegation reports whether masks a and b of k delegate the same. bpffs
// shows "any" whenever every bit the kernel knows is set, so a mask of all
// ones (parsed from "any") matches one with every known bit, not only one
// with all 64.
func (k Kind) SameDelegation(a, b uint64) bool {
	known := k.KnownMask()
	return a == b ||
		a == ^uint64(0) && b&known == known ||
		b == ^uint64(0) && a&known == known
}

// Or returns the items of m and of other.
func (m Masks) Or(other Masks) Masks {
	for k := range m {
		m[k] |= other[k]
	}
	return m
}

// Minus returns the items of m that other lacks.
func (m Masks) Minus(other Masks) Masks {
	var out Masks
	for k := range m {
		out[k] = m[k] &^ other[k]
	}
	return out
}
