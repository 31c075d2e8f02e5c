package spec

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// maskOf is shorthand for the masks in the tables below.
func maskOf(v ...uint) uint64 {
	var m uint64
	for _, b := range v {
		m |= 1 << b
	}
	return m
}

// checkAnnotationError asserts what every error of this package promises: an
// *AnnotationError wrapping sentinel, on one line, naming the key and the
// item, and not echoing more than a clipped piece of the input.
func checkAnnotationError(t *testing.T, err error, sentinel error, key, item string) *AnnotationError {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", sentinel)
	}
	var ae *AnnotationError
	if !errors.As(err, &ae) {
		t.Fatalf("error %T %v is not an *AnnotationError", err, err)
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("error %q is not %v", err, sentinel)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\n\r") {
		t.Errorf("message is not one line: %q", msg)
	}
	if ae.Key != key {
		t.Errorf("Key = %q, want %q", ae.Key, key)
	}
	if !strings.Contains(msg, "annotation "+Echo(key)) {
		t.Errorf("message %q does not name key %q", msg, key)
	}
	if item != "" {
		if ae.Item != clipEcho(item) {
			t.Errorf("Item = %q, want %q", ae.Item, clipEcho(item))
		}
		if !strings.Contains(msg, strconv.Quote(clipEcho(item))) {
			t.Errorf("message %q does not quote item %q", msg, clipEcho(item))
		}
	}
	if len(msg) > 600 {
		t.Errorf("message is %d bytes long: %q", len(msg), msg)
	}
	return ae
}

func TestParseList(t *testing.T) {
	tests := []struct {
		name  string
		kind  Kind
		value string
		want  uint64
	}{
		{"empty", KindMaps, "", 0},
		{"only separators and spaces", KindMaps, " , : ,, ", 0},
		{"one name", KindMaps, "hash", maskOf(1)},
		{"colons", KindCmds, "map_create:prog_load:btf_load", maskOf(0, 5, 18)},
		{"commas", KindCmds, "map_create,prog_load,btf_load", maskOf(0, 5, 18)},
		{"mixed separators", KindMaps, "array:ringbuf,hash", maskOf(1, 2, 27)},
		{"mixed case", KindProgs, "Socket_Filter:XDP:kProbe", maskOf(1, 2, 6)},
		{"spaces around items", KindAttachs, "  cgroup_inet_ingress ,\txdp\n", maskOf(0, 37)},
		{"empty items", KindMaps, "hash,,array,", maskOf(1, 2)},
		{"leading separator", KindMaps, ":hash", maskOf(1)},
		{"duplicates", KindMaps, "hash:hash:HASH", maskOf(1)},
		{"alias", KindCmds, "prog_run", maskOf(10)},
		{"alias and canonical", KindCmds, "prog_run:prog_test_run", maskOf(10)},
		{"deprecated map alias", KindMaps, "cgroup_storage_deprecated,percpu_cgroup_storage_deprecated", maskOf(19, 21)},
		{"unspec", KindProgs, "unspec", maskOf(0)},
		{"newest members", KindAttachs, "trace_kprobe_session:trace_uprobe_session", maskOf(56, 57)},
		{"newest cmd", KindCmds, "token_create:prog_stream_read_by_fd", maskOf(36, 37)},
		{"any", KindCmds, "any", ^uint64(0)},
		{"ANY", KindMaps, "ANY", ^uint64(0)},
		{"any with names", KindMaps, "hash:any", ^uint64(0)},
		{"decimal", KindMaps, "6", 6},
		{"decimal zero", KindMaps, "0", 0},
		{"leading zero is decimal", KindMaps, "010", 10},
		{"hex", KindMaps, "0x1f", 0x1f},
		{"HEX", KindMaps, "0XFF", 0xff},
		{"max u64 decimal", KindMaps, "18446744073709551615", ^uint64(0)},
		{"max u64 hex", KindMaps, "0xffffffffffffffff", ^uint64(0)},
		// Numbers are ORed with names whatever the order, unlike in bpffs.
		{"number then name", KindCmds, "0x20:map_create", maskOf(0, 5)},
		{"name then number", KindCmds, "map_create:0x20", maskOf(0, 5)},
		{"bits beyond the enum", KindCmds, "prog_load:0x8000000000000000", maskOf(5, 63)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.kind.ParseList(tt.value)
			if err != nil {
				t.Fatalf("ParseList(%q): %v", tt.value, err)
			}
			if got != tt.want {
				t.Errorf("ParseList(%q) = %#x, want %#x", tt.value, got, tt.want)
			}
		})
	}
}

