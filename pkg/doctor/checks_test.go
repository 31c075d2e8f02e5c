package doctor

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"

	"github.com/nri-bpftoken/nri-bpftoken/internal/procfs"
)

func TestKernelVerdict(t *testing.T) {
	tests := []struct {
		release string
		verdict Verdict
	}{
		{"6.18.44-fc-v595", OK},
		{"6.9.0", OK},
		{"6.9", OK},
		{"6.10-rc1", OK},
		{"7.0.0-generic", OK},
		{"10.1", OK},
		{"6.8.12-arch1-1", Fail},
		{"6.1.0-21-amd64", Fail},
		{"5.15.0-105-generic", Fail},
		{"4.19.0", Fail},
		{"6", Warn},
		{"", Warn},
		{"six.nine", Warn},
		{"6.x", Warn},
		{"-6.9", Warn},
	}
	for _, tt := range tests {
		t.Run(tt.release, func(t *testing.T) {
			r := kernelVerdict(tt.release)
			if r.Verdict != tt.verdict || r.Name != CheckKernel {
				t.Errorf("kernelVerdict(%q) = %+v, want verdict %s", tt.release, r, tt.verdict)
			}
			if (r.Verdict == OK) != (r.Fix == "") {
				t.Errorf("kernelVerdict(%q): fix %q with verdict %s", tt.release, r.Fix, r.Verdict)
			}
		})
	}
}

func TestLockdownVerdict(t *testing.T) {
	tests := []struct {
		mode   string
		tokens Verdict
		want   Verdict
		detail string
	}{
		{"none", OK, OK, "none"},
		{"none", Fail, OK, "none"},
		{"integrity", OK, Warn, "bpf_probe_write_user"},
		{"integrity", Fail, Fail, "BPF_TOKEN_CREATE"},
		{"integrity", Warn, Fail, "BPF_TOKEN_CREATE"}, // not checked (not root)
		{"confidentiality", OK, Warn, "read kernel memory"},
		{"confidentiality", Fail, Fail, "read kernel memory"},
	}
	for _, tt := range tests {
		r := lockdownVerdict(tt.mode, procfs.LockdownFile, tt.tokens)
		if r.Verdict != tt.want || !strings.Contains(r.Detail, tt.detail) || r.Name != CheckLockdown {
			t.Errorf("lockdownVerdict(%s, tokens %s) = %+v; want %s mentioning %q", tt.mode, tt.tokens, r, tt.want, tt.detail)
		}
		if (r.Verdict == OK) != (r.Fix == "") {
			t.Errorf("lockdownVerdict(%s, tokens %s): fix %q with verdict %s", tt.mode, tt.tokens, r.Fix, r.Verdict)
		}
	}
}

func TestBTFVerdict(t *testing.T) {
	if r := btfVerdict(nil); r.Verdict != OK || r.Fix != "" {
		t.Errorf("btfVerdict(nil) = %+v", r)
	}
	r := btfVerdict(&os.PathError{Op: "stat", Path: vmlinuxBTF, Err: os.ErrNotExist})
	if r.Verdict != Warn || !strings.Contains(r.Detail, "numbers") || !strings.Contains(r.Fix, "CONFIG_DEBUG_INFO_BTF") {
		t.Errorf("btfVerdict(ENOENT) = %+v", r)
	}
	if r := btfVerdict(errors.New("boom")); r.Verdict != Warn || !strings.Contains(r.Detail, "boom") {
		t.Errorf("btfVerdict(boom) = %+v", r)
	}
}

func TestUserNSVerdict(t *testing.T) {
	tests := []struct {
		name    string
		state   usernsState
		want    Verdict
		details []string
	}{
		{"this machine", usernsState{haveUserNS: true, maxUserNS: "96365", unprivBPF: "2"}, OK,
			[]string{"user.max_user_namespaces=96365", "unprivileged_bpf_disabled=2", "tokens are the way"}},
		{"no user namespaces", usernsState{haveUserNS: false}, Fail, []string{"no user namespaces", "no /proc/self/ns/user"}},
		{"limit zero", usernsState{haveUserNS: true, maxUserNS: "0"}, Fail, []string{"max_user_namespaces=0"}},
		{"debian knob off", usernsState{haveUserNS: true, maxUserNS: "100", unprivClone: "0"}, OK,
			[]string{"unprivileged_userns_clone=0", "as root"}},
		{"ubuntu apparmor", usernsState{haveUserNS: true, maxUserNS: "100", apparmorRestrict: "1", unprivBPF: "1"}, OK,
			[]string{"apparmor_restrict_unprivileged_userns=1", "unprivileged_bpf_disabled=1", "until reboot"}},
		{"unprivileged bpf on", usernsState{haveUserNS: true, unprivBPF: "0"}, OK, []string{"unprivileged_bpf_disabled=0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := usernsVerdict(tt.state)
			if r.Verdict != tt.want || r.Name != CheckUserNS {
				t.Errorf("verdict %s, want %s: %+v", r.Verdict, tt.want, r)
			}
			for _, d := range tt.details {
				if !strings.Contains(r.Detail, d) {
					t.Errorf("detail %q lacks %q", r.Detail, d)
				}
			}
			if (r.Verdict == OK) != (r.Fix == "") {
				t.Errorf("fix %q with verdict %s", r.Fix, r.Verdict)
			}
		})
	}
}

