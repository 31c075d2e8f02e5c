package ocibundle

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

func TestReadState(t *testing.T) {
	tests := []struct {
		name, in string
		wantErr  string // "" for success
	}{
		{"runc state", `{"ociVersion":"1.2.0","id":"c1","status":"creating","pid":42,"bundle":"/b","annotations":{"a":"b"}}`, ""},
		{"empty", "", "empty"},
		{"garbage", "not json", "decode container state"},
		{"truncated", `{"id":"c1","bundle":"/b"`, "decode container state"},
		{"wrong type", `{"id":"c1","pid":"42","bundle":"/b"}`, "decode container state"},
		{"no bundle", `{"id":"c1","pid":42}`, "no bundle"},
		{"relative bundle", `{"id":"c1","pid":42,"bundle":"b"}`, "not absolute"},
		{"non-UTF-8", "{\"id\":\"\xff\",\"bundle\":\"/b\"}", "UTF-8"},
		{"huge", `{"id":"` + strings.Repeat("x", maxStateSize) + `"}`, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := ReadState(strings.NewReader(tt.in))
			if tt.wantErr == "" {
				if err != nil || st.ID != "c1" || st.Pid != 42 || st.Annotations["a"] != "b" {
					t.Fatalf("ReadState = %+v, %v", st, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("ReadState error = %v, want one line containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	const seccomp = `"seccomp":{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}`
	tests := []struct {
		name        string
		doc         string
		wantSeccomp bool
		wantErr     string
	}{
		{"annotated: seccomp kept",
			`{"root":{"path":"rootfs"},"annotations":{"bpf.token/cmds":"map_create"},"process":{"capabilities":{"effective":["CAP_BPF"]}},"linux":{"namespaces":[{"type":"user"}],` + seccomp + `},"mounts":[{"destination":"/proc"}]}`,
			true, ""},
		{"not annotated: seccomp skipped",
			`{"root":{"path":"rootfs"},"annotations":{"x":"y"},"process":{"capabilities":{"effective":["CAP_BPF"]}},"linux":{"namespaces":[{"type":"user"}],` + seccomp + `}}`,
			false, ""},
		{"garbage", `{"root":`, false, "decode"},
		{"bad seccomp", `{"root":{"path":"r"},"annotations":{"bpf.token/cmds":"x"},"process":{"capabilities":{"effective":["CAP_BPF"]}},"linux":{"namespaces":[{"type":"user"}],"seccomp":{"syscalls":"no"}}}`, false, "linux.seccomp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle := t.TempDir()
			if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte(tt.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(bundle)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "config.json") {
					t.Fatalf("LoadConfig error = %v, want one naming config.json and %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			root, err := RootPath(bundle, cfg)
			if err != nil || root != filepath.Join(bundle, "rootfs") {
				t.Errorf("RootPath = %q, %v", root, err)
			}
			if CheckUserNamespace(cfg) != nil || cfg.Process.Capabilities.Effective[0] != "CAP_BPF" {
				t.Errorf("config lost namespaces or capabilities: %+v", cfg)
			}
			if got := cfg.Linux.Seccomp != nil; got != tt.wantSeccomp {
				t.Errorf("seccomp decoded = %v, want %v", got, tt.wantSeccomp)
			}
		})
	}
	if _, err := LoadConfig(t.TempDir()); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("LoadConfig of a bundle without config.json = %v", err)
	}
}

func TestCheckUserNamespace(t *testing.T) {
	tests := []struct {
		cfg  *specs.Spec
		want error
	}{
		{&specs.Spec{}, spec.ErrNoUserNamespace},
		{&specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace}}}}, spec.ErrNoUserNamespace},
		{&specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.UserNamespace, Path: "/proc/1/ns/user"}}}}, nil},
	}
	for i, tt := range tests {
		if err := CheckUserNamespace(tt.cfg); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("case %d: CheckUserNamespace = %v, want %v", i, err, tt.want)
		}
	}
}

func TestSeccompBlocksBPF(t *testing.T) {
	tests := []struct {
		name string
		s    *specs.LinuxSeccomp
		want bool
	}{
		{"no filter", nil, false},
		{"default deny, bpf not listed", &specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"read", "write"}, Action: specs.ActAllow}},
		}, true},
		{"allows bpf", &specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"bpf", "read"}, Action: specs.ActAllow}},
		}, false},
		{"allows bpf only with arguments", &specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"bpf"}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0, Op: specs.OpEqualTo}}}},
		}, true},
		{"default allow, bpf denied", &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"bpf"}, Action: specs.ActErrno}},
		}, true},
		{"default allow", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &specs.Spec{Linux: &specs.Linux{Seccomp: tt.s}}
			if got := SeccompBlocksBPF(cfg); got != tt.want {
				t.Errorf("SeccompBlocksBPF = %v, want %v", got, tt.want)
			}
		})
	}
}
