package spec

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels, matched with errors.Is on the returned *AnnotationError.
var (
	ErrUnknownKey   = errors.New("unknown annotation key")
	ErrUnknownName  = errors.New("unknown name")
	ErrBadNumber    = errors.New("bad number")
	ErrBadPath      = errors.New("bad path")
	ErrNoDelegation = errors.New("no delegation requested")
	ErrTooLong      = errors.New("value too long")
	ErrBadScope     = errors.New("bad scope")
	// ErrUnknownProfile means a profile name is not in the Profiles table.
	ErrUnknownProfile = errors.New("unknown profile")
)

// AnnotationError describes a bad bpf.token/ annotation. Its user-supplied
// fields are clipped, so the error never carries more than a few dozen bytes
// of the annotation.
type AnnotationError struct {
	Key         string   // the annotation key, e.g. "bpf.token/maps"
	Item        string   // the offending item, if any
	Suggestions []string // closest valid names or keys
	Err         error    // one of the sentinels
	Detail      string   // optional extra text
	// Within is the annotation that held Key as a field, e.g.
	// "bpf.token/container.web" for a pod's per-container map.
	Within string
}

// Error returns a single line saying what is wrong, in which key, with which
// item, and what to do about it. Every user-supplied string is quoted or
// escaped, so control characters cannot break the line.
func (e *AnnotationError) Error() string {
	var b strings.Builder
	b.WriteString("annotation ")
	if e.Within != "" {
		b.WriteString(Echo(e.Within))
		b.WriteString(", field ")
		b.WriteString(Echo(strings.TrimPrefix(e.Key, AnnotationPrefix)))
	} else {
		b.WriteString(Echo(e.Key))
	}
	b.WriteString(e.reason())
	return b.String()
}

// Reason says what is wrong with the value and what to do, without naming
// the annotation: for callers that name the place themselves, such as a
// field of a policy file.
func (e *AnnotationError) Reason() string {
	return strings.TrimLeft(e.reason(), ": ")
}

// reason is the part of Error after the annotation's name.
func (e *AnnotationError) reason() string {
	var b strings.Builder
	t := kindOfKey(e.Key).table()

	switch e.Err {
	case ErrNoDelegation:
		b.WriteByte(' ')
		if e.Detail != "" {
			b.WriteString(e.Detail)
		} else {
			b.WriteString("requests no delegation")
		}
		b.WriteString(": set at least one of ")
		b.WriteString(strings.Join(validAnnotationKeys[:delegateKeyCount], ", "))
		return b.String()

	case ErrUnknownKey:
		b.WriteString(": unknown key")
		writeHints(&b, e.Suggestions, e.Detail)
		b.WriteString("; valid keys: ")
		b.WriteString(strings.Join(validAnnotationKeys, ", "))
		return b.String()

	case ErrUnknownName:
		noun := "name"
		if t != nil {
			noun = t.noun
		}
		fmt.Fprintf(&b, ": unknown %s %q", noun, e.Item)
		writeHints(&b, e.Suggestions, e.Detail)
		if t != nil {
			fmt.Fprintf(&b, "; use names of enum %s without %s, \"any\", or a number", t.cEnum, t.cPrefix)
		}
		return b.String()

	case ErrBadNumber:
		fmt.Fprintf(&b, ": bad number %q", e.Item)
		writeHints(&b, e.Suggestions, e.Detail)
		b.WriteString("; use a decimal or 0x-prefixed hexadecimal bit mask that fits in 64 bits")
		return b.String()

	case ErrBadPath:
		fmt.Fprintf(&b, ": bad path %q", e.Item)
		writeHints(&b, e.Suggestions, e.Detail)
		b.WriteString("; use an absolute path such as " + DefaultPath)
		return b.String()

	case ErrBadScope:
		fmt.Fprintf(&b, ": bad scope %q; use %q (one bpffs for the pod, shared by its containers) or %q (the default: one per container)", e.Item, ScopePod, ScopeContainer)
		return b.String()

	case ErrUnknownProfile:
		fmt.Fprintf(&b, ": unknown profile %q", e.Item)
		writeHints(&b, e.Suggestions, e.Detail)
		b.WriteString("; profiles: " + strings.Join(profileNames(), ", "))
		return b.String()

	case ErrTooLong:
		b.WriteString(": value too long")
		writeHints(&b, e.Suggestions, e.Detail)
		if e.Item != "" {
			fmt.Fprintf(&b, ", starting %q", e.Item)
		}
		fmt.Fprintf(&b, "; keep it to %d bytes at most", maxAnnotationValueLen)
		return b.String()
	}

	// Not one of ours (a hand-built error): still one line.
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(strings.Join(strings.Fields(e.Err.Error()), " "))
	} else {
		b.WriteString("invalid")
	}
	if e.Item != "" {
		fmt.Fprintf(&b, " %q", e.Item)
	}
	writeHints(&b, e.Suggestions, e.Detail)
	return b.String()
}

// Unwrap returns the sentinel.
func (e *AnnotationError) Unwrap() error { return e.Err }

// writeHints adds one parenthesis with the suggestions and the detail, e.g.
// ` (did you mean "hash"?; leave out the BPF_MAP_TYPE_ prefix)`.
func writeHints(b *strings.Builder, sugg []string, detail string) {
	// Details are ours, but a hand-built error must not break the line.
	detail = strings.Join(strings.Fields(detail), " ")
	if len(sugg) == 0 && detail == "" {
		return
	}
	b.WriteString(" (")
	if len(sugg) > 0 {
		b.WriteString("did you mean ")
		for i, x := range sugg {
			switch {
			case i == 0:
			case i == len(sugg)-1:
				b.WriteString(" or ")
			default:
				b.WriteString(", ")
			}
			fmt.Fprintf(b, "%q", x)
		}
		b.WriteByte('?')
		if detail != "" {
			b.WriteString("; ")
		}
	}
	b.WriteString(detail)
	b.WriteByte(')')
}
