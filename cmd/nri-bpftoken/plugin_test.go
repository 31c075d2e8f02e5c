package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"

	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/policy"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/userns"
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
	userns := &api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "user"}, {Type: "mount"}}}
	hostUsers := &api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "mount"}}}
	// A runtime that "joins" the host's own user namespace by path.
	joinsHost := &api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "user", Path: "/proc/self/ns/user"}, {Type: "mount"}}}
	tests := []struct {
		name       string
		podAnn     map[string]string
		ctrAnn     map[string]string // the container's annotations as the runtime passes them
		linux      *api.LinuxContainer
		wantEnv    string // LIBBPF_BPF_TOKEN_PATH, "" for no adjustment
		wantMask   uint64 // Maps mask decided; 0: no delegation
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
		{name: "user namespace path that is the host's", podAnn: map[string]string{"bpf.token/maps": "array"}, linux: joinsHost,
			wantErr: spec.ErrNoUserNamespace},
		{name: "cgroup program type without a cgroup namespace", podAnn: map[string]string{"bpf.token/maps": "array", "bpf.token/progs": "cgroup_skb"},
			linux: userns, wantErr: policy.ErrHostCgroupNamespace, wantErrMsg: []string{"cgroup_skb", "hostCgroupNamespace: true"}},
		{name: "cgroup program type with a cgroup namespace", podAnn: map[string]string{"bpf.token/maps": "array", "bpf.token/progs": "cgroup_skb"},
			linux: &api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "user"}, {Type: "mount"}, {Type: "cgroup"}}}, wantMask: 1 << 2},
		{name: "network program type in the host's network namespace (hostNetwork)", podAnn: map[string]string{"bpf.token/profile": "xdp"},
			linux: userns, wantErr: policy.ErrHostNetworkNamespace, wantErrMsg: []string{"program types xdp delegated to a container that shares the host's network namespace", "(Kubernetes: hostNetwork: false)", "hostNetworkNamespace: true"}},
		{name: "network program type with a network namespace", podAnn: map[string]string{"bpf.token/profile": "xdp"},
			linux: &api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "user"}, {Type: "mount"}, {Type: "network"}}}, wantMask: 1<<1 | 1<<2 | 1<<6},
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
				if d, derr := p.decide(pod, c); d != nil || derr == nil {
					t.Errorf("decide = %v, %v after CreateContainer refused", d, derr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gotEnv := ""
			if adj != nil {
				for _, e := range adj.Env {
					if e.Key == spec.LibbpfTokenPathEnv {
						gotEnv = e.Value
					}
				}
			}
			if gotEnv != tt.wantEnv {
				t.Errorf("%s = %q, want %q (adjustment %v)", spec.LibbpfTokenPathEnv, gotEnv, tt.wantEnv, adj)
			}
			d, err := p.decide(pod, c)
			if err != nil || (d != nil) != (tt.wantMask != 0) || (d != nil && d.Masks[spec.KindMaps] != tt.wantMask) {
				t.Errorf("decide = %+v, %v; want maps %#x", d, err, tt.wantMask)
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

// A container created while the plugin was away (or before its policy
// changed) passes the same checks at StartContainer as one it saw created:
// seen on containerd, such a container asking "any" got it past a strict
// policy, because Synchronize queued it unchecked.
func TestStartContainerChecksContainersLearntAtSynchronize(t *testing.T) {
	any4 := map[string]string{"bpf.token/cmds": "any", "bpf.token/maps": "any", "bpf.token/progs": "any", "bpf.token/attachs": "any"}
	tests := []struct {
		name    string
		config  string
		podAnn  map[string]string
		linux   *api.LinuxContainer
		wantErr string
	}{
		{"above the policy", "policy: {rules: [{name: strict, allow: {cmds: [map_create], maps: [array]}}]}", any4,
			&api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "user"}, {Type: "mount"}}}, `rule "strict"`},
		{"no policy", "", any4,
			&api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "user"}, {Type: "mount"}}}, "has no policy"},
		{"bad configuration", "policyFile: /nonexistent/policy.yaml", any4,
			&api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "user"}, {Type: "mount"}}}, "fix the plugin's configuration"},
		{"no user namespace", "policy: {rules: [{name: all, allow: {maps: any, any: true}}]}", map[string]string{"bpf.token/maps": "array"},
			&api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "mount"}}}, "no user namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			init := exec.Command("sleep", "600")
			init.SysProcAttr = testenv.ContainerProcAttr()
			testenv.Privileged(t)
			if err := init.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { init.Wait(); close(exited) }()
			t.Cleanup(func() { init.Process.Kill(); <-exited })

			l := logrus.New()
			l.SetOutput(io.Discard)
			p := newPlugin(logrus.NewEntry(l), nil)
			if _, err := p.Configure(context.Background(), tt.config, "containerd", "v2"); err != nil {
				t.Fatal(err)
			}
			pod := &api.PodSandbox{Id: "p", Name: "pod", Namespace: "ns", Annotations: tt.podAnn}
			c := &api.Container{Id: "c", PodSandboxId: "p", Name: "app", State: api.ContainerState_CONTAINER_CREATED,
				Pid: uint32(init.Process.Pid), Linux: tt.linux}
			if _, err := p.Synchronize(context.Background(), []*api.PodSandbox{pod}, []*api.Container{c}); err != nil {
				t.Fatal(err)
			}
			err := p.StartContainer(context.Background(), pod, c)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("StartContainer = %v, want a refusal with %q", err, tt.wantErr)
			}
			// Refused: the init is killed (CRI-O starts a container whose
			// StartContainer failed).
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				t.Fatal("the container's init still runs after a refusal")
			}
		})
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