func TestParseListErrors(t *testing.T) {
	tests := []struct {
		name     string
		kind     Kind
		value    string
		sentinel error
		item     string
		sugg     []string
		contains string // extra text the message must have
	}{
		{"typo", KindMaps, "hsh", ErrUnknownName, "hsh", []string{"hash"}, ""},
		{"transposition", KindMaps, "arary", ErrUnknownName, "arary", []string{"array"}, ""},
		{"bad item among good ones", KindMaps, "hash, rignbuf ,array", ErrUnknownName, "rignbuf", []string{"ringbuf"}, ""},
		{"space inside", KindCmds, "map create", ErrUnknownName, "map create", []string{"map_create"}, ""},
		{"dash", KindCmds, "prog-load", ErrUnknownName, "prog-load", []string{"prog_load"}, ""},
		{"several suggestions", KindAttachs, "cgroup_inet_ingres", ErrUnknownName, "cgroup_inet_ingres",
			[]string{"cgroup_inet_ingress", "cgroup_inet_egress"}, ""},
		{"at most three suggestions", KindAttachs, "cgroup_inet_getpeername", ErrUnknownName, "cgroup_inet_getpeername",
			[]string{"cgroup_inet4_getpeername", "cgroup_inet6_getpeername", "cgroup_unix_getpeername"}, ""},
		{"many prefix matches", KindMaps, "percpu", ErrUnknownName, "percpu",
			[]string{"percpu_hash", "percpu_array", "percpu_cgroup_storage"}, ""},
		{"abbreviation", KindProgs, "socket", ErrUnknownName, "socket", []string{"socket_filter"}, ""},
		{"nothing close", KindProgs, "zzzzzzzzzz", ErrUnknownName, "zzzzzzzzzz", nil, "bpf_prog_type"},
		{"C name", KindMaps, "BPF_MAP_TYPE_HASH", ErrUnknownName, "BPF_MAP_TYPE_HASH", []string{"hash"}, "leave out the BPF_MAP_TYPE_ prefix"},
		{"C name cmd", KindCmds, "bpf_prog_load", ErrUnknownName, "bpf_prog_load", []string{"prog_load"}, "BPF_ prefix"},
		{"wrong kind", KindMaps, "xdp", ErrUnknownName, "xdp", nil, "valid under bpf.token/progs and bpf.token/attachs"},
		{"sentinel name", KindCmds, "__max_bpf_cmd", ErrUnknownName, "__max_bpf_cmd", nil, ""},
		{"kelvin sign", KindProgs, "\u212Aprobe", ErrUnknownName, "\u212Aprobe", nil, `'\u212a'`},
		{"non-UTF-8", KindProgs, "xdp:\xff\xfe", ErrUnknownName, "\xff\xfe", nil, "not valid UTF-8"},
		{"non-UTF-8 inside name", KindProgs, "kprobe\xc0", ErrUnknownName, "kprobe\xc0", nil, "not valid UTF-8"},
		{"NUL", KindProgs, "kprobe\x00", ErrUnknownName, "kprobe\x00", []string{"kprobe"}, ""},
		{"too big decimal", KindMaps, "18446744073709551616", ErrBadNumber, "18446744073709551616", nil, "does not fit in 64 bits"},
		{"too big hex", KindMaps, "0x10000000000000000", ErrBadNumber, "0x10000000000000000", nil, "64 bits"},
		{"bare 0x", KindMaps, "0x", ErrBadNumber, "0x", nil, ""},
		{"negative", KindMaps, "-1", ErrBadNumber, "-1", nil, ""},
		{"plus sign", KindMaps, "+1", ErrBadNumber, "+1", nil, ""},
		{"hex with sign", KindMaps, "0x+1", ErrBadNumber, "0x+1", nil, ""},
		{"trailing junk", KindMaps, "12abc", ErrBadNumber, "12abc", nil, ""},
		{"underscores", KindMaps, "1_000", ErrBadNumber, "1_000", nil, ""},
		{"octal prefix", KindMaps, "0o17", ErrBadNumber, "0o17", nil, ""},
		{"binary prefix", KindMaps, "0b1", ErrBadNumber, "0b1", nil, ""},
		{"float", KindMaps, "1.5", ErrBadNumber, "1.5", nil, ""},
		{"too long", KindMaps, strings.Repeat("hash:", maxAnnotationValueLen/5+1), ErrTooLong,
			strings.Repeat("hash:", maxAnnotationValueLen/5+1), nil, "65540 bytes"},
		{"long item is clipped", KindMaps, strings.Repeat("x", 1000), ErrUnknownName, strings.Repeat("x", 1000), nil, "...\""},
		{"clipped at a rune boundary", KindMaps, strings.Repeat("é", 100), ErrUnknownName, strings.Repeat("é", 100), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.kind.ParseList(tt.value)
			ae := checkAnnotationError(t, err, tt.sentinel, tt.kind.AnnotationKey(), tt.item)
			if !slices.Equal(ae.Suggestions, tt.sugg) {
				t.Errorf("Suggestions = %q, want %q", ae.Suggestions, tt.sugg)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("message %q does not contain %q", err, tt.contains)
			}
		})
	}
}

