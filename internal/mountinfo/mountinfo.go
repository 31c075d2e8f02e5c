// Package mountinfo parses /proc/<pid>/mountinfo (proc(5)), the one place
// the kernel tells which mounts a mount namespace has and with which
// superblock options (where bpffs lists its delegate_* options).
//
// Its one constraint: it reads what the kernel wrote and nothing else, so a
// malformed line is an error, not a guess.
package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Entry is one line of mountinfo.
type Entry struct {
	ID         uint64
	ParentID   uint64
	Root       string // path inside the file system; "/" for its root
	MountPoint string
	MountOpts  string   // per-mount options, e.g. "rw,nosuid,nodev,noexec,relatime"
	Optional   []string // e.g. "shared:12", "master:3"
	FSType     string
	SuperOpts  string // superblock options, e.g. "rw,delegate_cmds=map_create"
}

// Shared reports whether the mount propagates to a peer group.
func (e *Entry) Shared() bool {
	for _, o := range e.Optional {
		if strings.HasPrefix(o, "shared:") {
			return true
		}
	}
	return false
}

// HasMountOpt reports whether opt is among the per-mount options.
func (e *Entry) HasMountOpt(opt string) bool {
	return slices.Contains(strings.Split(e.MountOpts, ","), opt)
}

// SuperOpt returns the value of key=value among the superblock options.
func (e *Entry) SuperOpt(key string) (string, bool) {
	for _, o := range strings.Split(e.SuperOpts, ",") {
		if k, v, ok := strings.Cut(o, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// ParseLine parses
//
//	id parent major:minor root mountpoint opts [optional...] - fstype source superopts
func ParseLine(line string) (*Entry, error) {
	fields := strings.Split(line, " ")
	sep := -1
	for i := 6; i < len(fields); i++ {
		if fields[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || len(fields) < sep+4 {
		return nil, fmt.Errorf("malformed mountinfo line %q", line)
	}
	id, err := strconv.ParseUint(fields[0], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("malformed mount id in %q", line)
	}
	parent, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("malformed parent id in %q", line)
	}
	return &Entry{
		ID:         id,
		ParentID:   parent,
		Root:       unescapeOctal(fields[3]),
		MountPoint: unescapeOctal(fields[4]),
		MountOpts:  fields[5],
		Optional:   fields[6:sep],
		FSType:     fields[sep+1],
		SuperOpts:  fields[sep+3],
	}, nil
}

// Parse reads every line.
func Parse(r io.Reader) ([]Entry, error) {
	var out []Entry
	sc := newScanner(r)
	for sc.Scan() {
		if sc.Text() == "" {
			continue
		}
		e, err := ParseLine(sc.Text())
		if err != nil {
			return nil, err
		}
		out = append(out, *e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// Find returns the entry with the given mount id, or nil; it parses only
// that line.
func Find(r io.Reader, id uint64) (*Entry, error) {
	prefix := strconv.FormatUint(id, 10) + " "
	sc := newScanner(r)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, prefix) {
			return ParseLine(line)
		}
	}
	return nil, sc.Err()
}

// newScanner allows long lines: option strings of overlay mounts with many
// layers exceed bufio's 64 KiB default.
func newScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	return sc
}

// unescapeOctal undoes the kernel's \ooo escaping of space, tab, newline and
// backslash in mountinfo paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
