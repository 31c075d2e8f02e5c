package bpffs

import (
	"errors"
	"testing"

	"github.com/nri-bpftoken/nri-bpftoken/internal/mountinfo"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

func TestCheckDelegation(t *testing.T) {
	d := spec.Delegation{Masks: spec.Masks{spec.KindCmds: 1<<0 | 1<<5 | 1<<18, spec.KindMaps: 1 << 2, spec.KindProgs: 1 << 1, spec.KindAttachs: 1 << 0}}
	all := spec.Delegation{Masks: spec.Masks{spec.KindCmds: ^uint64(0), spec.KindMaps: ^uint64(0)}}
	tests := []struct {
		name      string
		superOpts string
		d         spec.Delegation
		want      error
	}{
		{"exact", "rw,delegate_cmds=map_create:prog_load:btf_load,delegate_maps=array,delegate_progs=socket_filter,delegate_attachs=cgroup_inet_ingress", d, nil},
		{"hex as shown without BTF", "rw,delegate_cmds=0x40021,delegate_maps=0x4,delegate_progs=0x2,delegate_attachs=0x1", d, nil},
		{"any", "rw,delegate_cmds=any,delegate_maps=any", all, nil},
		{"a name newer than our tables", "rw,delegate_cmds=map_create:prog_load:btf_load,delegate_maps=array:fancy_new_map,delegate_progs=socket_filter,delegate_attachs=cgroup_inet_ingress", d, nil},
		{"fewer bits than asked", "rw,delegate_cmds=map_create,delegate_maps=array,delegate_progs=socket_filter,delegate_attachs=cgroup_inet_ingress", d, ErrVerify},
		{"more bits than asked", "rw,delegate_cmds=map_create:prog_load:btf_load,delegate_maps=array:hash,delegate_progs=socket_filter,delegate_attachs=cgroup_inet_ingress", d, ErrVerify},
		{"kernel ignored the options", "rw", d, ErrNoTokenSupport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkDelegation(&mountinfo.Entry{SuperOpts: tt.superOpts}, tt.d)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("checkDelegation = %v, want %v", err, tt.want)
			}
		})
	}
}