func TestParseListAtLimit(t *testing.T) {
	// Exactly at the limit is fine: padding with separators costs nothing.
	v := "hash" + strings.Repeat(",", maxAnnotationValueLen-4)
	if got, err := KindMaps.ParseList(v); err != nil || got != maskOf(1) {
		t.Errorf("ParseList(%d bytes) = %#x, %v", len(v), got, err)
	}
	_, err := KindMaps.ParseList(v + ",")
	checkAnnotationError(t, err, ErrTooLong, AnnotationMaps, v+",")
}

func TestParseAnnotations(t *testing.T) {
	full := map[string]string{
		AnnotationCmds:     "map_create:prog_load:btf_load",
		AnnotationMaps:     "array:ringbuf",
		AnnotationProgs:    "socket_filter",
		AnnotationAttachs:  "cgroup_inet_ingress",
		"other/annotation": "ignored",
	}
	tests := []struct {
		name string
		ann  map[string]string
		want *Delegation
	}{
		{"nil map", nil, nil},
		{"no bpf.token keys", map[string]string{"io.kubernetes.cri.container-type": "container"}, nil},
		{"other case prefix is not ours", map[string]string{"BPF.TOKEN/maps": "hsh"}, nil},
		{"similar prefix is not ours", map[string]string{"bpf.tokens/maps": "hsh", "bpf.token": "x"}, nil},
		{"full", full, &Delegation{Masks: Masks{KindCmds: maskOf(0, 5, 18), KindMaps: maskOf(2, 27), KindProgs: maskOf(1), KindAttachs: maskOf(0)}, Path: DefaultPath}},
		{"one key", map[string]string{AnnotationMaps: "hash"}, &Delegation{Masks: Masks{KindMaps: maskOf(1)}, Path: DefaultPath}},
		{"with path", map[string]string{AnnotationProgs: "xdp", AnnotationPath: "/run/bpf"},
			&Delegation{Masks: Masks{KindProgs: maskOf(6)}, Path: "/run/bpf"}},
		{"empty path is default", map[string]string{AnnotationProgs: "xdp", AnnotationPath: ""},
			&Delegation{Masks: Masks{KindProgs: maskOf(6)}, Path: DefaultPath}},
		{"path is cleaned", map[string]string{AnnotationProgs: "xdp", AnnotationPath: "//run//bpf/./x/"},
			&Delegation{Masks: Masks{KindProgs: maskOf(6)}, Path: "/run/bpf/x"}},
		{"one empty key beside a set one", map[string]string{AnnotationCmds: "", AnnotationMaps: "hash"},
			&Delegation{Masks: Masks{KindMaps: maskOf(1)}, Path: DefaultPath}},
		{"zero number beside a name", map[string]string{AnnotationCmds: "0", AnnotationMaps: "hash"},
			&Delegation{Masks: Masks{KindMaps: maskOf(1)}, Path: DefaultPath}},
		{"any everywhere", map[string]string{AnnotationCmds: "any", AnnotationMaps: "any", AnnotationProgs: "any", AnnotationAttachs: "any"},
			&Delegation{Masks: Masks{KindCmds: ^uint64(0), KindMaps: ^uint64(0), KindProgs: ^uint64(0), KindAttachs: ^uint64(0)}, Path: DefaultPath}},
		{"numbers", map[string]string{AnnotationCmds: "0x21", AnnotationAttachs: "1"},
			&Delegation{Masks: Masks{KindCmds: maskOf(0, 5), KindAttachs: maskOf(0)}, Path: DefaultPath}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAnnotations(tt.ann)
			if err != nil {
				t.Fatalf("ParseAnnotations: %v", err)
			}
			switch {
			case tt.want == nil && got != nil:
				t.Errorf("got %+v, want nil", *got)
			case tt.want != nil && (got == nil || *got != *tt.want):
				t.Errorf("got %+v, want %+v", got, *tt.want)
			}
			if has := HasAnnotations(tt.ann); has != (tt.want != nil) {
				t.Errorf("HasAnnotations = %v", has)
			}
		})
	}
}

