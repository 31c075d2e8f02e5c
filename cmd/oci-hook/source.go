package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nri-bpftoken/nri-bpftoken/internal/podmanstore"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/policy"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// CRI-O's own annotations: CRI-O sets them on every container, after the
// pod's, so a pod cannot choose them. (io.kubernetes.cri.image-name is
// containerd's key: CRI-O never sets it, it only copies it from a pod that
// does, so it is never read here.)
const (
	crioContainerName = "io.kubernetes.container.name"
	crioPodNamespace  = "io.kubernetes.pod.namespace"
	crioImageName     = "io.kubernetes.cri-o.ImageName"
)

// noPolicyCRI is why a container from a runtime other than podman is
// refused without a policy.
const noPolicyCRI = "it does not come from podman (a CRI runtime such as CRI-O, whose annotations a pod author writes), and without a policy the hook grants nothing there: write the node's policy (" + policy.DefaultPath + ", or --policy FILE in the hooks.d JSON; docs/policy.md)"

// source is where a container's annotations come from, which decides who
// wrote them and what the policy may select on.
type source struct {
	// podman is podman's record of the container; nil for any other runtime.
	podman *podmanstore.Record
	// ann are the annotations that count: for podman, those the image did
	// not set.
	ann map[string]string
	// ignored are the bpf.token/ keys dropped because the image set them.
	ignored []string
}

// sourceOf tells podman's containers from others by podman's own records,
// and drops from a podman container's annotations every one its image
// carries with the same value: podman < 4.6 copies them, and an image must
// neither ask for delegation, nor widen what the admin asked, nor choose
// the policy rule that judges it.
func sourceOf(st *specs.State, ann map[string]string) (*source, error) {
	rec, err := podmanstore.Lookup(st.Bundle, st.ID)
	if errors.Is(err, podmanstore.ErrNotPodman) {
		return &source{ann: ann}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: without podman's records the hook cannot tell the admin's annotations from those the image carries: remove the container and run it again; if that fails too, podman's storage is damaged", err)
	}
	src := &source{podman: rec, ann: make(map[string]string, len(ann))}
	for k, v := range ann {
		if !rec.FromImage(k, v) {
			src.ann[k] = v
		} else if strings.HasPrefix(k, spec.AnnotationPrefix) {
			src.ignored = append(src.ignored, k)
		}
	}
	slices.Sort(src.ignored)
	return src, nil
}

// delegation is what the container asked for, or nil. Only CRI runtimes
// pass a pod's annotations down to its containers, so only there do
// bpf.token/container.<name> keys apply; for podman they are unknown keys.
func (s *source) delegation() (*spec.Delegation, error) {
	var d *spec.Delegation
	var err error
	if name, ok := s.ann[crioContainerName]; ok && s.podman == nil {
		d, err = spec.ForContainer(s.ann, nil, name)
	} else {
		d, err = spec.ParseAnnotations(s.ann)
	}
	if err == nil && d != nil && d.Shared {
		// A hook runs for one container and keeps nothing between them.
		return nil, fmt.Errorf("annotation %s: %s asks for one bpffs shared by a pod's containers, which only the NRI plugin gives (containerd, CRI-O): leave %s out, and the hook gives this container a bpffs of its own", spec.AnnotationScope, spec.ScopePod, spec.AnnotationScope)
	}
	return d, err
}

// workload is what the policy's rules select on, from what the runtime
// itself recorded: podman's records for podman, CRI-O's own keys for CRI-O.
func (s *source) workload() policy.Workload {
	if s.podman != nil {
		return policy.Workload{Container: s.podman.Name, Image: s.podman.ImageName, Annotations: s.ann}
	}
	return policy.Workload{
		Namespace:   s.ann[crioPodNamespace],
		Container:   s.ann[crioContainerName],
		Image:       s.ann[crioImageName],
		Annotations: s.ann,
	}
}
