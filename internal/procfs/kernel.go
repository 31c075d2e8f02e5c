package procfs

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// KernelRelease returns the running kernel's release, as uname -r prints
// it ("6.18.44-fc-v595").
func KernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// ParseKernelVersion reads major and minor from a release string such as
// "6.18.44-fc-v595" or "6.10-rc1".
func ParseKernelVersion(release string) (major, minor int, ok bool) {
	majorStr, rest, found := strings.Cut(release, ".")
	if !found {
		return 0, 0, false
	}
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	ma, err1 := strconv.Atoi(majorStr)
	mi, err2 := strconv.Atoi(rest[:end])
	if err1 != nil || err2 != nil || ma < 0 {
		return 0, 0, false
	}
	return ma, mi, true
}

// KernelAtLeast reports whether release is version major.minor or later;
// false when it holds no version.
func KernelAtLeast(release string, major, minor int) bool {
	ma, mi, ok := ParseKernelVersion(release)
	return ok && (ma > major || (ma == major && mi >= minor))
}