func TestParseAnnotationsErrors(t *testing.T) {
	const (
		noDelegation = "set at least one of bpf.token/cmds, bpf.token/maps, bpf.token/progs, bpf.token/attachs, bpf.token/profile"
		validKeyList = "valid keys: bpf.token/cmds, bpf.token/maps, bpf.token/progs, bpf.token/attachs, bpf.token/profile, bpf.token/path, bpf.token/scope"
	)
	tests := []struct {
		name     string
		ann      map[string]string
		sentinel error
		key      string
		item     string
		sugg     []string
		contains string
	}{
		{"typo in key", map[string]string{"bpf.token/prog": "xdp"}, ErrUnknownKey, "bpf.token/prog", "",
			[]string{"bpf.token/progs"}, validKeyList},
		{"typo beside good keys", map[string]string{AnnotationMaps: "hash", "bpf.token/prog": "xdp"}, ErrUnknownKey,
			"bpf.token/prog", "", []string{"bpf.token/progs"}, ""},
		// Keys are case-sensitive like all annotation keys; the suggestion
		// still finds the right one.
		{"upper-case key", map[string]string{"bpf.token/CMDS": "any"}, ErrUnknownKey, "bpf.token/CMDS", "",
			[]string{"bpf.token/cmds"}, ""},
		{"singular", map[string]string{"bpf.token/attach": "xdp"}, ErrUnknownKey, "bpf.token/attach", "",
			[]string{"bpf.token/attachs"}, ""},
		{"mount option as key", map[string]string{"bpf.token/delegate_maps": "hash"}, ErrUnknownKey,
			"bpf.token/delegate_maps", "", []string{"bpf.token/maps"}, ""},
		{"paths", map[string]string{"bpf.token/paths": "/x", AnnotationMaps: "hash"}, ErrUnknownKey,
			"bpf.token/paths", "", []string{"bpf.token/path"}, ""},
		{"unrelated key", map[string]string{"bpf.token/enabled": "true"}, ErrUnknownKey, "bpf.token/enabled", "", nil, validKeyList},
		{"bare prefix", map[string]string{"bpf.token/": "x"}, ErrUnknownKey, "bpf.token/", "", nil, ""},
		{"newline in key", map[string]string{"bpf.token/x\ny": "x"}, ErrUnknownKey, "bpf.token/x\ny", "", nil, `"bpf.token/x\ny"`},
		{"empty key with no suggestion", map[string]string{"bpf.token/" + strings.Repeat("k", 200): ""}, ErrUnknownKey,
			clipEcho("bpf.token/" + strings.Repeat("k", 200)), "", nil, ""},

		{"path alone", map[string]string{AnnotationPath: "/sys/fs/bpf"}, ErrNoDelegation, AnnotationPath, "", nil, "is set but no delegate key is"},
		{"empty path alone", map[string]string{AnnotationPath: ""}, ErrNoDelegation, AnnotationPath, "", nil, noDelegation},
		{"empty value", map[string]string{AnnotationMaps: ""}, ErrNoDelegation, AnnotationMaps, "", nil, "is empty"},
		{"separators only", map[string]string{AnnotationMaps: " , : "}, ErrNoDelegation, AnnotationMaps, "", nil, noDelegation},
		{"all empty with path", map[string]string{AnnotationProgs: "", AnnotationCmds: "", AnnotationPath: "/x"},
			ErrNoDelegation, AnnotationCmds, "", nil, "is empty"},
		{"path sorts before progs", map[string]string{AnnotationProgs: "", AnnotationPath: "/x"},
			ErrNoDelegation, AnnotationProgs, "", nil, "is empty"},
		{"all masks zero", map[string]string{AnnotationMaps: "0", AnnotationCmds: "0x0"}, ErrNoDelegation,
			AnnotationCmds, "", nil, "selects no bits"},

		{"unknown name", map[string]string{AnnotationMaps: "hsh"}, ErrUnknownName, AnnotationMaps, "hsh", []string{"hash"}, ""},
		{"bad number", map[string]string{AnnotationCmds: "0xzz"}, ErrBadNumber, AnnotationCmds, "0xzz", nil, ""},
		{"huge value", map[string]string{AnnotationAttachs: strings.Repeat("x", 1<<20)}, ErrTooLong, AnnotationAttachs,
			strings.Repeat("x", 100), nil, "1048576 bytes"},
		{"huge path", map[string]string{AnnotationMaps: "hash", AnnotationPath: "/" + strings.Repeat("x", 1<<17)},
			ErrTooLong, AnnotationPath, "/" + strings.Repeat("x", 100), nil, ""},
		{"bad path", map[string]string{AnnotationMaps: "hash", AnnotationPath: "relative"}, ErrBadPath, AnnotationPath,
			"relative", nil, "not absolute"},
		{"non-UTF-8 value", map[string]string{AnnotationProgs: "xdp,\x80\x81"}, ErrUnknownName, AnnotationProgs, "\x80\x81", nil, `"\x80\x81"`},

		// Several bad keys: the first in sorted order wins, every time.
		{"first sorted bad key wins", map[string]string{
			AnnotationProgs:   "nope",
			AnnotationAttachs: "nada",
			"bpf.token/zzz":   "x",
			"bpf.token/aaa":   "x",
		}, ErrUnknownKey, "bpf.token/aaa", "", nil, ""},
		{"bad value before unknown key", map[string]string{
			AnnotationProgs:   "nope",
			AnnotationAttachs: "nada",
			"bpf.token/prog":  "x",
		}, ErrUnknownName, AnnotationAttachs, "nada", nil, ""},
		{"unknown key before bad value", map[string]string{
			AnnotationProgs:  "nope",
			"bpf.token/prog": "x",
		}, ErrUnknownKey, "bpf.token/prog", "", []string{"bpf.token/progs"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Map iteration order varies; the error must not.
			var first string
			for i := range 20 {
				d, err := ParseAnnotations(tt.ann)
				if d != nil {
					t.Fatalf("got %+v with error %v", *d, err)
				}
				ae := checkAnnotationError(t, err, tt.sentinel, tt.key, tt.item)
				if i == 0 {
					first = err.Error()
					if !slices.Equal(ae.Suggestions, tt.sugg) {
						t.Errorf("Suggestions = %q, want %q", ae.Suggestions, tt.sugg)
					}
					if !strings.Contains(first, tt.contains) {
						t.Errorf("message %q does not contain %q", first, tt.contains)
					}
				} else if err.Error() != first {
					t.Fatalf("error changed between calls: %q, then %q", first, err)
				}
			}
		})
	}
}