// A hung volume on the mount path (a FUSE daemon that stopped) must not
// hold StartContainer past its deadline (NRI's own gives up after 2 s and
// the runtime goes on), nor pile up threads in the resident plugin: each
// start gives up in time and kills the container's init; once a few
// threads are stuck, further starts are refused at once; and when the
// volume answers, they end and leave nothing.
func TestStartContainerGivesUpOnAHungVolume(t *testing.T) {
	testenv.Privileged(t)
	hung := t.TempDir()
	l := logrus.New()
	l.SetOutput(io.Discard)
	pol, err := policy.Parse([]byte(`rules: [{name: all, allow: {cmds: [map_create], paths: [`+hung+`/mnt/bpf]}}]`), "test")
	if err != nil {
		t.Fatal(err)
	}
	p := newPlugin(logrus.NewEntry(l), pol)
	p.startTimeout = 200 * time.Millisecond
	pod := &api.PodSandbox{Id: "p", Name: "pod", Namespace: "ns",
		Annotations: map[string]string{"bpf.token/cmds": "map_create", "bpf.token/path": hung + "/mnt/bpf"}}
	var releases []func()
	defer func() {
		for _, r := range releases {
			r()
		}
	}()
	for i := range maxAbandoned + 1 {
		init := exec.Command("sleep", "600")
		init.SysProcAttr = testenv.ContainerProcAttr()
		if err := init.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { init.Wait(); close(exited) }()
		defer func() { init.Process.Kill(); <-exited }()
		// The volume hangs in this container's mount namespace only.
		ns, err := userns.Open(init.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if err := ns.DoOnThrowawayThread(context.Background(), func(userns.Commit) error {
			releases = append(releases, testenv.HungFUSE(t, hung))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		ns.Close()
		c := &api.Container{Id: "c", PodSandboxId: "p", Name: "app", Pid: uint32(init.Process.Pid),
			Linux: &api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "user"}, {Type: "mount"}}}}
		start := time.Now()
		err = p.StartContainer(context.Background(), pod, c)
		want := "does not answer"
		if i == maxAbandoned {
			want = "still stuck"
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("start %d through a hung volume = %v, want an error with %q", i, err, want)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("start %d took %s", i, took)
		}
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			t.Fatalf("start %d: the container's init still runs after a refusal", i)
		}
	}
	if n := userns.Abandoned(); n != maxAbandoned {
		t.Errorf("Abandoned() = %d, want %d", n, maxAbandoned)
	}
	for _, r := range releases {
		r()
	}
	for deadline := time.Now().Add(5 * time.Second); userns.Abandoned() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Abandoned() = %d after the volumes answered, want 0", userns.Abandoned())
		}
	}
}