func TestNRI(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "nri.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if r := checkNRI(sock); r.Verdict != OK || r.Name != CheckNRI || !strings.Contains(r.Detail, sock) {
		t.Errorf("checkNRI(listening) = %+v", r)
	}
	// The socket file stays, nobody listens.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	r := checkNRI(sock)
	if r.Verdict != Fail || !strings.Contains(r.Detail, "connection refused") || !strings.Contains(r.Detail, "no runtime with NRI enabled is listening there") {
		t.Errorf("checkNRI(stale socket) = %+v", r)
	}
	r = checkNRI(filepath.Join(dir, "nonexistent"))
	if r.Verdict != Fail || !strings.Contains(r.Detail, "no such file") || !strings.Contains(r.Fix, nriConfigExample) {
		t.Errorf("checkNRI(nonexistent) = %+v", r)
	}
	if r := checkNRI(dir); r.Verdict != Fail {
		t.Errorf("checkNRI(a directory) = %+v", r)
	}
}

func TestDefaultNRISocketIsNRIs(t *testing.T) {
	if DefaultNRISocket != api.DefaultSocketPath {
		t.Errorf("DefaultNRISocket = %q, the NRI library's default is %q", DefaultNRISocket, api.DefaultSocketPath)
	}
}

func TestRunOrderAndOptionalChecks(t *testing.T) {
	names := func(rs []Result) string {
		var n []string
		for _, r := range rs {
			n = append(n, r.Name)
		}
		return strings.Join(n, ",")
	}
	got := names(Run(t.Context(), Options{Hook: true, HooksDirs: []string{t.TempDir()}, NRI: true, NRISocket: "/nonexistent"}))
	if want := "kernel,tokens,btf,lockdown,userns,hooks.d,policy,nri"; got != want {
		t.Errorf("Run checks %s, want %s", got, want)
	}
}

func TestCheckHookPolicy(t *testing.T) {
	dir := t.TempDir()
	write := func(name, doc string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		file    string
		verdict Verdict
		detail  []string
	}{
		{"valid", write("ok.yaml", "rules: [{name: a, allow: {maps: array}}]"), OK, []string{"ok.yaml: 1 rules"}},
		{"tracing for any pod author", write("wide.yaml", "rules: [{name: a, allow: {progs: kprobe}}]"), Warn, []string{`rule "a"`, "kprobe"}},
		{"malformed", write("bad.yaml", "rules: [{name: a, allow: {maps: hsh}}]"), Fail, []string{"bad.yaml", `"hsh"`}},
		{"missing, given with --policy", filepath.Join(dir, "absent.yaml"), Fail, []string{"absent.yaml", "no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := checkHookPolicy(tt.file)
			if r.Verdict != tt.verdict {
				t.Errorf("verdict %s, want %s (%+v)", r.Verdict, tt.verdict, r)
			}
			for _, w := range tt.detail {
				if !strings.Contains(r.Detail, w) {
					t.Errorf("detail %q lacks %q", r.Detail, w)
				}
			}
			if (r.Verdict == OK) != (r.Fix == "") {
				t.Errorf("fix %q with verdict %s", r.Fix, r.Verdict)
			}
		})
	}
}

func TestIsMountPoint(t *testing.T) {
	tests := []struct {
		path, fstype string
		want         bool
	}{
		{"/proc", "proc", true},
		{"/proc", "sysfs", false},
		{"/proc/self", "proc", false},
		{"/nonexistent", "proc", false},
	}
	for _, tt := range tests {
		if got, err := isMountPoint(tt.path, tt.fstype); got != tt.want || err != nil {
			t.Errorf("isMountPoint(%s, %s) = %v, %v; want %v", tt.path, tt.fstype, got, err, tt.want)
		}
	}
}