// The messages are the user interface of this package; pin the wording.
func TestErrorMessages(t *testing.T) {
	tests := []struct {
		ann  map[string]string
		want string
	}{
		{map[string]string{AnnotationMaps: "hsh"},
			`annotation bpf.token/maps: unknown map type "hsh" (did you mean "hash"?); use names of enum bpf_map_type without BPF_MAP_TYPE_, "any", or a number`},
		{map[string]string{"bpf.token/prog": "xdp"},
			`annotation bpf.token/prog: unknown key (did you mean "bpf.token/progs"?); valid keys: bpf.token/cmds, bpf.token/maps, bpf.token/progs, bpf.token/attachs, bpf.token/profile, bpf.token/path, bpf.token/scope`},
		{map[string]string{AnnotationPath: "/sys/fs/bpf"},
			`annotation bpf.token/path is set but no delegate key is: set at least one of bpf.token/cmds, bpf.token/maps, bpf.token/progs, bpf.token/attachs, bpf.token/profile`},
		{map[string]string{AnnotationCmds: "BPF_PROG_LOAD"},
			`annotation bpf.token/cmds: unknown bpf command "BPF_PROG_LOAD" (did you mean "prog_load"?; leave out the BPF_ prefix); use names of enum bpf_cmd without BPF_, "any", or a number`},
		{map[string]string{AnnotationMaps: "xdp"},
			`annotation bpf.token/maps: unknown map type "xdp" (valid under bpf.token/progs and bpf.token/attachs); use names of enum bpf_map_type without BPF_MAP_TYPE_, "any", or a number`},
		{map[string]string{AnnotationProgs: "0x1ffffffffffffffff"},
			`annotation bpf.token/progs: bad number "0x1ffffffffffffffff" (does not fit in 64 bits); use a decimal or 0x-prefixed hexadecimal bit mask that fits in 64 bits`},
		{map[string]string{AnnotationProgs: "xdp", AnnotationPath: "/a/../b"},
			`annotation bpf.token/path: bad path "/a/../b" (contains a ".." component); use an absolute path such as /sys/fs/bpf`},
		{map[string]string{AnnotationProgs: strings.Repeat("a", 70000)},
			`annotation bpf.token/progs: value too long (70000 bytes), starting "` + strings.Repeat("a", 64) + `..."; keep it to 65536 bytes at most`},
	}
	for _, tt := range tests {
		_, err := ParseAnnotations(tt.ann)
		if err == nil || err.Error() != tt.want {
			t.Errorf("error\n got: %v\nwant: %s", err, tt.want)
		}
	}
}

