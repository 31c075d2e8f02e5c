package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestBuild(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tool")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho hi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(dir, "rootfs.tar")
	f, err := os.Create(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "etc/passwd", Mode: 0o644, Size: 5})
	_, _ = tw.Write([]byte("root\n"))
	_ = tw.Close()
	_ = f.Close()

	o := options{
		tag: "localhost/test/img:v1", entrypoint: `["/usr/bin/tool", "-x"]`, workdir: "/",
		layers: list{rootfs}, files: list{bin + ":/usr/bin/tool", bin + ":/etc/tool.conf:0644"},
		labels: list{"org.opencontainers.image.version=v1", "empty="},
	}
	var ids []string
	for i := range 2 {
		o.out = filepath.Join(dir, "img"+string(rune('a'+i))+".tar")
		id, err := build(o)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if ids[0] != ids[1] {
		t.Errorf("two builds of the same inputs: %s and %s, want the same id", ids[0], ids[1])
	}

	img, err := tarball.ImageFromPath(o.out, nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if strings.Join(c.Entrypoint, " ") != "/usr/bin/tool -x" || c.Labels["org.opencontainers.image.version"] != "v1" ||
		c.Labels["empty"] != "" || len(c.Env) != 1 || !strings.HasPrefix(c.Env[0], "PATH=") || cf.Created.Unix() != 0 || cf.OS != "linux" {
		t.Errorf("config %+v, created %v", c, cf.Created)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 2 {
		t.Fatalf("%d layers, %v; want 2", len(layers), err)
	}
	got := map[string]int64{}
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.ModTime.Unix() != 0 && h.Name != "etc/passwd" {
			t.Errorf("%s: uid %d, mtime %v", h.Name, h.Uid, h.ModTime)
		}
		got[h.Name] = h.Mode
	}
	for name, mode := range map[string]int64{"etc/passwd": 0o644, "usr": 0o755, "usr/bin": 0o755, "usr/bin/tool": 0o755, "etc/tool.conf": 0o644} {
		if m, ok := got[name]; !ok || m != mode {
			t.Errorf("%s: mode %o (present %v), want %o; have %v", name, m, ok, mode, got)
		}
	}
}

func TestBuildRefuses(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		o    options
		want string
	}{
		{"no content", options{tag: "localhost/x"}, "the image would be empty"},
		{"bad tag", options{tag: "UPPER/x:y"}, "-tag"},
		{"relative destination", options{tag: "localhost/x", files: list{"/etc/hostname:etc/x"}}, "DST absolute"},
		{"bad mode", options{tag: "localhost/x", files: list{"/etc/hostname:/x:9z"}}, "not an octal file mode"},
		{"missing file", options{tag: "localhost/x", files: list{dir + "/nope:/x"}}, "no such file"},
		{"bad entrypoint", options{tag: "localhost/x", entrypoint: "/bin/sh", files: list{"/etc/hostname:/x"}}, "want a JSON array"},
		{"bad label", options{tag: "localhost/x", labels: list{"novalue"}, files: list{"/etc/hostname:/x"}}, "want KEY=VALUE"},
	} {
		tt.o.out = filepath.Join(dir, "out.tar")
		if _, err := build(tt.o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}
