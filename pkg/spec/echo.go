package spec

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// clipEcho shortens s to about maxEchoLen bytes for error messages, at a rune
// boundary when s is valid UTF-8.
func clipEcho(s string) string {
	if len(s) <= maxEchoLen {
		return s
	}
	cut := maxEchoLen
	for cut > maxEchoLen-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// Echo renders a string a tenant or an image wrote (a key, a path, a name,
// an image reference, a container id) for a message or a log line: as is
// when that is unambiguous, quoted otherwise, and clipped to about 64 bytes
// either way, so that it can neither break the line nor flood it.
func Echo(s string) string {
	s = clipEcho(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}

// OneLine keeps a message on one line whatever it wrapped: runs of white
// space, line breaks included, become one space.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