// A hand-built AnnotationError must still print on one line.
func TestErrorForeignSentinel(t *testing.T) {
	e := &AnnotationError{Key: "bpf.token/x\n", Item: "a\nb", Err: errors.New("multi\nline"), Detail: "more\ntext"}
	msg := e.Error()
	if strings.ContainsAny(msg, "\n\r") {
		t.Errorf("not one line: %q", msg)
	}
	if !errors.Is(e, e.Err) {
		t.Error("Unwrap does not return Err")
	}
	if got := (&AnnotationError{Key: AnnotationMaps}).Error(); got != "annotation bpf.token/maps: invalid" {
		t.Errorf("zero error = %q", got)
	}
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		value string
		want  string
	}{
		{"", DefaultPath},
		{"/sys/fs/bpf", "/sys/fs/bpf"},
		{"/sys/fs/bpf/", "/sys/fs/bpf"},
		{"//sys//fs///bpf//", "/sys/fs/bpf"},
		{"/sys/./fs/bpf/.", "/sys/fs/bpf"},
		{"/ /", "/ "},              // a directory named " " is odd but valid
		{"/a..b/c..", "/a..b/c.."}, // ".." only matters as a whole component
		{"/.../x", "/.../x"},
		{"/with space/ü", "/with space/ü"},
		{"/" + strings.Repeat("a", maxMountPathLen-1), "/" + strings.Repeat("a", maxMountPathLen-1)},
	}
	for _, tt := range tests {
		got, err := ParsePath(tt.value)
		if err != nil || got != tt.want {
			t.Errorf("ParsePath(%q) = %q, %v; want %q", tt.value, got, err, tt.want)
		}
	}
}

