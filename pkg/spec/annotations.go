package spec

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Annotation keys a container uses to ask for a delegated bpffs (and
// AnnotationProfile, in profiles.go).
const (
	AnnotationPrefix  = "bpf.token/"
	AnnotationCmds    = "bpf.token/cmds"
	AnnotationMaps    = "bpf.token/maps"
	AnnotationProgs   = "bpf.token/progs"
	AnnotationAttachs = "bpf.token/attachs"
	AnnotationPath    = "bpf.token/path"
	DefaultPath       = "/sys/fs/bpf"
	// AnnotationScope set to ScopePod on a pod gives its containers one
	// bpffs, shared, kept between them (NRI plugin); ScopeContainer, the
	// default, gives each container its own.
	AnnotationScope = "bpf.token/scope"
	ScopeContainer  = "container"
	ScopePod        = "pod"
)

// LibbpfTokenPathEnv tells libbpf (>= 1.4) where the delegated bpffs is when
// it is not at DefaultPath.
const LibbpfTokenPathEnv = "LIBBPF_BPF_TOKEN_PATH"

const (
	// maxAnnotationValueLen bounds the work and memory one annotation can
	// cost the hook. Real values are a few hundred bytes at most: every name
	// of the largest enum together is about 1 KiB.
	maxAnnotationValueLen = 64 << 10

	// maxMountPathLen is PATH_MAX; the kernel refuses longer paths anyway.
	maxMountPathLen = 4096

	// maxEchoLen is how much of a user-supplied string an error repeats, so
	// that a hostile or broken annotation cannot flood the logs.
	maxEchoLen = 64

	// maxSuggestions is how many "did you mean" candidates an error offers.
	maxSuggestions = 3
)

// validAnnotationKeys is in the order users read about them, not sorted.
// The delegate keys come first: delegateKeyCount of them.
var validAnnotationKeys = []string{AnnotationCmds, AnnotationMaps, AnnotationProgs, AnnotationAttachs, AnnotationProfile, AnnotationPath, AnnotationScope}

const delegateKeyCount = len(Kinds) + 1

// HasAnnotations reports whether any key starts with AnnotationPrefix. It is
// the hook's fast path for the common container that wants no token.
func HasAnnotations(ann map[string]string) bool {
	for k := range ann {
		if strings.HasPrefix(k, AnnotationPrefix) {
			return true
		}
	}
	return false
}

// ParseAnnotations returns (nil, nil) when no key has AnnotationPrefix;
// otherwise the Delegation, or an *AnnotationError for the first bad key in
// sorted key order (so that the same annotations always give the same error).
//
// Every key under the prefix must be known: a typo such as "bpf.token/prog"
// would otherwise mount a bpffs that quietly lacks what the container needs.
// At least one delegate key must list an item, and the masks must not all be
// zero, since the kernel refuses to create a token from such a bpffs.
func ParseAnnotations(ann map[string]string) (*Delegation, error) {
	var keys []string
	for k := range ann {
		if strings.HasPrefix(k, AnnotationPrefix) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	slices.Sort(keys)

	d := &Delegation{Path: DefaultPath}
	requested := false // some delegate key lists at least one item
	for _, key := range keys {
		value := ann[key]
		if key == AnnotationPath {
			p, err := ParsePath(value)
			if err != nil {
				return nil, err
			}
			d.Path = p
			continue
		}
		if key == AnnotationScope {
			switch strings.TrimSpace(value) {
			case "", ScopeContainer:
			case ScopePod:
				d.Shared = true
			default:
				return nil, &AnnotationError{Key: AnnotationScope, Item: clipEcho(value), Err: ErrBadScope}
			}
			continue
		}
		if key == AnnotationProfile {
			m, names, err := ParseProfiles(AnnotationProfile, value)
			if err != nil {
				return nil, err
			}
			d.Masks = d.Masks.Or(m)
			d.Profiles = strings.Join(names, ",")
			requested = requested || len(names) > 0
			continue
		}
		k := kindOfKey(key)
		if k < 0 {
			return nil, unknownKeyError(key)
		}
		mask, err := k.ParseList(value)
		if err != nil {
			return nil, err
		}
		d.Masks[k] |= mask // a profile, sorted first, may have set bits already
		requested = requested || hasItems(value)
	}

	// Every key is known by now, so the keys other than the path and the
	// scope are delegate keys; the first of them in sorted order gets the
	// blame.
	firstDelegate := ""
	for _, key := range keys {
		if key != AnnotationPath && key != AnnotationScope {
			firstDelegate = key
			break
		}
	}
	switch {
	case firstDelegate == "":
		return nil, &AnnotationError{Key: keys[0], Err: ErrNoDelegation,
			Detail: "is set but no delegate key is"}
	case !requested:
		return nil, &AnnotationError{Key: firstDelegate, Err: ErrNoDelegation, Detail: "is empty"}
	case d.Masks == Masks{}:
		// Only numbers can do this ("0", "0x0"). The mount would work, but
		// BPF_TOKEN_CREATE fails with ENOENT on a bpffs that delegates nothing.
		return nil, &AnnotationError{Key: firstDelegate, Err: ErrNoDelegation,
			Detail: "selects no bits and neither does any other delegate key"}
	}
	return d, nil
}

// kindOfKey maps an annotation key to its Kind, -1 if it is not a delegate key.
func kindOfKey(key string) Kind {
	for _, k := range Kinds {
		if key == k.AnnotationKey() {
			return k
		}
	}
	return -1
}

func hasItems(value string) bool {
	for _, it := range splitItems(value) {
		if strings.TrimSpace(it) != "" {
			return true
		}
	}
	return false
}

func splitItems(value string) []string {
	return strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ':' })
}