// The process the plugin mounts into must be in the user namespace the
// runtime gave the container: a pid reused by another container's process
// (same mappings, another namespace) is refused and nothing is mounted.
func TestStartContainerChecksTheUserNamespace(t *testing.T) {
	testenv.Privileged(t)
	dir := t.TempDir()
	l := logrus.New()
	l.SetOutput(io.Discard)
	pol, err := policy.Parse([]byte(`rules: [{name: all, allow: {cmds: [map_create], paths: [`+dir+`/bpf]}}]`), "test")
	if err != nil {
		t.Fatal(err)
	}
	p := newPlugin(logrus.NewEntry(l), pol)
	pod := &api.PodSandbox{Id: "p", Name: "pod", Namespace: "ns",
		Annotations: map[string]string{"bpf.token/cmds": "map_create", "bpf.token/path": dir + "/bpf"}}
	other := testenv.StartInUserNS(t)
	for _, tt := range []struct {
		name    string
		userns  func(self int) string
		wantErr error
	}{
		{"another container's namespace", func(int) string { return fmt.Sprintf("/proc/%d/ns/user", other) }, userns.ErrUnexpectedUserNamespace},
		{"its own namespace", func(self int) string { return fmt.Sprintf("/proc/%d/ns/user", self) }, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pid := testenv.StartInUserNS(t)
			c := &api.Container{Id: "c", PodSandboxId: "p", Name: "app", Pid: uint32(pid),
				Linux: &api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "user", Path: tt.userns(pid)}, {Type: "mount"}}}}
			err := p.StartContainer(context.Background(), pod, c)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("StartContainer = %v, want %v", err, tt.wantErr)
			}
			mountinfo, rerr := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
			if mounted := rerr == nil && strings.Contains(string(mountinfo), " - bpf "); mounted != (tt.wantErr == nil) {
				t.Errorf("bpffs mounted: %v, want %v (read: %v)", mounted, tt.wantErr == nil, rerr)
			}
		})
	}
}

// The shared bpffs of a pod removed while the plugin was away is removed at
// Synchronize; a live pod's stays.
func TestSynchronizeRemovesSharedBPFFSOfPodsGone(t *testing.T) {
	p := quietPlugin()
	p.stateDir = t.TempDir()
	for _, id := range []string{"live", "gone", "stopped"} {
		if err := os.MkdirAll(filepath.Join(p.stateDir, "pods", id), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Synchronize(context.Background(), []*api.PodSandbox{{Id: "live"}, {Id: "stopped"}}, nil); err != nil {
		t.Fatal(err)
	}
	// A stopped sandbox runs no container again: its bpffs ends at once,
	// not when kubelet gets round to removing the sandbox.
	if err := p.StopPodSandbox(context.Background(), &api.PodSandbox{Id: "stopped"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(p.stateDir, "pods", "stopped")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("StopPodSandbox left the pod's bpffs directory: %v", err)
	}
	if err := p.RemovePodSandbox(context.Background(), &api.PodSandbox{Id: "stopped"}); err != nil {
		t.Errorf("RemovePodSandbox after StopPodSandbox: %v", err)
	}
	if _, err := os.Stat(filepath.Join(p.stateDir, "pods", "live")); err != nil {
		t.Errorf("a live pod's bpffs directory went: %v", err)
	}
	if _, err := os.Stat(filepath.Join(p.stateDir, "pods", "gone")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a removed pod's bpffs directory stayed: %v", err)
	}
	if err := p.RemovePodSandbox(context.Background(), &api.PodSandbox{Id: "live"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(p.stateDir, "pods", "live")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("RemovePodSandbox left the pod's bpffs directory: %v", err)
	}
	if _, err := p.podDir("../x"); err == nil {
		t.Error("a pod id with a slash named a directory")
	}
}

// With bpf.token/scope: pod, the policy still judges each container as it
// would without: the shared bpffs is no way around a ceiling.
func TestPodScopeKeepsThePolicyPerContainer(t *testing.T) {
	l := logrus.New()
	l.SetOutput(io.Discard)
	pol, err := policy.Parse([]byte(`rules: [{name: web-only, match: {containers: [web]}, allow: {cmds: [map_create], maps: [array]}}]`), "test")
	if err != nil {
		t.Fatal(err)
	}
	p := newPlugin(logrus.NewEntry(l), pol)
	pod := &api.PodSandbox{Id: "p", Name: "pod", Namespace: "ns",
		Annotations: map[string]string{"bpf.token/scope": "pod", "bpf.token/cmds": "map_create", "bpf.token/maps": "array"}}
	userNS := &api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "user"}, {Type: "mount"}}}
	if _, _, err := p.CreateContainer(context.Background(), pod, &api.Container{Id: "a", Name: "web", Linux: userNS}); err != nil {
		t.Errorf("the container the rule selects: %v", err)
	}
	_, _, err = p.CreateContainer(context.Background(), pod, &api.Container{Id: "b", Name: "sidecar", Linux: userNS})
	if !errors.Is(err, policy.ErrDenied) || !strings.Contains(err.Error(), `pod ns/pod container sidecar: denied by policy: no rule of policy test selects`) {
		t.Errorf("a container of the same pod no rule selects = %v, want the usual refusal", err)
	}
}