func TestParsePathErrors(t *testing.T) {
	tests := []struct {
		value    string
		sentinel error
		contains string
	}{
		{"relative/path", ErrBadPath, "not absolute"},
		{"   ", ErrBadPath, "not absolute"},
		{" /run/bpf", ErrBadPath, "not absolute"}, // not trimmed: paths are exact
		{"/run/bpf\n", ErrBadPath, "control character"},
		{"./x", ErrBadPath, "not absolute"},
		{"~/bpf", ErrBadPath, "not absolute"},
		{"/", ErrBadPath, "container's root"},
		{"//", ErrBadPath, "container's root"},
		{"/./", ErrBadPath, "container's root"},
		{"/..", ErrBadPath, `".."`},
		{"/a/../b", ErrBadPath, `".."`},
		{"/a/..", ErrBadPath, `".."`},
		{"/a/../a", ErrBadPath, `".."`},
		{"../etc", ErrBadPath, ""}, // relative and "..": either reason will do
		{"/a\x00b", ErrBadPath, "NUL"},
		{"/a\nb", ErrBadPath, "control character"},
		{"/a\x7fb", ErrBadPath, "control character"},
		{"/a\xffb", ErrBadPath, "UTF-8"},
		{"/" + strings.Repeat("a", maxMountPathLen), ErrBadPath, "PATH_MAX"},
		{"/" + strings.Repeat("a", maxAnnotationValueLen), ErrTooLong, ""},
	}
	for _, tt := range tests {
		t.Run(clipEcho(tt.value), func(t *testing.T) {
			got, err := ParsePath(tt.value)
			if got != "" {
				t.Errorf("returned %q with the error", got)
			}
			checkAnnotationError(t, err, tt.sentinel, AnnotationPath, tt.value)
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("message %q does not contain %q", err, tt.contains)
			}
		})
	}
}

func TestFormatMask(t *testing.T) {
	tests := []struct {
		kind Kind
		mask uint64
		want string
	}{
		{KindCmds, 0, ""},
		{KindCmds, ^uint64(0), "any"},
		{KindCmds, maskOf(0, 5), "map_create:prog_load"},
		{KindCmds, maskOf(10), "prog_test_run"},
		{KindMaps, maskOf(19, 21), "cgroup_storage:percpu_cgroup_storage"},
		{KindMaps, maskOf(2, 27), "array:ringbuf"},
		{KindProgs, maskOf(0), "unspec"},
		{KindAttachs, maskOf(0), "cgroup_inet_ingress"},
		{KindAttachs, maskOf(57), "trace_uprobe_session"},
		// Bits without a name: one trailing hex item.
		{KindAttachs, maskOf(58), "0x400000000000000"},
		{KindCmds, maskOf(5, 40, 63), "prog_load:0x8000010000000000"},
		// All known bits are not "any": the mask means exactly what it says.
		{KindProgs, KindProgs.KnownMask(), strings.Join(progNames[:], ":")},
		{KindCmds, ^uint64(0) >> 1, strings.Join(cmdNames[:], ":") + ":0x7fffffc000000000"},
	}
	for _, tt := range tests {
		if got := tt.kind.FormatMask(tt.mask); got != tt.want {
			t.Errorf("%v.FormatMask(%#x) = %q, want %q", tt.kind, tt.mask, got, tt.want)
		}
	}
}

