package spec

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestForContainer(t *testing.T) {
	podWide := map[string]string{"bpf.token/cmds": "map_create", "bpf.token/maps": "array"}
	with := func(base map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	tests := []struct {
		name      string
		pod, ctr  map[string]string
		container string
		want      *Delegation
		wantErr   error
		wantMsg   []string
	}{
		{name: "nothing asked", pod: map[string]string{"other": "x"}, container: "web"},
		{name: "pod-wide", pod: podWide, container: "web",
			want: &Delegation{Masks: Masks{KindCmds: 1, KindMaps: 1 << 2}, Path: DefaultPath}},
		{name: "per-container JSON replaces pod-wide",
			pod:       with(podWide, "bpf.token/container.web", `{"cmds":"prog_load","progs":["socket_filter"],"attachs":"cgroup_inet_ingress","path":"/run/bpf"}`),
			container: "web",
			want:      &Delegation{Masks: Masks{KindCmds: 1 << 5, KindProgs: 1 << 1, KindAttachs: 1}, Path: "/run/bpf"}},
		{name: "per-container YAML",
			pod:       with(nil, "bpf.token/container.web", "cmds: map_create:btf_load\nmaps: [array, hash]\n"),
			container: "web",
			want:      &Delegation{Masks: Masks{KindCmds: 1 | 1<<18, KindMaps: 1<<1 | 1<<2}, Path: DefaultPath}},
		{name: "other container keeps pod-wide",
			pod:       with(podWide, "bpf.token/container.web", `{"cmds":"prog_load"}`),
			container: "sidecar",
			want:      &Delegation{Masks: Masks{KindCmds: 1, KindMaps: 1 << 2}, Path: DefaultPath}},
		{name: "opt-out", pod: with(podWide, "bpf.token/container.web", " none "), container: "web"},
		{name: "only another container asks", pod: with(nil, "bpf.token/container.web", `{"cmds":"prog_load"}`), container: "sidecar"},
		{name: "container's own annotations win",
			pod: podWide, ctr: map[string]string{"bpf.token/cmds": "btf_load"}, container: "web",
			want: &Delegation{Masks: Masks{KindCmds: 1 << 18}, Path: DefaultPath}},
		{name: "bad name in per-container map",
			pod:       with(nil, "bpf.token/container.web", `{"maps":"hsh"}`),
			container: "web", wantErr: ErrUnknownName,
			wantMsg: []string{"bpf.token/container.web", "field maps", `"hsh"`, `"hash"`}},
		{name: "unknown field",
			pod:       with(nil, "bpf.token/container.web", `{"prog":"xdp"}`),
			container: "web", wantErr: ErrBadContainerValue,
			wantMsg: []string{"bpf.token/container.web", "prog", `"none"`}},
		{name: "not a map",
			pod:       with(nil, "bpf.token/container.web", `[1, 2`),
			container: "web", wantErr: ErrBadContainerValue,
			wantMsg: []string{"bpf.token/container.web", "YAML/JSON map"}},
		{name: "empty map",
			pod:       with(nil, "bpf.token/container.web", `{}`),
			container: "web", wantErr: ErrNoDelegation,
			wantMsg: []string{"bpf.token/container.web", "sets no field"}},
		// A YAML decoder expands anchors and aliases: refused before it runs.
		{name: "anchor and alias",
			pod:       with(nil, "bpf.token/container.web", "cmds: &c map_create\nmaps: [array]\nprogs: *c\n"),
			container: "web", wantErr: ErrBadContainerValue,
			wantMsg: []string{"bpf.token/container.web", "uses YAML anchors or aliases (&, *, <<) at line 1, which are not accepted here: write the lists out"}},
		{name: "alias in a flow list",
			pod:       with(nil, "bpf.token/container.web", "{cmds: &c [map_create], maps: [array, *c]}"),
			container: "web", wantErr: ErrBadContainerValue, wantMsg: []string{"uses YAML anchors or aliases"}},
		{name: "anchor alone",
			pod:       with(nil, "bpf.token/container.web", "cmds: map_create\nmaps: &m array\n"),
			container: "web", wantErr: ErrBadContainerValue, wantMsg: []string{"uses YAML anchors or aliases (&, *, <<) at line 2"}},
		{name: "merge key",
			pod:       with(nil, "bpf.token/container.web", "<<: {cmds: map_create}\nmaps: array\n"),
			container: "web", wantErr: ErrBadContainerValue, wantMsg: []string{"uses YAML anchors or aliases"}},
		{name: "alias of an unknown anchor",
			pod:       with(nil, "bpf.token/container.web", "cmds: *"+strings.Repeat("a", 1000)),
			container: "web", wantErr: ErrBadContainerValue, wantMsg: []string{"unknown anchor", "..."}},
		{name: "custom tag",
			pod:       with(nil, "bpf.token/container.web", "cmds: !bpf map_create\n"),
			container: "web", wantErr: ErrBadContainerValue, wantMsg: []string{"uses a YAML tag (!) at line 1, which is not accepted here"}},
		{name: "binary tag",
			pod:       with(nil, "bpf.token/container.web", "cmds: !!binary bWFwX2NyZWF0ZQ==\n"),
			container: "web", wantErr: ErrBadContainerValue, wantMsg: []string{"uses a YAML tag"}},
		{name: "core tag", pod: with(nil, "bpf.token/container.web", "cmds: !!str map_create\nmaps: !!seq [array]\n"),
			container: "web", want: &Delegation{Masks: Masks{KindCmds: 1, KindMaps: 1 << 2}, Path: DefaultPath}},
		// & and * mean nothing inside a string or a comment, nor inside a
		// plain scalar once it has started.
		{name: "JSON strings with & and *",
			pod:       with(nil, "bpf.token/container.web", `{"cmds":"map_create","path":"/run/*bpf&","maps":["array"]}`),
			container: "web", want: &Delegation{Masks: Masks{KindCmds: 1, KindMaps: 1 << 2}, Path: "/run/*bpf&"}},
		{name: "YAML plain and quoted scalars with & and *",
			pod:       with(nil, "bpf.token/container.web", "cmds: 'map_create'  # &a *a <<: !t\npath: /run/bpf*&x\nmaps: \"&array\"\n"),
			container: "web", wantErr: ErrUnknownName, wantMsg: []string{"field maps", `"&array"`}},
		{name: "YAML plain path with & and *",
			pod:       with(nil, "bpf.token/container.web", "cmds: 'map_create'  # &a *a <<: !t\npath: /run/bpf*&x\n"),
			container: "web", want: &Delegation{Masks: Masks{KindCmds: 1}, Path: "/run/bpf*&x"}},
		{name: "block scalar with & and *",
			pod:       with(nil, "bpf.token/container.web", "cmds: >-\n  map_create\npath: |-\n  /run/&*\n"),
			container: "web", want: &Delegation{Masks: Masks{KindCmds: 1}, Path: "/run/&*"}},
		{name: "a key spelled with &", pod: with(nil, "bpf.token/container.web", `{"cmds":"map_create","&a":"*a"}`),
			container: "web", wantErr: ErrBadContainerValue, wantMsg: []string{`unknown field "&a"`}},
		{name: "nested list: the decoder's own error",
			pod:       with(nil, "bpf.token/container.web", `{"cmds":[["map_create"]]}`),
			container: "web", wantErr: ErrBadContainerValue, wantMsg: []string{"want a string or a list of strings"}},
		{name: "nested too deeply",
			pod:       with(nil, "bpf.token/container.web", "cmds: "+strings.Repeat("[", 9)+"a"+strings.Repeat("]", 9)),
			container: "web", wantErr: ErrBadContainerValue, wantMsg: []string{"nests too deeply at line 1, more than 8 levels"}},
		{name: "too many items",
			pod:       with(nil, "bpf.token/container.web", "cmds: ["+strings.Repeat("any,", 1100)+"any]"),
			container: "web", wantErr: ErrBadContainerValue, wantMsg: []string{"has too many items", "more than 1024"}},
		{name: "as many items as a real value may have",
			pod:       with(nil, "bpf.token/container.web", "cmds: ["+strings.Repeat("map_create,", 1000)+"map_create]"),
			container: "web", want: &Delegation{Masks: Masks{KindCmds: 1}, Path: DefaultPath}},
		{name: "bad pod-wide key", pod: with(nil, "bpf.token/prog", "xdp"), container: "web",
			wantErr: ErrUnknownKey, wantMsg: []string{"bpf.token/prog", "bpf.token/progs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ForContainer(tt.pod, tt.ctr, tt.container)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ForContainer error = %v, want %v", err, tt.wantErr)
				}
				msg := err.Error()
				for _, w := range tt.wantMsg {
					if !strings.Contains(msg, w) || strings.Contains(msg, "\n") {
						t.Errorf("message %q: want one line containing %q", msg, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ForContainer: %v", err)
			}
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Errorf("ForContainer = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// maxContainerValueCost is what deciding one bpf.token/container.<name>
// value may allocate, whatever it holds, up to the size limit.
const maxContainerValueCost = 20 << 20

// yamlIndicators counts the bytes containerValueLimits.MaxIndicators bounds.
func yamlIndicators(s string) int {
	n := 0
	for _, c := range []byte(s) {
		if strings.IndexByte(",:-?[]{}#&*!|>%", c) >= 0 {
			n++
		}
	}
	return n
}

// fill repeats unit, separated by sep, between head and tail as often as
// fits in the size limit; and, when parsed is set, in the number of YAML
// indicators checkContainerValue lets through to the parser, so that the
// value reaches the checks that follow the parse.
func fill(head, unit, sep, tail string, parsed bool) string {
	n := (maxAnnotationValueLen - len(head) - len(tail) + len(sep)) / (len(unit) + len(sep))
	if parsed {
		fixed := yamlIndicators(head + tail)
		n = min(n, (containerValueLimits.MaxIndicators-fixed+yamlIndicators(sep))/yamlIndicators(unit+sep))
	}
	return head + strings.Repeat(unit+sep, n-1) + unit + tail
}

// hostileValue is a per-container value and part of the error it must get,
// or "" if it is accepted.
type hostileValue struct{ name, value, want string }

// What hostile values are refused for.
const (
	aliases = "uses YAML anchors or aliases (&, *, <<) at line "
	tag     = "uses a YAML tag (!)"
	deep    = "nests too deeply"
	items   = "has too many items"
	tooMany = "has too many YAML indicators"
)

// hostileContainerValues are per-container values within the size limit
// built to cost a YAML decoder that expands aliases, or parses or walks
// without bounds, seconds and gigabytes. The "parsed" ones get past the
// count of YAML indicators to the checks on the parsed tree.
func hostileContainerValues() []hostileValue {
	anchor := "cmds: &a " + strings.Repeat("x", 30000) + "\nmaps: ["
	// Billion laughs: ten aliases of ten aliases of ... of ten items.
	laughs := "l0: &l0 [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
	for i := 1; i <= 9; i++ {
		laughs += fmt.Sprintf("l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d,", i-1), 10), ","))
	}
	// Merge keys pulling in the same map again and again.
	merge := "base: &b {cmds: [" + strings.Repeat("map_create,", 200) + "prog_load]}\nm: ["
	keys := func(parsed bool) string {
		var b strings.Builder
		b.WriteString("{k0: 0")
		for i := 1; b.Len()+16 < maxAnnotationValueLen && (!parsed || 2*i+2 < containerValueLimits.MaxIndicators); i++ {
			fmt.Fprintf(&b, ", k%s: 0", strconv.FormatInt(int64(i), 36))
		}
		return b.String() + "}"
	}
	comments := func(parsed bool) string {
		var b strings.Builder
		for i := 0; b.Len()+16 < maxAnnotationValueLen && (!parsed || 3*i+3 < containerValueLimits.MaxIndicators); i++ {
			fmt.Fprintf(&b, "#\nk%s: #\n", strconv.FormatInt(int64(i), 36))
		}
		return b.String()
	}
	nest := func(open, leaf, close string, parsed bool) string {
		per := len(open) + len(close)
		n := (maxAnnotationValueLen - len("cmds: ") - len(leaf)) / per
		if parsed {
			fixed := yamlIndicators("cmds: " + leaf)
			n = min(n, (containerValueLimits.MaxIndicators-fixed)/yamlIndicators(open+close))
		}
		return "cmds: " + strings.Repeat(open, n) + leaf + strings.Repeat(close, n)
	}
	return []hostileValue{
		// The value of the report: 57 KB, 5.8 s and 2 GiB before the fix.
		{"alias bomb", anchor + strings.Repeat("*a,", 8999) + "*a]\n", tooMany},
		{"alias bomb at the size limit", fill(anchor, "*a", ",", "]\n", false), tooMany},
		{"alias bomb, parsed", fill(anchor, "*a", ",", "]\n", true), aliases},
		{"billion laughs", fill(laughs+"cmds: [", "*l9", ",", "]\n", false), tooMany},
		{"billion laughs, parsed", fill(laughs+"cmds: [", "*l9", ",", "]\n", true), aliases},
		{"merge keys", fill(merge, "{<<: *b}", ",", "]\n", false), tooMany},
		{"merge keys, parsed", fill(merge, "{<<: *b}", ",", "]\n", true), aliases},
		{"merge without alias, parsed", fill("m: [", "{<<: {cmds: any}}", ",", "]\n", true), aliases},
		{"deep flow nesting", nest("[", "any", "]", false), tooMany},
		{"deep flow nesting, parsed", nest("[", "any", "]", true), deep},
		{"deep flow maps", nest("{a: ", "x", "}", false), tooMany},
		{"deep flow maps, parsed", nest("{a: ", "x", "}", true), deep},
		{"deep block nesting", fill("cmds:\n", "- ", "", "any\n", false), tooMany},
		{"deep block nesting, parsed", fill("cmds:\n", "- ", "", "any\n", true), deep},
		{"long flow of small keys", keys(false), tooMany},
		{"long flow of small keys, parsed", keys(true), items},
		{"long flow of one-byte items", fill("cmds: [", "a", ",", "]", false), tooMany},
		{"long flow of one-byte items, parsed", fill("cmds: [", "a", ",", "]", true), items},
		{"long block list, parsed", fill("cmds:\n", "- any", "\n", "\n", true), items},
		{"comments on every key", comments(false), tooMany},
		{"comments on every key, parsed", comments(true), items},
		{"many tags, parsed", fill("cmds: [", "!t a", ",", "]", true), tag},
		{"long scalar", fill("cmds: ", "any", ":", "", false), tooMany},
		{"long quoted scalar with escapes", fill(`cmds: "`, `\u0041`, "", `"`, false), "unknown bpf command"},
		// The most a value can hold and still be accepted: as many items as
		// the node limit allows, the rest a comment.
		{"largest accepted", func() string {
			v := "cmds: [" + strings.Repeat("any,", containerValueLimits.MaxNodes-4) + "any]\n# "
			return v + strings.Repeat("x", maxAnnotationValueLen-len(v))
		}(), ""},
	}
}

// TestContainerValueCost: any per-container value within the size limit is
// decided, refused or accepted, for at most maxContainerValueCost bytes
// allocated. (How long it takes is BenchmarkContainerValueHostile's.)
func TestContainerValueCost(t *testing.T) {
	for _, h := range hostileContainerValues() {
		t.Run(h.name, func(t *testing.T) {
			if len(h.value) > maxAnnotationValueLen {
				t.Fatalf("test value is %d bytes, over the limit", len(h.value))
			}
			pod := map[string]string{AnnotationContainerPrefix + "web": h.value}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			d, err := ForContainer(pod, nil, "web")
			runtime.ReadMemStats(&after)
			cost := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d-byte value, %d bytes allocated", len(h.value), cost)
			if cost > maxContainerValueCost {
				t.Errorf("%d-byte value cost %d bytes (%.1f MiB), want at most %d MiB; got %v, %v",
					len(h.value), cost, float64(cost)/(1<<20), maxContainerValueCost>>20, d, err)
			}
			switch {
			case h.want == "" && (err != nil || d == nil):
				t.Errorf("ForContainer = %v, %v, want a Delegation", d, err)
			case h.want != "" && (err == nil || !strings.Contains(err.Error(), h.want)):
				t.Errorf("ForContainer = %v, %v, want an error with %q", d, err, h.want)
			}
		})
	}
}

// BenchmarkContainerValueHostile times ForContainer on each hostile value.
// Without checkContainerValue the alias bombs took seconds each; with it,
// the dearest are the parsed deep nesting and comments, a few milliseconds.
func BenchmarkContainerValueHostile(b *testing.B) {
	for _, h := range hostileContainerValues() {
		pod := map[string]string{AnnotationContainerPrefix + "web": h.value}
		b.Run(strings.ReplaceAll(h.name, " ", "_"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ForContainer(pod, nil, "web")
			}
		})
	}
}

// FuzzForContainer feeds arbitrary bpf.token/container.<name> values through
// ForContainer. It checks that nothing panics, that errors are single-line
// *AnnotationErrors that do not echo the value at length, and that no value
// within the size limit costs more than maxContainerValueCost to decide.
func FuzzForContainer(f *testing.F) {
	for _, v := range []string{
		`{"cmds":"prog_load","progs":["socket_filter"],"attachs":"cgroup_inet_ingress","path":"/run/bpf"}`,
		"cmds: map_create:btf_load\nmaps: [array, hash]\n",
		"cmds:\n  - map_create\n  - prog_load\npath: /run/a*b&c # &x *y\n",
		" none ",
		"{}",
		`{"prog":"xdp"}`,
		"cmds: !!str map_create\n",
		// A small alias bomb: each level doubles the list.
		"a: &a [map_create, map_create]\nb: &b [*a, *a]\nc: &c [*b, *b]\ncmds: [*c, *c]\n",
		"base: &b {cmds: [map_create]}\nm: [{<<: *b}, {<<: *b}]\n",
		"cmds: [[[[[[[[[any]]]]]]]]]",
		"cmds: !t any",
	} {
		f.Add(v)
	}
	sentinels := append([]error{ErrBadContainerValue}, annotationSentinels...)
	f.Fuzz(func(t *testing.T, value string) {
		pod := map[string]string{AnnotationContainerPrefix + "web": value}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d, err := ForContainer(pod, nil, "web")
		runtime.ReadMemStats(&after)
		if cost := after.TotalAlloc - before.TotalAlloc; len(value) <= maxAnnotationValueLen && cost > maxContainerValueCost {
			t.Fatalf("%d-byte value cost %d bytes", len(value), cost)
		}
		if err == nil {
			if d != nil && d.Masks == (Masks{}) {
				t.Fatalf("success without any delegated bit: %v", *d)
			}
			return
		}
		var ae *AnnotationError
		if d != nil || !errors.As(err, &ae) {
			t.Fatalf("got %v, %T %v; want nil and an *AnnotationError", d, err, err)
		}
		n := 0
		for _, s := range sentinels {
			if errors.Is(err, s) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("error wraps %d sentinels: %v", n, err)
		}
		if msg := err.Error(); strings.ContainsAny(msg, "\n\r") || len(msg) > 1024 {
			t.Fatalf("error of %d bytes, or on more than one line: %q", len(msg), msg)
		}
	})
}

func TestScope(t *testing.T) {
	const pod = "bpf.token/scope"
	tests := []struct {
		name       string
		podAnn     map[string]string
		wantShared bool
		wantErr    error
		wantMsg    string
	}{
		{"pod-wide, scope pod", map[string]string{"bpf.token/maps": "array", pod: "pod"}, true, nil, ""},
		{"pod-wide, scope container", map[string]string{"bpf.token/maps": "array", pod: "container"}, false, nil, ""},
		{"pod-wide, no scope", map[string]string{"bpf.token/maps": "array"}, false, nil, ""},
		{"a container's own map gets a bpffs of its own", map[string]string{"bpf.token/maps": "array", pod: "pod", "bpf.token/container.app": `{"maps": "hash"}`}, false, nil, ""},
		{"bad scope", map[string]string{"bpf.token/maps": "array", pod: "Pod!"}, false, ErrBadScope, `annotation bpf.token/scope: bad scope "Pod!"; use "pod"`},
		{"scope alone", map[string]string{pod: "pod"}, false, ErrNoDelegation, "annotation bpf.token/scope is set but no delegate key is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ForContainer(tt.podAnn, nil, "app")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("ForContainer = %v, want %v with %q", err, tt.wantErr, tt.wantMsg)
				}
				return
			}
			if err != nil || d == nil || d.Shared != tt.wantShared {
				t.Fatalf("ForContainer = %+v, %v; want shared %v", d, err, tt.wantShared)
			}
		})
	}
}
