package main

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestExplainFailure(t *testing.T) {
	inContainer := environment{
		Caps:    map[string]bool{"CAP_BPF": true},
		Seccomp: seccompState{Mode: "filter", BPFErrno: "EINVAL"},
		UserNS:  userNSState{UIDMap: "0 100000 65536"},
	}
	with := func(f func(*environment)) environment {
		e := inContainer
		e.Caps = map[string]bool{"CAP_BPF": true}
		f(&e)
		return e
	}
	create := func(err error) *tokenFailure {
		return &tokenFailure{path: "/sys/fs/bpf", op: "BPF_TOKEN_CREATE", err: err}
	}
	tests := []struct {
		name    string
		failure *tokenFailure
		env     environment
		want    []string // substrings, in order
	}{
		{"seccomp first", create(unix.EPERM),
			with(func(e *environment) { e.Seccomp.BlocksBPF = true; e.Caps["CAP_BPF"] = false }),
			[]string{"BPF_TOKEN_CREATE /sys/fs/bpf failed with EPERM", "seccomp blocks bpf()", "--security-opt seccomp="}},
		{"no CAP_BPF", create(unix.EPERM), with(func(e *environment) { e.Caps["CAP_BPF"] = false }),
			[]string{"EPERM", "lacks CAP_BPF", "--cap-add BPF"}},
		{"another user namespace's bpffs", create(unix.EPERM), inContainer,
			[]string{"EPERM", "belongs to another user namespace"}},
		{"initial user namespace", create(unix.EOPNOTSUPP), with(func(e *environment) { e.UserNS.Initial = true }),
			[]string{"failed with EOPNOTSUPP", "initial user namespace", "--userns=auto"}},
		{"lockdown", create(unix.EOPNOTSUPP), with(func(e *environment) { e.Lockdown = "none [integrity] confidentiality" }),
			[]string{"EOPNOTSUPP", "lockdown (none [integrity] confidentiality)"}},
		{"EOPNOTSUPP, cause unknown", create(unix.EOPNOTSUPP), with(func(e *environment) { e.Lockdown = "[none] integrity confidentiality" }),
			[]string{"EOPNOTSUPP", "initial user namespace or kernel lockdown"}},
		{"nothing delegated", create(unix.ENOENT), inContainer,
			[]string{"failed with ENOENT", "delegates nothing", "bpf.token/"}},
		{"not a bpffs", &tokenFailure{path: "/tmp", op: "BPF_TOKEN_CREATE", err: unix.EINVAL, notBPFFS: true}, inContainer,
			[]string{"/tmp failed with EINVAL", "not a bpffs"}},
		{"not the root", create(unix.EINVAL), inContainer,
			[]string{"EINVAL", "not the root of a bpffs", "Linux >= 6.9; this is 6.18.0"}},
		{"bpf() missing", create(unix.ENOSYS), inContainer, []string{"ENOSYS", "not available"}},
		{"open: no such directory", &tokenFailure{path: "/run/bpf", op: "open", err: unix.ENOENT}, inContainer,
			[]string{"open /run/bpf failed with ENOENT", "no such directory", "-path"}},
		{"open: not a directory", &tokenFailure{path: "/etc/passwd", op: "open", err: unix.ENOTDIR}, inContainer,
			[]string{"ENOTDIR", "not a directory"}},
		{"open: permission", &tokenFailure{path: "/run/bpf", op: "open", err: unix.EACCES}, inContainer,
			[]string{"EACCES", "permissions"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := explainFailure(tt.failure, tt.env, "6.18.0")
			if strings.Contains(got, "\n") {
				t.Errorf("not one line: %q", got)
			}
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("%q lacks %q (in this order: %q)", got, w, tt.want)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestLockdownActive(t *testing.T) {
	for s, want := range map[string]bool{
		"":                                 false,
		"[none] integrity confidentiality": false,
		"none [integrity] confidentiality": true,
		"none integrity [confidentiality]": true,
	} {
		if got := lockdownActive(s); got != want {
			t.Errorf("lockdownActive(%q) = %v, want %v", s, got, want)
		}
	}
}