// ParseList turns one annotation value into a mask. Items are separated by
// ',' or ':' and may be surrounded by spaces; each is a name (any case,
// without the enum prefix), "any" for all 64 bits, or a decimal or
// 0x-prefixed hex number taken as a raw mask. All items are ORed. Empty items
// are ignored, so "" gives 0.
//
// Unlike the kernel, a number with a leading 0 is decimal, not octal, and a
// number does not replace the names before it.
func (k Kind) ParseList(value string) (uint64, error) {
	t := k.table()
	if t == nil {
		return 0, &AnnotationError{Key: clipEcho(k.AnnotationKey()), Err: ErrUnknownKey}
	}
	if len(value) > maxAnnotationValueLen {
		return 0, tooLongError(t.key, value)
	}
	var mask uint64
	for _, raw := range splitItems(value) {
		item := strings.TrimSpace(raw)
		if item == "" {
			continue
		}
		bits, err := t.parseItem(item)
		if err != nil {
			return 0, err
		}
		mask |= bits
	}
	return mask, nil
}

func (t *enumTable) parseItem(item string) (uint64, error) {
	if c := item[0]; '0' <= c && c <= '9' || c == '-' || c == '+' {
		return parseNumber(t.key, item)
	}
	lower, ascii := asciiLower(item)
	if ascii {
		if lower == "any" {
			return ^uint64(0), nil
		}
		if v, ok := t.byName[lower]; ok {
			return 1 << v, nil
		}
	}
	return 0, t.unknownNameError(item, lower, ascii)
}

// parseNumber accepts decimal and 0x/0X hex only. strconv's base 0 would also
// take octal, binary and underscores, which the kernel does not; and the
// kernel's leading-0-is-octal rule surprises anyone who writes "010".
func parseNumber(key, item string) (uint64, error) {
	digits, base := item, 10
	if len(item) > 1 && item[0] == '0' && (item[1] == 'x' || item[1] == 'X') {
		digits, base = item[2:], 16
	}
	v, err := strconv.ParseUint(digits, base, 64) // refuses signs and ""
	if err == nil {
		return v, nil
	}
	detail := "not a decimal or 0x-prefixed hexadecimal number"
	if errors.Is(err, strconv.ErrRange) {
		detail = "does not fit in 64 bits"
	}
	return 0, &AnnotationError{Key: key, Item: clipEcho(item), Err: ErrBadNumber, Detail: detail}
}

