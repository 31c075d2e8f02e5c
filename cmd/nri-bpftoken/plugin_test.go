package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/policy"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// permissive allows everything the tests ask for.
const permissive = `rules: [{name: all, allow: {cmds: any, maps: any, progs: any, attachs: any, any: true, paths: [/sys/fs/bpf, /run/bpf]}}]`

func quietPlugin() *plugin {
	l := logrus.New()
	l.SetOutput(io.Discard)
	pol, err := policy.Parse([]byte(permissive), "test")
	if err != nil {
		panic(err)
	}
	return newPlugin(logrus.NewEntry(l), pol)
}

func TestCreateContainer(t *testing.T) {
	userns := &api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "user", Path: "/proc/42/ns/user"}, {Type: "mount"}}}
	hostUsers := &api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "mount"}}}
	tests := []struct {
		name       string
		podAnn     map[string]string
		ctrAnn     map[string]string // the container's annotations as the runtime passes them
		linux      *api.LinuxContainer
		wantEnv    string // LIBBPF_BPF_TOKEN_PATH, "" for no adjustment
		wantMask   uint64 // Maps mask recorded for StartContainer; 0: none recorded
		wantErr    error
		wantErrMsg []string
	}{
		{name: "no annotation", podAnn: map[string]string{"x": "y"}, linux: userns},
		{name: "pod-wide", podAnn: map[string]string{"bpf.token/maps": "array"}, linux: userns, wantMask: 1 << 2},
		{name: "other path sets libbpf's variable",
			podAnn: map[string]string{"bpf.token/maps": "array", "bpf.token/path": "/run/bpf"}, linux: userns,
			wantEnv: "/run/bpf", wantMask: 1 << 2},
		{name: "opted out", podAnn: map[string]string{"bpf.token/maps": "array", "bpf.token/container.app": "none"}, linux: userns},
		{name: "container's own annotation wins",
			podAnn: map[string]string{"bpf.token/maps": "array"}, ctrAnn: map[string]string{"bpf.token/maps": "hash"},
			linux: userns, wantMask: 1 << 1},
		// CRI-O copies the pod's annotations into the container's: those
		// copies must not hide the pod's per-container key.
		{name: "pod's annotations copied into the container's (CRI-O): per-container key applies",
			podAnn: map[string]string{"bpf.token/maps": "array", "bpf.token/container.app": `{"maps": "hash"}`},
			ctrAnn: map[string]string{"bpf.token/maps": "array", "bpf.token/container.app": `{"maps": "hash"}`, "io.kubernetes.container.name": "app"},
			linux:  userns, wantMask: 1 << 1},
		{name: "pod's annotations copied into the container's (CRI-O): opt-out applies",
			podAnn: map[string]string{"bpf.token/maps": "array", "bpf.token/container.app": "none"},
			ctrAnn: map[string]string{"bpf.token/maps": "array", "bpf.token/container.app": "none"},
			linux:  userns},
		{name: "no user namespace", podAnn: map[string]string{"bpf.token/maps": "array"}, linux: hostUsers,
			wantErr: spec.ErrNoUserNamespace, wantErrMsg: []string{"pod ns1/pod1 container app", "hostUsers: false"}},
		{name: "no linux section", podAnn: map[string]string{"bpf.token/maps": "array"},
			wantErr: spec.ErrNoUserNamespace},
		{name: "bad annotation", podAnn: map[string]string{"bpf.token/maps": "hsh"}, linux: userns,
			wantErr: spec.ErrUnknownName, wantErrMsg: []string{"pod ns1/pod1 container app", "bpf.token/maps", `"hsh"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := quietPlugin()
			pod := &api.PodSandbox{Id: "pod-id", Name: "pod1", Namespace: "ns1", Annotations: tt.podAnn}
			c := &api.Container{Id: "ctr-id", Name: "app", PodSandboxId: "pod-id", Linux: tt.linux, Annotations: tt.ctrAnn}
			adj, updates, err := p.CreateContainer(context.Background(), pod, c)
			if len(updates) != 0 {
				t.Errorf("CreateContainer updated other containers: %v", updates)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("CreateContainer error = %v, want %v", err, tt.wantErr)
				}
				for _, w := range tt.wantErrMsg {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				if len(p.pending) != 0 {
					t.Errorf("a refused container was recorded: %v", p.pending)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gotEnv := ""
			if adj != nil {
				for _, e := range adj.Env {
					if e.Key == libbpfTokenPathEnv {
						gotEnv = e.Value
					}
				}
			}
			if gotEnv != tt.wantEnv {
				t.Errorf("%s = %q, want %q (adjustment %v)", libbpfTokenPathEnv, gotEnv, tt.wantEnv, adj)
			}
			d, ok := p.pending["ctr-id"]
			if ok != (tt.wantMask != 0) || d.Maps != tt.wantMask {
				t.Errorf("recorded %+v (%v), want maps %#x", d, ok, tt.wantMask)
			}
			if err := p.RemoveContainer(context.Background(), pod, c); err != nil || len(p.pending) != 0 {
				t.Errorf("RemoveContainer left %v (%v)", p.pending, err)
			}
		})
	}
}

func TestCreateContainerPolicy(t *testing.T) {
	pod := &api.PodSandbox{Id: "p", Name: "web", Namespace: "shop", Annotations: map[string]string{"bpf.token/maps": "array:hash"}}
	c := &api.Container{Id: "c", Name: "app", PodSandboxId: "p",
		Linux: &api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "user"}}}}
	tests := []struct {
		name    string
		config  string
		wantErr []string // nil: allowed
	}{
		{"no policy grants nothing", "", []string{"pod shop/web container app", "has no policy", "policyFile", "-policy FILE"}},
		{"inline policy allows", "policy: {rules: [{name: shop, match: {namespaces: [shop]}, allow: {maps: [array, hash]}}]}", nil},
		{"inline policy refuses", "policy: {rules: [{name: shop, match: {namespaces: [shop]}, allow: {maps: array}}]}",
			[]string{`rule "shop"`, "maps hash (allowed: array)"}},
		{"namespace not selected", "policy: {rules: [{name: mon, match: {namespaces: [monitoring]}, allow: {maps: any}}]}",
			[]string{"no rule", "namespace shop, container app"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := logrus.New()
			l.SetOutput(io.Discard)
			p := newPlugin(logrus.NewEntry(l), nil)
			if _, err := p.Configure(context.Background(), tt.config, "containerd", "v2"); err != nil {
				t.Fatal(err)
			}
			_, _, err := p.CreateContainer(context.Background(), pod, c)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("CreateContainer = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("CreateContainer accepted")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestSynchronizeRecoversCreatedContainers(t *testing.T) {
	p := quietPlugin()
	p.pending["stale"] = spec.Delegation{Cmds: 1}
	pods := []*api.PodSandbox{{Id: "p", Name: "pod", Namespace: "ns", Annotations: map[string]string{"bpf.token/cmds": "map_create"}}}
	containers := []*api.Container{
		{Id: "created", PodSandboxId: "p", Name: "a", State: api.ContainerState_CONTAINER_CREATED},
		{Id: "running", PodSandboxId: "p", Name: "b", State: api.ContainerState_CONTAINER_RUNNING},
		{Id: "orphan", PodSandboxId: "gone", Name: "c", State: api.ContainerState_CONTAINER_CREATED},
	}
	if _, err := p.Synchronize(context.Background(), pods, containers); err != nil {
		t.Fatal(err)
	}
	if len(p.pending) != 1 || p.pending["created"].Cmds != 1 {
		t.Errorf("after Synchronize pending = %v, want only the created container", p.pending)
	}
}

func TestConfigure(t *testing.T) {
	tests := []struct {
		cfg     string
		wantErr string // the refusal of a container that asks
	}{
		{"", ""},
		{"logLevel: debug\n", ""},
		{`{"logLevel": "info"}`, ""},
		{"logLevel: loud\n", `nri-bpftoken configuration: logLevel "loud"`},
		{"level: debug\n", "unknown field"},
		{"policy: {rules: [{name: a, allow: {maps: array}}]}\n", ""},
		{"policy: {rules: [{name: a, allow: {maps: hsh}}]}\n", `unknown map type "hsh"`},
		{"policyFile: /nonexistent/policy.yaml\n", "/nonexistent/policy.yaml"},
		{"policyFile: /x\npolicy: {rules: []}\n", "both policy and policyFile"},
	}
	pod := &api.PodSandbox{Id: "p", Name: "web", Namespace: "shop", Annotations: map[string]string{"bpf.token/maps": "array"}}
	c := &api.Container{Id: "c", Name: "app", PodSandboxId: "p", Linux: &api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "user"}}}}
	for _, tt := range tests {
		p := quietPlugin()
		mask, err := p.Configure(context.Background(), tt.cfg, "containerd", "v2")
		if err != nil || mask == 0 {
			t.Fatalf("Configure(%q) = %v, %v: a configuration error must not fail the connection", tt.cfg, mask, err)
		}
		_, _, err = p.CreateContainer(context.Background(), pod, c)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("after Configure(%q): CreateContainer = %v", tt.cfg, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "fix the plugin's configuration") {
			t.Errorf("after Configure(%q): CreateContainer error = %v, want %q", tt.cfg, err, tt.wantErr)
		}
		// A container that asks for nothing is not affected.
		if _, _, err := p.CreateContainer(context.Background(), &api.PodSandbox{Id: "q"}, &api.Container{Id: "d"}); err != nil {
			t.Errorf("after Configure(%q): a container that asks nothing was refused: %v", tt.cfg, err)
		}
	}
}

// The plugin's cost for the common case, a container that asks for nothing
// (goal: well under 100 us per request).
func BenchmarkCreateContainerNoAnnotation(b *testing.B) {
	p := quietPlugin()
	pod := &api.PodSandbox{Id: "pod-id", Name: "web-7d9f", Namespace: "shop", Annotations: map[string]string{
		"kubernetes.io/config.seen":           "2026-11-27T20:00:00Z",
		"kubernetes.io/config.source":         "api",
		"io.kubernetes.cri.sandbox-id":        "pod-id",
		"io.kubernetes.cri.sandbox-name":      "web-7d9f",
		"io.kubernetes.cri.sandbox-namespace": "shop",
		"prometheus.io/scrape":                "true",
	}}
	c := &api.Container{Id: "ctr-id", Name: "app", PodSandboxId: "pod-id", Annotations: map[string]string{
		"io.kubernetes.cri.container-name": "app",
		"io.kubernetes.cri.container-type": "container",
	}, Linux: &api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "user"}}}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := p.CreateContainer(ctx, pod, c); err != nil {
			b.Fatal(err)
		}
	}
}

// The same for a container that asks: parsing and recording the request.
func BenchmarkCreateContainerAnnotated(b *testing.B) {
	p := quietPlugin()
	pod := &api.PodSandbox{Id: "pod-id", Name: "web", Namespace: "shop", Annotations: map[string]string{
		"bpf.token/cmds": "map_create,prog_load", "bpf.token/maps": "array",
		"bpf.token/progs": "socket_filter", "bpf.token/attachs": "cgroup_inet_ingress",
	}}
	c := &api.Container{Id: "ctr-id", Name: "app", PodSandboxId: "pod-id",
		Linux: &api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "user"}}}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := p.CreateContainer(ctx, pod, c); err != nil {
			b.Fatal(err)
		}
	}
}
