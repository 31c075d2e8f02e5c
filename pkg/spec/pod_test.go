package spec

import (
	"errors"
	"strings"
	"testing"
)

func TestForContainer(t *testing.T) {
	podWide := map[string]string{"bpf.token/cmds": "map_create", "bpf.token/maps": "array"}
	with := func(base map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	tests := []struct {
		name      string
		pod, ctr  map[string]string
		container string
		want      *Delegation
		wantErr   error
		wantMsg   []string
	}{
		{name: "nothing asked", pod: map[string]string{"other": "x"}, container: "web"},
		{name: "pod-wide", pod: podWide, container: "web",
			want: &Delegation{Cmds: 1, Maps: 1 << 2, Path: DefaultPath}},
		{name: "per-container JSON replaces pod-wide",
			pod:       with(podWide, "bpf.token/container.web", `{"cmds":"prog_load","progs":["socket_filter"],"attachs":"cgroup_inet_ingress","path":"/run/bpf"}`),
			container: "web",
			want:      &Delegation{Cmds: 1 << 5, Progs: 1 << 1, Attachs: 1, Path: "/run/bpf"}},
		{name: "per-container YAML",
			pod:       with(nil, "bpf.token/container.web", "cmds: map_create:btf_load\nmaps: [array, hash]\n"),
			container: "web",
			want:      &Delegation{Cmds: 1 | 1<<18, Maps: 1<<1 | 1<<2, Path: DefaultPath}},
		{name: "other container keeps pod-wide",
			pod:       with(podWide, "bpf.token/container.web", `{"cmds":"prog_load"}`),
			container: "sidecar",
			want:      &Delegation{Cmds: 1, Maps: 1 << 2, Path: DefaultPath}},
		{name: "opt-out", pod: with(podWide, "bpf.token/container.web", " none "), container: "web"},
		{name: "only another container asks", pod: with(nil, "bpf.token/container.web", `{"cmds":"prog_load"}`), container: "sidecar"},
		{name: "container's own annotations win",
			pod: podWide, ctr: map[string]string{"bpf.token/cmds": "btf_load"}, container: "web",
			want: &Delegation{Cmds: 1 << 18, Path: DefaultPath}},
		{name: "bad name in per-container map",
			pod:       with(nil, "bpf.token/container.web", `{"maps":"hsh"}`),
			container: "web", wantErr: ErrUnknownName,
			wantMsg: []string{"bpf.token/container.web", "field maps", `"hsh"`, `"hash"`}},
		{name: "unknown field",
			pod:       with(nil, "bpf.token/container.web", `{"prog":"xdp"}`),
			container: "web", wantErr: ErrBadContainerValue,
			wantMsg: []string{"bpf.token/container.web", "prog", `"none"`}},
		{name: "not a map",
			pod:       with(nil, "bpf.token/container.web", `[1, 2`),
			container: "web", wantErr: ErrBadContainerValue,
			wantMsg: []string{"bpf.token/container.web", "YAML/JSON map"}},
		{name: "empty map",
			pod:       with(nil, "bpf.token/container.web", `{}`),
			container: "web", wantErr: ErrNoDelegation,
			wantMsg: []string{"bpf.token/container.web", "sets no field"}},
		{name: "bad pod-wide key", pod: with(nil, "bpf.token/prog", "xdp"), container: "web",
			wantErr: ErrUnknownKey, wantMsg: []string{"bpf.token/prog", "bpf.token/progs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ForContainer(tt.pod, tt.ctr, tt.container)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ForContainer error = %v, want %v", err, tt.wantErr)
				}
				msg := err.Error()
				for _, w := range tt.wantMsg {
					if !strings.Contains(msg, w) || strings.Contains(msg, "\n") {
						t.Errorf("message %q: want one line containing %q", msg, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ForContainer: %v", err)
			}
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Errorf("ForContainer = %+v, want %+v", got, tt.want)
			}
		})
	}
}
