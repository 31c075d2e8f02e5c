package podmanstore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// layout writes podman's storage for container "c1" (bundle returned) from
// the given containers.json and, if set, the manifest of image "img1".
func layout(t *testing.T, containers, manifest string, libpod bool) string {
	t.Helper()
	graph := t.TempDir()
	bundle := filepath.Join(graph, "overlay-containers", "c1", "userdata")
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(bundle, 0o755))
	if libpod {
		must(os.Mkdir(filepath.Join(graph, "libpod"), 0o755))
	}
	must(os.WriteFile(filepath.Join(graph, "overlay-containers", "containers.json"), []byte(containers), 0o600))
	if manifest != "" {
		must(os.MkdirAll(filepath.Join(graph, "overlay-images", "img1"), 0o700))
		must(os.WriteFile(filepath.Join(graph, "overlay-images", "img1", "manifest"), []byte(manifest), 0o600))
	}
	return bundle
}

func TestLookup(t *testing.T) {
	const withImage = `[{"id":"other","image":"x"},{"id":"c1","names":["web"],"image":"img1","metadata":"{\"image-name\":\"localhost/evil:latest\"}"}]`
	const manifest = `{"schemaVersion":2,"annotations":{"bpf.token/cmds":"any","team":"net"}}`
	tests := []struct {
		name       string
		containers string
		manifest   string
		libpod     bool
		bundle     func(b string) string
		id         string
		want       *Record
		wantErr    error  // a sentinel, or nil with errText
		errText    string // for errors without a sentinel
	}{
		{name: "container from an annotated image", containers: withImage, manifest: manifest, libpod: true, id: "c1",
			want: &Record{ID: "c1", Name: "web", ImageID: "img1", ImageName: "localhost/evil:latest",
				ImageAnnotations: map[string]string{"bpf.token/cmds": "any", "team": "net"}}},
		{name: "container from no image", containers: `[{"id":"c1","names":["web"]}]`, libpod: true, id: "c1",
			want: &Record{ID: "c1", Name: "web"}},
		{name: "Docker manifest: no annotations", containers: withImage, manifest: `{"schemaVersion":2}`, libpod: true, id: "c1",
			want: &Record{ID: "c1", Name: "web", ImageID: "img1", ImageName: "localhost/evil:latest"}},
		{name: "no libpod database: not podman (CRI-O keeps bundles so too)", containers: withImage, manifest: manifest, id: "c1",
			wantErr: ErrNotPodman},
		{name: "bundle not named after the container", containers: withImage, libpod: true, id: "c2", wantErr: ErrNotPodman},
		{name: "bundle elsewhere", containers: withImage, libpod: true, id: "c1",
			bundle: func(b string) string { return filepath.Join(b, "rootfs") }, wantErr: ErrNotPodman},
		{name: "container not in the records", containers: `[{"id":"other"}]`, libpod: true, id: "c1",
			errText: "do not list container c1"},
		{name: "records not a list", containers: `{"id":"c1"}`, libpod: true, id: "c1", errText: "not a JSON list"},
		{name: "image manifest missing", containers: withImage, libpod: true, id: "c1", errText: "image manifest"},
		{name: "image id that is a path", containers: `[{"id":"c1","image":"../../etc"}]`, libpod: true, id: "c1",
			errText: "not an image id"},
		{name: "manifest too large", containers: withImage, libpod: true, id: "c1",
			manifest: `{"annotations":{"a":"` + strings.Repeat("x", maxManifestSize) + `"}}`, errText: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := layout(t, tt.containers, tt.manifest, tt.libpod)
			if tt.bundle != nil {
				b = tt.bundle(b)
			}
			got, err := Lookup(b, tt.id)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Lookup = %+v, %v; want %v", got, err, tt.wantErr)
				}
			case tt.errText != "":
				if err == nil || errors.Is(err, ErrNotPodman) || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("Lookup = %+v, %v; want an error with %q", got, err, tt.errText)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if got.ID != tt.want.ID || got.Name != tt.want.Name || got.ImageID != tt.want.ImageID || got.ImageName != tt.want.ImageName ||
					len(got.ImageAnnotations) != len(tt.want.ImageAnnotations) {
					t.Fatalf("Lookup = %+v, want %+v", got, tt.want)
				}
				for k, v := range tt.want.ImageAnnotations {
					if !got.FromImage(k, v) || got.FromImage(k, v+"x") {
						t.Errorf("FromImage(%q, %q) wrong", k, v)
					}
				}
			}
		})
	}
}
