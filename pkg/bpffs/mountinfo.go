package bpffs

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// mountEntry is one line of /proc/<pid>/mountinfo.
type mountEntry struct {
	ID         uint64
	ParentID   uint64
	MountPoint string
	MountOpts  string   // per-mount options, e.g. "rw,nosuid,nodev,noexec,relatime"
	Optional   []string // e.g. "shared:12", "master:3"
	FSType     string
	SuperOpts  string // superblock options, e.g. "rw,delegate_cmds=map_create"
}

func (m *mountEntry) shared() bool {
	for _, o := range m.Optional {
		if strings.HasPrefix(o, "shared:") {
			return true
		}
	}
	return false
}

func (m *mountEntry) hasMountOpt(opt string) bool {
	for _, o := range strings.Split(m.MountOpts, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// superOpt returns the value of key=value in the superblock options.
func (m *mountEntry) superOpt(key string) (string, bool) {
	for _, o := range strings.Split(m.SuperOpts, ",") {
		if k, v, ok := strings.Cut(o, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// parseMountInfoLine parses one line in the format of proc(5).
func parseMountInfoLine(line string) (*mountEntry, error) {
	fields := strings.Split(line, " ")
	sep := -1
	for i := 6; i < len(fields); i++ {
		if fields[i] == "-" {
			sep = i
			break
		}
	}
	if len(fields) < 10 || sep < 0 || len(fields) < sep+4 {
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
	return &mountEntry{
		ID:         id,
		ParentID:   parent,
		MountPoint: unescapeOctal(fields[4]),
		MountOpts:  fields[5],
		Optional:   fields[6:sep],
		FSType:     fields[sep+1],
		SuperOpts:  fields[sep+3],
	}, nil
}

// findMount returns the entry with the given mount id, or nil.
func findMount(r io.Reader, id uint64) (*mountEntry, error) {
	prefix := strconv.FormatUint(id, 10) + " "
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, prefix) {
			return parseMountInfoLine(line)
		}
	}
	return nil, sc.Err()
}

// unescapeOctal undoes the kernel's \ooo escaping of space, tab, newline
// and backslash in mountinfo paths.
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
