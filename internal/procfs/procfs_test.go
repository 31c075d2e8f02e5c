package procfs

import (
	"errors"
	"os"
	"slices"
	"testing"
)

func TestField(t *testing.T) {
	status := "Name:\tbpftoken-probe\nCapEff:\t000000c000000000\nSeccomp:\t2\nSeccomp_filters:\t1\n"
	tests := []struct {
		key, want string
		ok        bool
	}{
		{"Seccomp", "2", true},
		{"Seccomp_filters", "1", true},
		{"CapEff", "000000c000000000", true},
		{"NoSuch", "", false},
	}
	for _, tt := range tests {
		if got, ok := Field(status, tt.key); got != tt.want || ok != tt.ok {
			t.Errorf("Field(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSysctl(t *testing.T) {
	tests := []struct {
		name    string
		missing bool
	}{
		{"kernel.ostype", false},
		{"kernel.no_such_sysctl", true},
	}
	for _, tt := range tests {
		v, err := Sysctl(tt.name)
		if tt.missing != errors.Is(err, os.ErrNotExist) || (!tt.missing && (err != nil || v == "")) {
			t.Errorf("Sysctl(%q) = %q, %v; want missing: %v", tt.name, v, err, tt.missing)
		}
	}
}

func TestParseKernelVersion(t *testing.T) {
	tests := []struct {
		release      string
		major, minor int
		ok           bool
	}{
		{"6.18.44-fc-v595", 6, 18, true},
		{"6.9.0", 6, 9, true},
		{"6.9", 6, 9, true},
		{"6.10-rc1", 6, 10, true},
		{"7.0.0-generic", 7, 0, true},
		{"10.1", 10, 1, true},
		{"6.8.12-arch1-1", 6, 8, true},
		{"6.1.0-21-amd64", 6, 1, true},
		{"5.15.0-105-generic", 5, 15, true},
		{"4.19.0", 4, 19, true},
		{"6", 0, 0, false},
		{"", 0, 0, false},
		{"six.nine", 0, 0, false},
		{"6.x", 0, 0, false},
		{"-6.9", 0, 0, false},
	}
	for _, tt := range tests {
		major, minor, ok := ParseKernelVersion(tt.release)
		if major != tt.major || minor != tt.minor || ok != tt.ok {
			t.Errorf("ParseKernelVersion(%q) = %d, %d, %v; want %d, %d, %v", tt.release, major, minor, ok, tt.major, tt.minor, tt.ok)
		}
	}
}

func TestKernelAtLeast(t *testing.T) {
	tests := []struct {
		release string
		want    bool
	}{
		{"6.9.0", true},
		{"6.10-rc1", true},
		{"7.0.0-generic", true},
		{"6.8.12-arch1-1", false},
		{"5.15.0-105-generic", false},
		{"6", false},
		{"six.nine", false},
	}
	for _, tt := range tests {
		if got := KernelAtLeast(tt.release, 6, 9); got != tt.want {
			t.Errorf("KernelAtLeast(%q, 6, 9) = %v, want %v", tt.release, got, tt.want)
		}
	}
	release, err := KernelRelease()
	if _, _, ok := ParseKernelVersion(release); err != nil || !ok {
		t.Errorf("KernelRelease() = %q, %v: no version in it", release, err)
	}
}

func TestParseLockdown(t *testing.T) {
	tests := []struct {
		content string
		mode    string
		ok      bool
	}{
		{"[none] integrity confidentiality\n", "none", true},
		{"none [integrity] confidentiality\n", "integrity", true},
		{"none integrity [confidentiality]\n", "confidentiality", true},
		{"[none] integrity confidentiality", "none", true},
		{"none integrity confidentiality\n", "", false},
		{"", "", false},
		{"none [bogus] confidentiality", "", false},
		{"[]", "", false},
	}
	for _, tt := range tests {
		mode, ok := ParseLockdown(tt.content)
		if mode != tt.mode || ok != tt.ok {
			t.Errorf("ParseLockdown(%q) = %q, %v; want %q, %v", tt.content, mode, ok, tt.mode, tt.ok)
		}
	}
}

func TestCmdlineLockdown(t *testing.T) {
	tests := []struct{ cmdline, want string }{
		{"console=ttyS0 quiet", ""},
		{"quiet lockdown=integrity", "integrity"},
		{"lockdown=confidentiality ro", "confidentiality"},
		{"lockdown=integrity lockdown=none", ""},
		{"lockdown=bogus", ""},
		{"quiet -- lockdown=integrity", ""}, // an argument of init
	}
	for _, tt := range tests {
		if got := CmdlineLockdown(tt.cmdline); got != tt.want {
			t.Errorf("CmdlineLockdown(%q) = %q, want %q", tt.cmdline, got, tt.want)
		}
	}
}

func TestParseIDMap(t *testing.T) {
	tests := []struct {
		in   string
		want []IDMap
		bad  bool
	}{
		{"         0     100000      65536\n", []IDMap{{0, 100000, 65536}}, false},
		{"0 0 4294967295\n", []IDMap{{0, 0, 4294967295}}, false},
		{"0 1 2\n5 10 1\n", []IDMap{{0, 1, 2}, {5, 10, 1}}, false},
		{"", nil, false},
		{"0 1\n", nil, true},
		{"0 x 1\n", nil, true},
		{"0 1 4294967296\n", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseIDMap(tt.in)
		if (err != nil) != tt.bad || !slices.Equal(got, tt.want) {
			t.Errorf("ParseIDMap(%q) = %v, %v; want %v (error: %v)", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestIDMapFacts(t *testing.T) {
	tests := []struct {
		name    string
		maps    []IDMap
		initial bool
		root    int
	}{
		{"the initial namespace", []IDMap{{0, 0, 4294967295}}, true, 0},
		{"a container's", []IDMap{{0, 100000, 65536}}, false, 100000},
		{"root mapped second", []IDMap{{1, 100000, 65535}, {0, 1000, 1}}, false, 1000},
		{"an identity map of fewer ids", []IDMap{{0, 0, 65536}}, false, 0},
		{"root not mapped", []IDMap{{1000, 1000, 1}}, false, -1},
		{"no maps", nil, false, -1},
	}
	for _, tt := range tests {
		if got := IsInitial(tt.maps); got != tt.initial {
			t.Errorf("%s: IsInitial(%v) = %v, want %v", tt.name, tt.maps, got, tt.initial)
		}
		if got := RootID(tt.maps); got != tt.root {
			t.Errorf("%s: RootID(%v) = %d, want %d", tt.name, tt.maps, got, tt.root)
		}
	}
}

func TestReadIDMaps(t *testing.T) {
	for _, read := range []func(int) ([]IDMap, error){ReadUIDMap, ReadGIDMap} {
		self, err := read(Self)
		if err != nil || len(self) == 0 {
			t.Fatalf("read own map = %v, %v", self, err)
		}
		if byPid, err := read(os.Getpid()); err != nil || !slices.Equal(byPid, self) {
			t.Errorf("read map by pid = %v, %v; want %v", byPid, err, self)
		}
		// A pid above pid_max: no such process.
		if _, err := read(1 << 30); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("read map of no process = %v, want ErrNotExist", err)
		}
	}
}

func TestProcPath(t *testing.T) {
	tests := []struct {
		pid  int
		want string
	}{
		{Self, "/proc/self/uid_map"},
		{42, "/proc/42/uid_map"},
		{0, "/proc/0/uid_map"}, // no process: never the caller's
	}
	for _, tt := range tests {
		if got := procPath(tt.pid, "uid_map"); got != tt.want {
			t.Errorf("procPath(%d) = %q, want %q", tt.pid, got, tt.want)
		}
	}
}