func (t *enumTable) unknownNameError(item, lower string, ascii bool) *AnnotationError {
	e := &AnnotationError{Key: t.key, Item: clipEcho(item), Err: ErrUnknownName}
	switch {
	case !utf8.ValidString(item):
		e.Detail = "not valid UTF-8"
		return e
	case !ascii:
		// A look-alike such as U+212A KELVIN SIGN prints like 'K'; show
		// which character is the problem.
		i := strings.IndexFunc(item, func(r rune) bool { return r >= utf8.RuneSelf })
		r, _ := utf8.DecodeRuneInString(item[i:])
		e.Detail = fmt.Sprintf("names are ASCII, this has %+q", r)
		return e
	}

	// "BPF_MAP_TYPE_HASH": the user copied the C name.
	if rest, ok := strings.CutPrefix(lower, strings.ToLower(t.cPrefix)); ok {
		if _, known := t.byName[rest]; known {
			e.Suggestions = []string{rest}
			e.Detail = "leave out the " + t.cPrefix + " prefix"
			return e
		}
	}

	cands := make([]string, 0, len(t.byName))
	cands = append(cands, t.canonical...)
	for _, a := range t.aliases {
		cands = append(cands, a.name)
	}
	e.Suggestions = suggestClosest(lower, cands, false)

	// "xdp" under bpf.token/maps: right name, wrong key.
	var elsewhere []string
	for _, k := range Kinds {
		if o := k.table(); o != t {
			if _, ok := o.byName[lower]; ok {
				elsewhere = append(elsewhere, o.key)
			}
		}
	}
	if len(elsewhere) > 0 {
		e.Detail = "valid under " + strings.Join(elsewhere, " and ")
	}
	return e
}

func tooLongError(key, value string) *AnnotationError {
	return &AnnotationError{Key: key, Item: clipEcho(value), Err: ErrTooLong,
		Detail: fmt.Sprintf("%d bytes", len(value))}
}

// ParsePath validates and cleans a bpf.token/path value ("" -> DefaultPath).
//
// The path must be absolute, must not be "/" (that would hide the container's
// root file system), and must not contain ".." components: the hook resolves
// it inside the container root and must not be steered elsewhere. NUL, other
// control characters and invalid UTF-8 are refused so that the path survives
// logs and mountinfo intact.
//
// Unlike list items, the path is not trimmed: " " is a valid directory name,
// and trimming would make ParsePath("/ /") = "/ " fail when parsed again.
func ParsePath(p string) (string, error) {
	if len(p) > maxAnnotationValueLen {
		return "", tooLongError(AnnotationPath, p)
	}
	if p == "" {
		return DefaultPath, nil
	}
	bad := func(detail string) (string, error) {
		return "", &AnnotationError{Key: AnnotationPath, Item: clipEcho(p), Err: ErrBadPath, Detail: detail}
	}
	switch {
	case len(p) > maxMountPathLen:
		return bad(fmt.Sprintf("%d bytes, longer than PATH_MAX (%d)", len(p), maxMountPathLen))
	case !utf8.ValidString(p):
		return bad("not valid UTF-8")
	case strings.ContainsRune(p, 0):
		return bad("contains NUL")
	case strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return bad("contains a control character")
	case !strings.HasPrefix(p, "/"):
		return bad("not absolute")
	case slices.Contains(strings.Split(p, "/"), ".."):
		return bad(`contains a ".." component`)
	}
	clean := path.Clean(p)
	if clean == "/" {
		return bad("that is the container's root")
	}
	return clean, nil
}
