package integration

import (
	"strings"
	"testing"
)

// podman < 4.6 copies an image's annotations into its containers'
// config.json, where they look like the admin's --annotation. Only podman's
// own records (the image's manifest) tell them apart: an image must never
// obtain a delegation, widen the admin's, or choose its policy rule.
func TestHookIgnoresWhatTheImageWrites(t *testing.T) {
	anyAll := map[string]string{"bpf.token/cmds": "any", "bpf.token/maps": "any", "bpf.token/progs": "any", "bpf.token/attachs": "any"}
	merge := func(ms ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	restricted := `
rules:
  - name: system
    match: {namespaces: [kube-system]}
    allow: {cmds: any, maps: any, progs: any, attachs: any, any: true}
  - name: net-team
    match: {annotations: {team: net}}
    allow: {cmds: any, maps: any, any: true}
  - name: everyone
    allow: {cmds: [map_create], maps: [array]}
`
	tests := []struct {
		name  string
		image map[string]string // the image's manifest annotations
		admin map[string]string // what the admin passed (podman keeps them over the image's)
		// policy, if set, is passed with --policy.
		policy string
		// wantMount: the delegate options the bpffs must have, "" for none.
		wantMount string
		wantErr   []string
		// wantWarn: stderr of a hook that succeeded must have these.
		wantWarn []string
	}{
		{name: "an image alone asks for any",
			image: anyAll, wantWarn: []string{"bpf.token/attachs ignored", "the image sets it", "podman < 4.6"}},
		{name: "an image's per-container key and container name replace the admin's",
			image:     map[string]string{"io.kubernetes.container.name": "x", "bpf.token/container.x": `{"cmds": "any", "maps": "any"}`},
			admin:     minimalDelegation,
			wantMount: "delegate_cmds=map_create,delegate_maps=array"},
		{name: "an image adds keys the admin did not set, and loses where the admin set one",
			image:     merge(anyAll, map[string]string{"bpf.token/path": "/run/bpf"}),
			admin:     minimalDelegation,
			wantMount: "delegate_cmds=map_create,delegate_maps=array"},
		{name: "an image claims a Kubernetes namespace and image to pick a wider rule",
			image:   map[string]string{"io.kubernetes.pod.namespace": "kube-system", "io.kubernetes.cri-o.ImageName": "registry.k8s.io/trusted", "io.container.manager": "cri-o"},
			admin:   map[string]string{"bpf.token/cmds": "map_create", "bpf.token/maps": "hash"},
			policy:  restricted,
			wantErr: []string{`rule "everyone"`, "maps hash (allowed: array)"}},
		{name: "an image sets the annotation a policy rule selects on",
			image:   map[string]string{"team": "net"},
			admin:   map[string]string{"bpf.token/cmds": "map_create", "bpf.token/maps": "hash"},
			policy:  restricted,
			wantErr: []string{`rule "everyone"`, "maps hash (allowed: array)"}},
		{name: "the admin's own annotation selects the rule",
			admin:     map[string]string{"team": "net", "bpf.token/cmds": "map_create", "bpf.token/maps": "hash"},
			policy:    restricted,
			wantMount: "delegate_cmds=map_create,delegate_maps=hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshotHost(t)
			c := startContainer(t, nil)
			writePodmanRecord(t, c.Bundle, c.id, "localhost/evil:latest", tt.image)
			// podman's merge: the image's annotations, then the admin's.
			c.writeConfig(config{annotations: merge(tt.image, tt.admin)})
			var args []string
			if tt.policy != "" {
				args = []string{"--policy", writePolicy(t, tt.policy)}
			}
			res := runHook(t, c.state(), args...)
			mounts := c.bpfMounts()
			if tt.wantErr != nil {
				if res.code != 1 {
					t.Fatalf("hook exited %d, want a refusal; stderr %q, mounts %v", res.code, res.stderr, mounts)
				}
				checkOneLine(t, res.stderr, append([]string{c.id}, tt.wantErr...))
			} else if res.code != 0 {
				t.Fatalf("hook exited %d: %s", res.code, res.stderr)
			}
			for _, w := range tt.wantWarn {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr %q lacks %q", res.stderr, w)
				}
			}
			switch {
			case tt.wantMount == "" && len(mounts) != 0:
				t.Errorf("the image obtained a bpffs: %v", mounts)
			case tt.wantMount != "" && (len(mounts) != 1 || !strings.HasSuffix(mounts[0], ","+tt.wantMount)):
				t.Errorf("bpffs mounts %v, want exactly one with %s and nothing more", mounts, tt.wantMount)
			}
			checkHostUnchanged(t, before)
		})
	}
}

// A container that does not come from podman comes from a CRI runtime
// (CRI-O runs hooks from hooks.d for Kubernetes pods), whose annotations a
// pod author writes: without a policy the hook grants nothing there.
func TestHookWithoutPolicyRefusesCRIContainers(t *testing.T) {
	before := snapshotHost(t)
	c := startCRIContainer(t, nil)
	c.writeConfig(config{annotations: map[string]string{
		"io.kubernetes.container.name": "web", "io.kubernetes.pod.namespace": "shop",
		"bpf.token/cmds": "any", "bpf.token/maps": "any"}})
	res := runHook(t, c.state(), "--policy", "")
	if res.code != 1 {
		t.Fatalf("hook exited %d, want a refusal: %s", res.code, res.stderr)
	}
	checkOneLine(t, res.stderr, []string{c.id, "does not come from podman", "without a policy the hook grants nothing", "/etc/nri-bpftoken/policy.yaml"})
	if m := c.bpfMounts(); len(m) != 0 {
		t.Errorf("refused container got %v", m)
	}
	checkHostUnchanged(t, before)
}

// A bundle laid out as podman's whose records podman cannot have written
// (the container is not in containers.json) refuses the container: without
// them nothing tells the admin's annotations from the image's.
func TestHookRefusesWithoutPodmansRecord(t *testing.T) {
	c := startContainer(t, nil)
	writePodmanRecord(t, c.Bundle, "another-container", "", nil)
	c.writeConfig(config{annotations: minimalDelegation})
	res := runHook(t, c.state())
	if res.code != 1 {
		t.Fatalf("hook exited %d, want a refusal: %s", res.code, res.stderr)
	}
	checkOneLine(t, res.stderr, []string{c.id, "do not list container", "cannot tell the admin's annotations from those the image carries"})
	if m := c.bpfMounts(); len(m) != 0 {
		t.Errorf("refused container got %v", m)
	}
}
