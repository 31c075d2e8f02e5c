package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		status int
		stdout string
		stderr string
	}{
		{name: "version", args: []string{"--version"}, status: 0, stdout: "bpftoken-probe dev\n"},
		{name: "help", args: []string{"--help"}, status: 0, stdout: "Exit status: 0 a token was created (and it serves -want), 1 none could be,\n2 usage error, 3 a token was created but it or the process lacks what\n-want names."},
		{name: "unknown profile", args: []string{"-want", "xdp,xpd"}, status: 2, stderr: `bpftoken-probe: -want: unknown profile "xpd" (did you mean "xdp"?); profiles: socket-filter, `},
		{name: "unknown flag", args: []string{"-nope"}, status: 2, stderr: "flag provided but not defined: -nope"},
		{name: "positional argument", args: []string{"/sys/fs/bpf"}, status: 2, stderr: `unexpected argument "/sys/fs/bpf" (the bpffs goes in -path DIR)`},
		{name: "path without value", args: []string{"-path"}, status: 2, stderr: "flag needs an argument: -path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := run(tt.args, &stdout, &stderr); got != tt.status {
				t.Errorf("status %d, want %d", got, tt.status)
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.stderr)
			}
		})
	}
}
