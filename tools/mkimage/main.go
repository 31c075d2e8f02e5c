// Command mkimage writes a container image archive from rootfs tarballs
// and single files, without a registry or a daemon: `make image` builds the
// plugin's and the example workload's images with it, and the containerd
// test harness its test image. github.com/google/go-containerregistry does
// the image work; this command maps flags onto it.
//
//	mkimage -o OUT.tar -tag NAME[:TAG] [-layer ROOTFS.tar]... [-file SRC:DST[:MODE]]...
//	        [-entrypoint JSON] [-cmd JSON] [-env K=V]... [-label K=V]... [-workdir DIR]
//
// The archive has the format of `docker save`, which `ctr images import`,
// `podman load` (CRI-O's storage) and `docker load` read. Each -layer is one
// layer, in order; the -file entries together make one more layer on top,
// owned by root, dated 1970 (with their parent directories, mode 0755). The
// image is reproducible: the same inputs give the same image id, which
// mkimage prints.
package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// defaultPath is the PATH of images without -env PATH=...
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// epoch dates everything in the image, so that it is reproducible.
var epoch = time.Unix(0, 0).UTC()

// list is a repeatable flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

type options struct {
	out, tag, entrypoint, cmd, workdir string
	layers, files, env, labels         list
}

func main() {
	var o options
	fs := flag.NewFlagSet("mkimage", flag.ExitOnError)
	fs.StringVar(&o.out, "o", "", "write the image archive to `FILE` (required)")
	fs.StringVar(&o.tag, "tag", "", "the image's `NAME[:TAG]` (required)")
	fs.Var(&o.layers, "layer", "a rootfs `TARBALL` to add as a layer (repeatable, in order)")
	fs.Var(&o.files, "file", "add file `SRC:DST[:MODE]` (octal mode, default 0755) in the top layer (repeatable)")
	fs.StringVar(&o.entrypoint, "entrypoint", "", "the entrypoint, a JSON `array`")
	fs.StringVar(&o.cmd, "cmd", "", "the command, a JSON `array`")
	fs.Var(&o.env, "env", "an environment variable `K=V` (repeatable; PATH has a default)")
	fs.Var(&o.labels, "label", "a label `K=V` (repeatable)")
	fs.StringVar(&o.workdir, "workdir", "/", "the working `directory`")
	_ = fs.Parse(os.Args[1:])
	if o.out == "" || o.tag == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "mkimage: -o and -tag are required, and nothing else")
		fs.Usage()
		os.Exit(2)
	}
	id, err := build(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %s: %v\n", o.out, err)
		os.Exit(1)
	}
	fmt.Println(id)
}

// build writes the image o describes and returns its id.
func build(o options) (string, error) {
	tag, err := name.NewTag(o.tag)
	if err != nil {
		return "", fmt.Errorf("-tag: %w", err)
	}
	cfg := v1.Config{Env: o.env, WorkingDir: o.workdir, Labels: map[string]string{}}
	if !slices.ContainsFunc(cfg.Env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
		cfg.Env = append([]string{defaultPath}, cfg.Env...)
	}
	for _, l := range o.labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return "", fmt.Errorf("-label %q: want KEY=VALUE", l)
		}
		cfg.Labels[k] = v
	}
	for flagName, src := range map[string]struct {
		json string
		dst  *[]string
	}{"entrypoint": {o.entrypoint, &cfg.Entrypoint}, "cmd": {o.cmd, &cfg.Cmd}} {
		if src.json != "" {
			if err := json.Unmarshal([]byte(src.json), src.dst); err != nil {
				return "", fmt.Errorf("-%s %q: want a JSON array of strings: %w", flagName, src.json, err)
			}
		}
	}

	var adds []mutate.Addendum
	for _, p := range o.layers {
		l, err := tarball.LayerFromFile(p)
		if err != nil {
			return "", fmt.Errorf("-layer %s: %w", p, err)
		}
		adds = append(adds, addendum(l, "layer "+path.Base(p)))
	}
	if len(o.files) > 0 {
		data, err := filesLayer(o.files)
		if err != nil {
			return "", err
		}
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
		if err != nil {
			return "", fmt.Errorf("files layer: %w", err)
		}
		adds = append(adds, addendum(l, "files "+strings.Join(o.files, " ")))
	}
	if len(adds) == 0 {
		return "", errors.New("no -layer and no -file: the image would be empty")
	}
	img, err := mutate.Append(empty.Image, adds...)
	if err != nil {
		return "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created, cf.Config = runtime.GOARCH, "linux", v1.Time{Time: epoch}, cfg
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", err
	}
	if err := tarball.WriteToFile(o.out, tag, img); err != nil {
		return "", err
	}
	id, err := img.ConfigName()
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

func addendum(l v1.Layer, createdBy string) mutate.Addendum {
	return mutate.Addendum{Layer: l, History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "mkimage " + createdBy}}
}

// filesLayer is a tar of the -file entries and their parent directories.
func filesLayer(specs []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, s := range specs {
		parts := strings.Split(s, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || !path.IsAbs(parts[1]) {
			return nil, fmt.Errorf("-file %q: want SRC:DST[:MODE] with DST absolute", s)
		}
		mode := int64(0o755)
		if len(parts) == 3 {
			m, err := strconv.ParseInt(parts[2], 8, 32)
			if err != nil || m&^0o7777 != 0 {
				return nil, fmt.Errorf("-file %q: mode %q is not an octal file mode", s, parts[2])
			}
			mode = m
		}
		data, err := os.ReadFile(parts[0])
		if err != nil {
			return nil, fmt.Errorf("-file %q: %w", s, err)
		}
		dst := strings.TrimPrefix(path.Clean(parts[1]), "/")
		var parents []string
		for d := path.Dir(dst); d != "." && !dirs[d]; d = path.Dir(d) {
			parents = append(parents, d)
			dirs[d] = true
		}
		slices.Reverse(parents)
		for _, d := range parents {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
				return nil, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: dst, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
