package main

import (
	"fmt"
	"slices"

	"github.com/nri-bpftoken/nri-bpftoken/internal/mountinfo"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// bpffsMounts returns the bpffs entries, one per mount point. When mounts are
// stacked on one point, the last line is the one on top, which is what
// opening the path reaches.
func bpffsMounts(entries []mountinfo.Entry) []mountinfo.Entry {
	var out []mountinfo.Entry
	for _, e := range entries {
		if e.FSType != "bpf" {
			continue
		}
		if i := slices.IndexFunc(out, func(o mountinfo.Entry) bool { return o.MountPoint == e.MountPoint }); i >= 0 {
			out[i] = e
			continue
		}
		out = append(out, e)
	}
	return out
}

// orderCandidates sorts bpffs mounts in the order the probe tries them: those
// that delegate something first (a token can come only from them, and their
// error is the one worth reporting), and among equals /sys/fs/bpf first (where
// libbpf looks), then mountinfo order (which cilium/ebpf follows).
func orderCandidates(mounts []mountinfo.Entry) []mountinfo.Entry {
	out := slices.Clone(mounts)
	rank := func(e mountinfo.Entry) int {
		r := 0
		if !delegates(e) {
			r += 2
		}
		if e.MountPoint != spec.DefaultPath {
			r++
		}
		return r
	}
	slices.SortStableFunc(out, func(a, b mountinfo.Entry) int { return rank(a) - rank(b) })
	return out
}

// delegates reports whether the superblock carries any delegate_* option.
// The kernel shows none for a zero mask, so presence means something is
// delegated.
func delegates(e mountinfo.Entry) bool {
	for _, k := range spec.Kinds {
		if _, ok := e.SuperOpt(k.MountOption()); ok {
			return true
		}
	}
	return false
}

// delegateMasks parses the delegate_* options. The kernel writes names from
// its BTF (the deprecated alias for two map types, which spec accepts), a
// hex number for bits without a name, and "any" when every bit it knows is
// set; a kernel newer than spec's tables may show a name spec does not know,
// which is an error here rather than a silently smaller mask.
func delegateMasks(e mountinfo.Entry) (spec.Masks, error) {
	var m spec.Masks
	for _, k := range spec.Kinds {
		v, ok := e.SuperOpt(k.MountOption())
		if !ok {
			continue
		}
		mask, err := k.ParseList(v)
		if err != nil {
			return spec.Masks{}, fmt.Errorf("mount option %s=%s of %s: %w", k.MountOption(), v, e.MountPoint, err)
		}
		m[k] = mask
	}
	return m, nil
}

// findMountPoint returns the entry mounted at path (the last one if stacked).
func findMountPoint(entries []mountinfo.Entry, path string) (mountinfo.Entry, bool) {
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].MountPoint == path {
			return entries[i], true
		}
	}
	return mountinfo.Entry{}, false
}
