package mountinfo

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    *Entry
		wantErr bool
	}{
		{
			name: "delegated bpffs with optional fields",
			line: "612 590 0:71 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime master:3 shared:9 - bpf none rw,uid=100000,gid=100000,delegate_cmds=map_create,delegate_maps=array",
			want: &Entry{ID: 612, ParentID: 590, Root: "/", MountPoint: "/sys/fs/bpf", MountOpts: "rw,nosuid,nodev,noexec,relatime",
				Optional: []string{"master:3", "shared:9"}, FSType: "bpf",
				SuperOpts: "rw,uid=100000,gid=100000,delegate_cmds=map_create,delegate_maps=array"},
		},
		{
			name: "no optional fields",
			line: "42 27 0:39 / /tmp/hbpf rw,relatime - bpf bpf rw",
			want: &Entry{ID: 42, ParentID: 27, Root: "/", MountPoint: "/tmp/hbpf", MountOpts: "rw,relatime", Optional: []string{}, FSType: "bpf", SuperOpts: "rw"},
		},
		{
			name: "escaped space, tab and backslash",
			line: `50 27 0:40 /sub\040dir /mnt/my\040bpf\011x\134y rw - bpf bpf rw`,
			want: &Entry{ID: 50, ParentID: 27, Root: "/sub dir", MountPoint: "/mnt/my bpf\tx\\y", MountOpts: "rw", Optional: []string{}, FSType: "bpf", SuperOpts: "rw"},
		},
		{name: "no separator", line: "42 27 0:39 / /x rw shared:1 bpf bpf rw", wantErr: true},
		{name: "separator too early", line: "42 27 0:39 / - bpf bpf rw", wantErr: true},
		{name: "missing superblock options", line: "42 27 0:39 / /x rw - bpf bpf", wantErr: true},
		{name: "bad id", line: "x 2 0:1 / /a rw - bpf none rw", wantErr: true},
		{name: "bad parent", line: "1 y 0:1 / /a rw - bpf none rw", wantErr: true},
		{name: "empty", line: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLine(tt.line)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

const sample = `22 27 0:21 / /proc rw,relatime shared:12 - proc proc rw
85 65 0:40 / /tmp/b/rootfs/sys/fs/bpf rw,nosuid,nodev,noexec,relatime - bpf none rw,uid=100000,gid=100000,delegate_cmds=map_create:prog_load:btf_load,delegate_maps=array
90 65 0:41 / /tmp/with\040space rw,relatime master:3 - tmpfs tmpfs rw
`

func TestFind(t *testing.T) {
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
		e, err := Find(strings.NewReader(sample), tt.id)
		if err != nil {
			t.Fatalf("Find(%d): %v", tt.id, err)
		}
		if tt.wantPoint == "" {
			if e != nil {
				t.Errorf("Find(%d) = %+v, want none", tt.id, e)
			}
			continue
		}
		if e == nil || e.MountPoint != tt.wantPoint || e.FSType != tt.wantType || e.Shared() != tt.shared {
			t.Errorf("Find(%d) = %+v, want %s %s shared=%v", tt.id, e, tt.wantPoint, tt.wantType, tt.shared)
		}
	}
}

func TestParseAndOptions(t *testing.T) {
	all, err := Parse(strings.NewReader(sample + "\n"))
	if err != nil || len(all) != 3 {
		t.Fatalf("Parse = %d entries, %v", len(all), err)
	}
	bpf := all[1]
	if !bpf.HasMountOpt("noexec") || bpf.HasMountOpt("exec") {
		t.Errorf("HasMountOpt on %q", bpf.MountOpts)
	}
	if v, ok := bpf.SuperOpt("delegate_maps"); !ok || v != "array" {
		t.Errorf("SuperOpt(delegate_maps) = %q, %v", v, ok)
	}
	if _, ok := bpf.SuperOpt("delegate_progs"); ok {
		t.Error("SuperOpt found an absent option")
	}
	if _, err := Parse(strings.NewReader("garbage\n")); err == nil {
		t.Error("Parse of garbage: no error")
	}
}
