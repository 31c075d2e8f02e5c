// Package podmanstore reads what podman's own storage records say about a
// container a hook runs for: its name, the image it was made from, and the
// annotations of that image.
//
// Why: podman before 4.6 (Debian 12 ships 4.3) copies an image's OCI
// annotations into the container's config.json, where they look exactly
// like the ones the admin passed with --annotation. An image is an attacker:
// only what podman recorded itself (containers/storage's containers.json and
// the image's manifest) tells the two apart.
//
// Its one hard constraint: it trusts nothing the container or its image
// wrote, only files podman and containers/storage keep under the storage
// root, found from the bundle path the runtime passed; every file is read
// with a size bound, containers.json as a stream.
package podmanstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotPodman means the bundle is not laid out as podman lays out its
// containers' bundles: the container comes from another runtime (CRI-O
// keeps its bundles under its run root, without podman's database).
var ErrNotPodman = errors.New("bundle is not in podman's storage")

const (
	// maxManifestSize bounds an image manifest; real ones are a few KiB.
	maxManifestSize = 4 << 20
	// maxRecordSize bounds one container's record in containers.json.
	maxRecordSize = 1 << 20
	// maxContainers bounds how many records are read before giving up.
	maxContainers = 1 << 20
)

// Record is what podman's storage says about one container.
type Record struct {
	// ID is the container's id.
	ID string
	// Name is the container's name (podman run --name, or the one podman
	// made up).
	Name string
	// ImageID and ImageName say which image the container was made from;
	// both are empty for a container made from a root file system
	// (podman run --rootfs).
	ImageID, ImageName string
	// ImageAnnotations are the annotations of that image's manifest: the
	// ones podman < 4.6 copies into the container's annotations.
	ImageAnnotations map[string]string
}

// FromImage reports whether the annotation key=value is one the container's
// image carries: then podman may have copied it from there, and nobody who
// runs containers asked for it.
func (r *Record) FromImage(key, value string) bool {
	v, ok := r.ImageAnnotations[key]
	return ok && v == value
}

// Lookup finds the record of container id from its bundle path, which
// podman sets to <graphroot>/<driver>-containers/<id>/userdata, beside
// containers/storage's containers.json and under a graph root that holds
// libpod's database. It fails with ErrNotPodman when the bundle is not laid
// out that way, and with another error when it is but the records cannot
// be read: then nothing tells the admin's annotations from the image's.
func Lookup(bundle, id string) (*Record, error) {
	bundle = filepath.Clean(bundle)
	ctrDir := filepath.Dir(bundle)
	storeDir := filepath.Dir(ctrDir)
	graphRoot := filepath.Dir(storeDir)
	driver, ok := strings.CutSuffix(filepath.Base(storeDir), "-containers")
	if filepath.Base(bundle) != "userdata" || filepath.Base(ctrDir) != id || !ok || driver == "" {
		return nil, ErrNotPodman
	}
	if fi, err := os.Stat(filepath.Join(graphRoot, "libpod")); err != nil || !fi.IsDir() {
		return nil, ErrNotPodman
	}
	rec, err := findContainer(filepath.Join(storeDir, "containers.json"), id)
	if err != nil {
		return nil, err
	}
	if rec.ImageID == "" {
		return rec, nil
	}
	if strings.ContainsAny(rec.ImageID, "/.") {
		return nil, fmt.Errorf("podman's record of container %s names image %q, not an image id", id, rec.ImageID)
	}
	manifest := filepath.Join(graphRoot, driver+"-images", rec.ImageID, "manifest")
	if rec.ImageAnnotations, err = manifestAnnotations(manifest); err != nil {
		return nil, err
	}
	return rec, nil
}

// containerRecord is the part of a containers.json entry read here.
type containerRecord struct {
	ID       string   `json:"id"`
	Names    []string `json:"names"`
	Image    string   `json:"image"`
	Metadata string   `json:"metadata"`
}

// findContainer streams containers.json (one record per container of the
// storage, so possibly large) and decodes only the record of id.
func findContainer(file, id string) (*Record, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("podman's container records: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, fmt.Errorf("podman's container records %s: not a JSON list", file)
	}
	for n := 0; dec.More() && n < maxContainers; n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("podman's container records %s: %w", file, err)
		}
		if len(raw) > maxRecordSize {
			return nil, fmt.Errorf("podman's container records %s: a record is larger than %d bytes", file, maxRecordSize)
		}
		var c containerRecord
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("podman's container records %s: %w", file, err)
		}
		if c.ID != id {
			continue
		}
		rec := &Record{ID: id, ImageID: c.Image}
		if len(c.Names) > 0 {
			rec.Name = c.Names[0]
		}
		// podman keeps the image reference it was asked for in the
		// record's metadata, itself a JSON document.
		var meta struct {
			ImageName string `json:"image-name"`
		}
		if c.Metadata != "" && json.Unmarshal([]byte(c.Metadata), &meta) == nil {
			rec.ImageName = meta.ImageName
		}
		return rec, nil
	}
	return nil, fmt.Errorf("podman's container records %s do not list container %s", file, id)
}

func manifestAnnotations(file string) (map[string]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("image manifest: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("image manifest %s: %w", file, err)
	}
	if len(data) > maxManifestSize {
		return nil, fmt.Errorf("image manifest %s is larger than %d bytes", file, maxManifestSize)
	}
	// OCI manifests carry annotations; Docker schema 2 manifests have none.
	var m struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("image manifest %s: %w", file, err)
	}
	return m.Annotations, nil
}
