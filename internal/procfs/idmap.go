package procfs

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// IDMap is one line of a user namespace's uid_map or gid_map.
type IDMap struct {
	Inside, Outside, Count uint32
}

// String writes m as podman's --uidmap does: inside:outside:count.
func (m IDMap) String() string { return fmt.Sprintf("%d:%d:%d", m.Inside, m.Outside, m.Count) }

// identity is the one line of the initial user namespace's maps: every id
// to itself.
var identity = IDMap{Inside: 0, Outside: 0, Count: math.MaxUint32}

// IsInitial reports whether maps are those of the initial user namespace,
// which maps every id to itself; any other maps belong to a namespace
// something created.
func IsInitial(maps []IDMap) bool {
	return len(maps) == 1 && maps[0] == identity
}

// RootID returns the id outside that id 0 inside maps to, or -1 when it is
// not mapped.
func RootID(maps []IDMap) int {
	for _, m := range maps {
		if m.Inside == 0 && m.Count > 0 {
			return int(m.Outside)
		}
	}
	return -1
}

// ReadUIDMap reads the uid_map of process pid (or Self).
func ReadUIDMap(pid int) ([]IDMap, error) { return readIDMap(procPath(pid, "uid_map")) }

// ReadGIDMap reads the gid_map of process pid (or Self).
func ReadGIDMap(pid int) ([]IDMap, error) { return readIDMap(procPath(pid, "gid_map")) }

// readIDMap reads and parses a uid_map or gid_map file; a failed read is
// returned as it is, naming the file.
func readIDMap(path string) ([]IDMap, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	maps, err := ParseIDMap(string(data))
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return maps, nil
}

// ParseIDMap parses the content of a uid_map or gid_map file.
func ParseIDMap(data string) ([]IDMap, error) {
	var out []IDMap
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("bad line %q", line)
		}
		var v [3]uint32
		for i := range f {
			n, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("bad line %q", line)
			}
			v[i] = uint32(n)
		}
		out = append(out, IDMap{Inside: v[0], Outside: v[1], Count: v[2]})
	}
	return out, nil
}

// MapsOutside reports whether the host id has an id inside maps.
func MapsOutside(maps []IDMap, id uint32) bool {
	for _, m := range maps {
		if uint64(id) >= uint64(m.Outside) && uint64(id) < uint64(m.Outside)+uint64(m.Count) {
			return true
		}
	}
	return false
}
