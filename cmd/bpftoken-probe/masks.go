package main

import (
	"strings"

	"github.com/nri-bpftoken/nri-bpftoken/internal/bpfsys"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// masks holds one delegation mask per spec.Kind, indexed by it.
type masks [len(spec.Kinds)]uint64

func masksFromTokenInfo(ti bpfsys.TokenInfo) masks {
	var m masks
	m[spec.KindCmds] = ti.AllowedCmds
	m[spec.KindMaps] = ti.AllowedMaps
	m[spec.KindProgs] = ti.AllowedProgs
	m[spec.KindAttachs] = ti.AllowedAttachs
	return m
}

// names renders one mask as a list for people and jq: canonical names in
// value order, then bits without a name as one hex item, or ["any"] when all
// 64 bits are set. Never nil, so that JSON shows [] rather than null.
func (m masks) names(k spec.Kind) []string {
	s := k.FormatMask(m[k])
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ":")
}

// has reports whether bit is set in the mask of k.
func (m masks) has(k spec.Kind, bit uint) bool { return m[k]&(1<<bit) != 0 }

// sameDelegation reports whether a token mask matches a mount option mask.
// bpffs prints "any" whenever every bit the kernel knows is set, so a mount
// mask of all ones (from "any") matches a token that has every known bit,
// not only one that has all 64.
func sameDelegation(k spec.Kind, token, mount uint64) bool {
	if mount == ^uint64(0) {
		known := k.KnownMask()
		return token&known == known
	}
	return token == mount
}
