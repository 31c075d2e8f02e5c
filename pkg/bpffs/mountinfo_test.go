package bpffs

import (
	"errors"
	"strings"
	"testing"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

const sampleMountInfo = `22 27 0:21 / /proc rw,relatime shared:12 - proc proc rw
85 65 0:40 / /tmp/b/rootfs/sys/fs/bpf rw,nosuid,nodev,noexec,relatime - bpf none rw,uid=100000,gid=100000,delegate_cmds=map_create:prog_load:btf_load,delegate_maps=array,delegate_progs=socket_filter,delegate_attachs=cgroup_inet_ingress
90 65 0:41 / /tmp/with\040space rw,relatime master:3 - tmpfs tmpfs rw
`

func TestFindMount(t *testing.T) {
	tests := []struct {
		id        uint64
		wantPoint string
		wantType  string
		shared    bool
	}{
		{22, "/proc", "proc", true},
		{85, "/tmp/b/rootfs/sys/fs/bpf", "bpf", false},
		{90, "/tmp/with space", "tmpfs", false},
		{8, "", "", false}, // a prefix of no id
	}
	for _, tt := range tests {
		e, err := findMount(strings.NewReader(sampleMountInfo), tt.id)
		if err != nil {
			t.Fatalf("findMount(%d): %v", tt.id, err)
		}
		if tt.wantPoint == "" {
			if e != nil {
				t.Errorf("findMount(%d) = %+v, want none", tt.id, e)
			}
			continue
		}
		if e == nil || e.MountPoint != tt.wantPoint || e.FSType != tt.wantType || e.shared() != tt.shared {
			t.Errorf("findMount(%d) = %+v, want %s %s shared=%v", tt.id, e, tt.wantPoint, tt.wantType, tt.shared)
		}
	}
}

func TestParseMountInfoLineRejectsGarbage(t *testing.T) {
	for _, line := range []string{"", "1 2 3", "x 2 0:1 / /a rw - bpf none rw", "1 2 0:1 / /a rw no-separator bpf none rw"} {
		if _, err := parseMountInfoLine(line); err == nil {
			t.Errorf("parseMountInfoLine(%q) succeeded", line)
		}
	}
}

func TestCheckDelegation(t *testing.T) {
	d := spec.Delegation{Cmds: 1<<0 | 1<<5 | 1<<18, Maps: 1 << 2, Progs: 1 << 1, Attachs: 1 << 0}
	all := spec.Delegation{Cmds: ^uint64(0), Maps: ^uint64(0)}
	tests := []struct {
		name      string
		superOpts string
		d         spec.Delegation
		want      error
	}{
		{"exact", "rw,delegate_cmds=map_create:prog_load:btf_load,delegate_maps=array,delegate_progs=socket_filter,delegate_attachs=cgroup_inet_ingress", d, nil},
		{"hex as shown without BTF", "rw,delegate_cmds=0x40021,delegate_maps=0x4,delegate_progs=0x2,delegate_attachs=0x1", d, nil},
		{"any", "rw,delegate_cmds=any,delegate_maps=any", all, nil},
		{"fewer bits than asked", "rw,delegate_cmds=map_create,delegate_maps=array,delegate_progs=socket_filter,delegate_attachs=cgroup_inet_ingress", d, ErrVerify},
		{"more bits than asked", "rw,delegate_cmds=map_create:prog_load:btf_load,delegate_maps=array:hash,delegate_progs=socket_filter,delegate_attachs=cgroup_inet_ingress", d, ErrVerify},
		{"kernel ignored the options", "rw", d, ErrNoTokenSupport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkDelegation(&mountEntry{SuperOpts: tt.superOpts}, tt.d)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("checkDelegation = %v, want %v", err, tt.want)
			}
		})
	}
}