func TestFormatMaskRoundTrip(t *testing.T) {
	masks := []uint64{0, ^uint64(0), ^uint64(0) >> 1, 1, 1 << 63}
	for b := range uint(64) {
		masks = append(masks, 1<<b, ^uint64(0)&^(1<<b))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		masks = append(masks, r.Uint64(), r.Uint64()&r.Uint64()&r.Uint64())
	}
	for _, k := range Kinds {
		masks := append(masks, k.KnownMask(), k.KnownMask()|1<<63)
		for _, m := range masks {
			s := k.FormatMask(m)
			got, err := k.ParseList(s)
			if err != nil || got != m {
				t.Fatalf("%v: FormatMask(%#x) = %q parses to %#x, %v", k, m, s, got, err)
			}
			// Parse then format is stable too (canonical names, one spelling).
			if again := k.FormatMask(got); again != s {
				t.Fatalf("%v: FormatMask not canonical: %q then %q", k, s, again)
			}
		}
	}
}

func TestDelegation(t *testing.T) {
	tests := []struct {
		d    Delegation
		want string
	}{
		{Delegation{}, ""},
		{Delegation{Masks: Masks{KindCmds: maskOf(0, 5), KindMaps: maskOf(2), KindProgs: maskOf(1), KindAttachs: maskOf(0)}, Path: DefaultPath},
			"cmds=map_create:prog_load maps=array progs=socket_filter attachs=cgroup_inet_ingress path=/sys/fs/bpf"},
		{Delegation{Masks: Masks{KindMaps: ^uint64(0)}, Path: "/x"}, "maps=any path=/x"},
		{Delegation{Masks: Masks{KindAttachs: maskOf(63)}}, "attachs=0x8000000000000000"},
		{Delegation{Masks: Masks{KindProgs: maskOf(6)}, Path: "/a b"}, `progs=xdp path="/a b"`},
		{Delegation{Masks: Masks{KindProgs: maskOf(6)}, Path: "/a\nb"}, `progs=xdp path="/a\nb"`},
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestHasAnnotations(t *testing.T) {
	tests := []struct {
		ann  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{}, false},
		{map[string]string{"a": "b", "bpf.token": "x", "xbpf.token/maps": "x"}, false},
		{map[string]string{"a": "b", "bpf.token/": ""}, true},
		{map[string]string{"bpf.token/nonsense": ""}, true},
		{map[string]string{AnnotationPath: "/x"}, true},
	}
	for _, tt := range tests {
		if got := HasAnnotations(tt.ann); got != tt.want {
			t.Errorf("HasAnnotations(%q) = %v", tt.ann, got)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"abc", "", 3},
		{"hash", "hash", 0},
		{"hsh", "hash", 1},
		{"hsah", "hash", 1}, // transposition
		{"kitten", "sitting", 3},
		{"ca", "abc", 3}, // optimal string alignment, not full Damerau
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestClip(t *testing.T) {
	if got := clipEcho("short"); got != "short" {
		t.Errorf("clipEcho(short) = %q", got)
	}
	long := strings.Repeat("a", 63) + "é" // the rune straddles byte 64
	if got := clipEcho(long + "tail"); got != strings.Repeat("a", 63)+"..." {
		t.Errorf("clipEcho cut a rune: %q", got)
	}
	if s := strings.Repeat("x", 1000); clipEcho(clipEcho(s)) != clipEcho(s) {
		t.Error("clipEcho is not idempotent")
	}
}
