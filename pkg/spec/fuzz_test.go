package spec

import (
	"errors"
	"path"
	"strings"
	"testing"
)

// fuzzKeys are the keys FuzzParseAnnotations can set, in the order of the
// bits of its present argument.
var fuzzKeys = [...]string{AnnotationCmds, AnnotationMaps, AnnotationProgs, AnnotationAttachs, AnnotationPath}

// FuzzParseAnnotations feeds arbitrary values (and one arbitrary extra key)
// through ParseAnnotations. Bit i of present sets fuzzKeys[i], bit 5 the extra
// key, so that "key present with an empty value" is reachable too.
//
// It checks that parsing never panics, that errors are single-line
// *AnnotationErrors wrapping one sentinel, and that a success is consistent:
// each mask equals what ParseList makes of the value and survives a
// FormatMask/ParseList round trip, and the path is clean and safe.
func FuzzParseAnnotations(f *testing.F) {
	f.Add(uint8(0b01111), "map_create:prog_load:btf_load", "array:ringbuf", "socket_filter", "cgroup_inet_ingress", "", "", "")
	f.Add(uint8(0b10010), "", "HASH, Array ,,", "", "", "/run/bpf//", "", "")
	f.Add(uint8(0b00101), "any", "", "0x1f:xdp", "", "", "", "")
	f.Add(uint8(0b11000), "", "", "", "18446744073709551615", "/sys/fs/bpf/", "", "")
	f.Add(uint8(0b10000), "", "", "", "", "/sys/fs/bpf", "", "")
	f.Add(uint8(0b100010), "", "hash", "", "", "", "bpf.token/prog", "xdp")
	f.Add(uint8(0b100000), "", "", "", "", "", "bpf.token/CMDS", "any")
	f.Add(uint8(0b00010), "", "hsh", "", "", "", "", "")
	f.Add(uint8(0b00001), "0x10000000000000000", "", "", "", "", "", "")
	f.Add(uint8(0b10001), "prog_run", "", "", "", "/a/../b", "", "")
	f.Add(uint8(0b00100), "", "", "\xff\xfe:xdp", "", "", "", "")
	f.Add(uint8(0b00011), "0", "0x0", "", "", "", "", "")
	f.Add(uint8(0b100001), "bpf_map_create", "", "", "", "", "other/key", "x")
	// Profiles come through the extra key.
	f.Add(uint8(0b100010), "", "lru_hash", "", "", "", "bpf.token/profile", "xdp, TC")
	f.Add(uint8(0b100000), "", "", "", "", "", "bpf.token/profile", "xpd")
	// A small YAML alias bomb, as a per-container value: not a key
	// ParseAnnotations knows (FuzzForContainer parses such values).
	f.Add(uint8(0b100000), "", "", "", "", "", "bpf.token/container.web", "a: &a [map_create, map_create]\nb: &b [*a, *a]\ncmds: [*b, *b]\n")

	f.Fuzz(func(t *testing.T, present uint8, cmds, maps, progs, attachs, p, extraKey, extraValue string) {
		ann := map[string]string{}
		for i, v := range [...]string{cmds, maps, progs, attachs, p} {
			if present&(1<<i) != 0 {
				ann[fuzzKeys[i]] = v
			}
		}
		if present&(1<<5) != 0 {
			ann[extraKey] = extraValue
		}

		ours := false
		for k := range ann {
			ours = ours || strings.HasPrefix(k, AnnotationPrefix)
		}
		if HasAnnotations(ann) != ours {
			t.Fatalf("HasAnnotations = %v, want %v", !ours, ours)
		}

		d, err := ParseAnnotations(ann)
		d2, err2 := ParseAnnotations(ann)
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() ||
			d != nil && (d2 == nil || *d != *d2) {
			t.Fatalf("not deterministic: %v, %v then %v, %v", d, err, d2, err2)
		}

		switch {
		case !ours:
			if d != nil || err != nil {
				t.Fatalf("no bpf.token/ key, got %v, %v", d, err)
			}
		case err != nil:
			checkFuzzError(t, d, err)
		default:
			checkFuzzDelegation(t, ann, d)
		}
	})
}

var annotationSentinels = []error{ErrUnknownKey, ErrUnknownName, ErrBadNumber, ErrBadPath, ErrNoDelegation, ErrTooLong, ErrUnknownProfile}

func checkFuzzError(t *testing.T, d *Delegation, err error) {
	t.Helper()
	if d != nil {
		t.Fatalf("Delegation %v along with error %v", *d, err)
	}
	var ae *AnnotationError
	if !errors.As(err, &ae) {
		t.Fatalf("%T is not an *AnnotationError: %v", err, err)
	}
	n := 0
	for _, s := range annotationSentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error wraps %d annotationSentinels: %v", n, err)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\n\r") {
		t.Fatalf("multi-line error: %q", msg)
	}
	// Everything user-supplied is clipped, so messages stay short whatever
	// the input.
	if len(msg) > 1024 || len(ae.Item) > maxEchoLen+3 || len(ae.Key) > maxEchoLen+3 {
		t.Fatalf("error echoes too much (%d bytes): %q", len(msg), msg)
	}
	if !strings.HasPrefix(ae.Key, AnnotationPrefix) {
		t.Fatalf("error names key %q outside %s", ae.Key, AnnotationPrefix)
	}
}

func checkFuzzDelegation(t *testing.T, ann map[string]string, d *Delegation) {
	t.Helper()
	if d == nil {
		t.Fatal("nil Delegation without error")
	}
	if d.Masks == (Masks{}) {
		t.Fatalf("success without any delegated bit: %v", *d)
	}
	profiles, names, err := ParseProfiles(AnnotationProfile, ann[AnnotationProfile])
	if err != nil || d.Profiles != strings.Join(names, ",") {
		t.Fatalf("ParseAnnotations accepted profiles %q as %q, ParseProfiles says %v, %v", ann[AnnotationProfile], d.Profiles, names, err)
	}
	for _, k := range Kinds {
		mask := d.Masks[k]
		value, set := ann[k.AnnotationKey()]
		want := profiles[k]
		if set {
			own, err := k.ParseList(value)
			if err != nil {
				t.Fatalf("ParseAnnotations accepted %q for %v, ParseList says %v", value, k, err)
			}
			want |= own
		}
		if mask != want {
			t.Fatalf("%v mask %#x, ParseList(%q) = %#x", k, mask, value, want)
		}
		s := k.FormatMask(mask)
		back, err := k.ParseList(s)
		if err != nil || back != mask {
			t.Fatalf("%v: FormatMask(%#x) = %q parses back to %#x, %v", k, mask, s, back, err)
		}
	}
	if want, err := ParsePath(ann[AnnotationPath]); err != nil || d.Path != want {
		t.Fatalf("Path %q, ParsePath = %q, %v", d.Path, want, err)
	}
	if !path.IsAbs(d.Path) || path.Clean(d.Path) != d.Path || d.Path == "/" ||
		len(d.Path) > maxMountPathLen || strings.ContainsRune(d.Path, 0) {
		t.Fatalf("unsafe path %q", d.Path)
	}
	for _, c := range strings.Split(d.Path, "/") {
		if c == ".." {
			t.Fatalf("path %q has a .. component", d.Path)
		}
	}
	if again, err := ParsePath(d.Path); err != nil || again != d.Path {
		t.Fatalf("ParsePath(%q) = %q, %v: not idempotent", d.Path, again, err)
	}
	if s := d.String(); strings.ContainsAny(s, "\n\r") {
		t.Fatalf("multi-line Delegation.String: %q", s)
	}
}
