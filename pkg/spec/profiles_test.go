package spec

import (
	"errors"
	"strings"
	"testing"
)

func TestParseProfileAnnotation(t *testing.T) {
	xdp, _ := LookupProfile("xdp")
	tc, _ := LookupProfile("tc")
	hash, _ := KindMaps.Value("lru_hash")
	tests := []struct {
		name         string
		ann          map[string]string
		wantProfiles string
		want         func(Masks) bool
	}{
		{"one profile", map[string]string{AnnotationProfile: "xdp"}, "xdp",
			func(m Masks) bool { return m == xdp.Masks }},
		{"two, in the order given, each once, any case, spaces", map[string]string{AnnotationProfile: " tc, XDP :tc"}, "tc,xdp",
			func(m Masks) bool {
				for k := range m {
					if m[k] != xdp.Masks[k]|tc.Masks[k] {
						return false
					}
				}
				return true
			}},
		{"with an explicit key, ORed", map[string]string{AnnotationProfile: "xdp", AnnotationMaps: "lru_hash"}, "xdp",
			func(m Masks) bool {
				return m.Has(KindMaps, hash) && m.Minus(xdp.Masks) == Masks{KindMaps: 1 << hash}
			}},
		{"an explicit key does not drop the profile's items of that kind", map[string]string{AnnotationProfile: "tc", AnnotationProgs: "xdp"}, "tc",
			func(m Masks) bool { return tc.Masks.Minus(m) == Masks{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseAnnotations(tt.ann)
			if err != nil {
				t.Fatal(err)
			}
			if d.Profiles != tt.wantProfiles || !tt.want(d.Masks) {
				t.Errorf("got profiles %q, %s", d.Profiles, d)
			}
			if !strings.HasPrefix(d.String(), "profile="+tt.wantProfiles+" ") {
				t.Errorf("String() = %q, want it to start with the profiles", d)
			}
		})
	}
}

func TestParseProfileErrors(t *testing.T) {
	tests := []struct {
		name string
		ann  map[string]string
		err  error
		want string
	}{
		{"typo", map[string]string{AnnotationProfile: "xpd"}, ErrUnknownProfile,
			`annotation bpf.token/profile: unknown profile "xpd" (did you mean "xdp"?); profiles: socket-filter, ringbuf-telemetry, cgroup-net, xdp, tc`},
		{"a program type is not a profile", map[string]string{AnnotationProfile: "kprobe"}, ErrUnknownProfile, `unknown profile "kprobe"; profiles: `},
		{"empty, and nothing else", map[string]string{AnnotationProfile: " , "}, ErrNoDelegation, "annotation bpf.token/profile is empty"},
		{"hostile value is clipped", map[string]string{AnnotationProfile: strings.Repeat("\x1b[31m", 40)}, ErrUnknownProfile, `\x1b[31m`},
		{"too long", map[string]string{AnnotationProfile: strings.Repeat("xdp,", 20000)}, ErrTooLong, "value too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseAnnotations(tt.ann)
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.want) || strings.ContainsAny(err.Error(), "\n\x1b") || len(err.Error()) > 400 {
				t.Errorf("error = %v, want %v, one short line containing %q", err, tt.err, tt.want)
			}
		})
	}
}

// Each profile is a delegation that works as it is: none of the warnings
// about delegations that cannot work, and the capabilities it names are
// all its program types need.
func TestProfilesAreConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Profiles() {
		if seen[p.Name] || p.Name != strings.ToLower(p.Name) || strings.ContainsAny(p.Name, ",: ") {
			t.Errorf("profile name %q: want unique, lower case, no separators", p.Name)
		}
		seen[p.Name] = true
		d := Delegation{Masks: p.Masks}
		if w := DelegationWarnings(d); len(w) > 0 {
			t.Errorf("profile %s: warnings %q", p.Name, w)
		}
		if c := MissingCaps(d, p.Caps); len(c) > 0 {
			t.Errorf("profile %s: needs %v beyond its Caps %v", p.Name, c, p.Caps)
		}
		for _, k := range Kinds {
			if p.Masks[k] == 0 || p.Masks[k]&^k.KnownMask() != 0 {
				t.Errorf("profile %s: %s = %#x, want named items only", p.Name, k, p.Masks[k])
			}
		}
		if got := CoveredProfiles(p.Masks); len(got) == 0 || !strings.Contains(","+strings.Join(got, ",")+",", ","+p.Name+",") {
			t.Errorf("CoveredProfiles(%s) = %v", p.Name, got)
		}
		if p.Summary == "" || p.Reach == "" {
			t.Errorf("profile %s: no summary or reach", p.Name)
		}
	}
}

func TestCoveredProfiles(t *testing.T) {
	sf, _ := LookupProfile("socket-filter")
	rb, _ := LookupProfile("ringbuf-telemetry")
	tests := []struct {
		name string
		m    Masks
		want string
	}{
		{"nothing", Masks{}, ""},
		{"socket-filter exactly", sf.Masks, "socket-filter"},
		{"ringbuf-telemetry covers socket-filter", rb.Masks, "socket-filter,ringbuf-telemetry"},
		{"one item short", sf.Masks.Minus(Masks{KindCmds: 1 << 18}), ""},
		{"all", Masks{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}, "socket-filter,ringbuf-telemetry,cgroup-net,xdp,tc"},
	}
	for _, tt := range tests {
		if got := strings.Join(CoveredProfiles(tt.m), ","); got != tt.want {
			t.Errorf("%s: CoveredProfiles = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestForContainerProfile(t *testing.T) {
	pod := map[string]string{
		AnnotationProfile:                 "socket-filter",
		AnnotationContainerPrefix + "net": "{profile: [xdp, tc], maps: ringbuf}",
		AnnotationContainerPrefix + "bad": "profile: xdpp",
	}
	d, err := ForContainer(pod, nil, "net")
	if err != nil || d.Profiles != "xdp,tc" || !d.Masks.Has(KindMaps, 27) {
		t.Errorf("net: %v, %v", d, err)
	}
	d, err = ForContainer(pod, nil, "other")
	if err != nil || d.Profiles != "socket-filter" {
		t.Errorf("other: %v, %v", d, err)
	}
	_, err = ForContainer(pod, nil, "bad")
	if !errors.Is(err, ErrUnknownProfile) || !strings.Contains(err.Error(), `annotation bpf.token/container.bad, field profile: unknown profile "xdpp" (did you mean "xdp"?)`) {
		t.Errorf("bad: %v", err)
	}
}
