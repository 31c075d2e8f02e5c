package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nri-bpftoken/nri-bpftoken/internal/mountinfo"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

func entry(mountPoint, superOpts string) mountinfo.Entry {
	return mountinfo.Entry{Root: "/", MountPoint: mountPoint, FSType: "bpf", SuperOpts: superOpts}
}

func mountPoints(es []mountinfo.Entry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.MountPoint)
	}
	return out
}

func TestBPFFSMounts(t *testing.T) {
	entries := []mountinfo.Entry{
		{Root: "/", MountPoint: "/", FSType: "ext4", SuperOpts: "rw"},
		entry("/run/bpf", "rw"),
		entry("/sys/fs/bpf", "rw"),
		// Stacked on /run/bpf later: this one is on top.
		entry("/run/bpf", "rw,delegate_maps=array"),
	}
	got := bpffsMounts(entries)
	want := []mountinfo.Entry{entry("/run/bpf", "rw,delegate_maps=array"), entry("/sys/fs/bpf", "rw")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestOrderCandidates(t *testing.T) {
	tests := []struct {
		name string
		in   []mountinfo.Entry
		want []string
	}{
		{
			name: "/sys/fs/bpf first among delegating mounts",
			in:   []mountinfo.Entry{entry("/run/bpf", "rw,delegate_cmds=any"), entry("/sys/fs/bpf", "rw,delegate_maps=array")},
			want: []string{"/sys/fs/bpf", "/run/bpf"},
		},
		{
			name: "a delegating mount before a plain /sys/fs/bpf",
			in:   []mountinfo.Entry{entry("/sys/fs/bpf", "rw"), entry("/run/bpf", "rw,delegate_progs=xdp")},
			want: []string{"/run/bpf", "/sys/fs/bpf"},
		},
		{
			name: "otherwise mountinfo order",
			in:   []mountinfo.Entry{entry("/b", "rw"), entry("/a", "rw"), entry("/c", "rw,delegate_cmds=any"), entry("/d", "rw,delegate_cmds=any")},
			want: []string{"/c", "/d", "/b", "/a"},
		},
		{name: "none", in: nil, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mountPoints(orderCandidates(tt.in)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDelegateMasks(t *testing.T) {
	bit := func(k spec.Kind, name string) uint64 { return 1 << mustValue(k, name) }
	tests := []struct {
		name    string
		opts    string
		want    spec.Masks
		wantErr string
	}{
		{
			name: "names as the kernel prints them",
			opts: "rw,uid=100000,delegate_cmds=map_create:prog_load,delegate_maps=array,delegate_progs=socket_filter,delegate_attachs=cgroup_inet_ingress",
			want: spec.Masks{
				spec.KindCmds:    bit(spec.KindCmds, "map_create") | bit(spec.KindCmds, "prog_load"),
				spec.KindMaps:    bit(spec.KindMaps, "array"),
				spec.KindProgs:   bit(spec.KindProgs, "socket_filter"),
				spec.KindAttachs: bit(spec.KindAttachs, "cgroup_inet_ingress"),
			},
		},
		{
			name: "the kernel's deprecated alias and a bit without a name",
			opts: "rw,delegate_maps=cgroup_storage_deprecated:0x8000000000000000",
			want: spec.Masks{spec.KindMaps: bit(spec.KindMaps, "cgroup_storage") | 1<<63},
		},
		{name: "any", opts: "rw,delegate_progs=any", want: spec.Masks{spec.KindProgs: ^uint64(0)}},
		{name: "nothing delegated", opts: "rw,relatime", want: spec.Masks{}},
		{name: "a name spec does not know", opts: "rw,delegate_maps=array:fancy_new_map", wantErr: "delegate_maps=array:fancy_new_map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := delegateMasks(entry("/sys/fs/bpf", tt.opts))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %#x, want %#x", got, tt.want)
			}
		})
	}
}

func TestDelegates(t *testing.T) {
	for opts, want := range map[string]bool{
		"rw":                            false,
		"rw,uid=0,gid=0,mode=700":       false,
		"rw,delegate_attachs=xdp":       true,
		"rw,delegate_cmds=any,relatime": true,
	} {
		if got := delegates(entry("/x", opts)); got != want {
			t.Errorf("%q: delegates() = %v, want %v", opts, got, want)
		}
	}
}

func TestFindMountPoint(t *testing.T) {
	entries := []mountinfo.Entry{entry("/sys/fs/bpf", "rw"), entry("/run/bpf", "rw"), entry("/sys/fs/bpf", "rw,delegate_cmds=any")}
	if e, ok := findMountPoint(entries, "/sys/fs/bpf"); !ok || e.SuperOpts != "rw,delegate_cmds=any" {
		t.Errorf("stacked: got %+v, %v; want the top one", e, ok)
	}
	if _, ok := findMountPoint(entries, "/sys/fs"); ok {
		t.Error("found a mount point that is not there")
	}
}
