package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"
	"sigs.k8s.io/yaml"

	"github.com/nri-bpftoken/nri-bpftoken/internal/remedy/engine"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/bpffs"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/policy"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/userns"
)

// plugin gives containers that ask for it a delegated bpffs. It decides at
// CreateContainer (where a refusal fails the creation with the reason, and
// where the environment can still be adjusted) and mounts at
// StartContainer, the first event with the container's pid, after
// pivot_root, before the container's process runs.
type plugin struct {
	log *logrus.Entry
	// flagPolicy is -policy FILE, used when NRI's configuration has none.
	flagPolicy *policy.Policy

	mu sync.Mutex
	// runtime is the name the runtime gave at Configure ("containerd",
	// "cri-o"): it says which annotations are the runtime's own.
	runtime string
	// policy decides what may be delegated; nil grants nothing (tenants are
	// not trusted by default).
	policy *policy.Policy
	// configErr is what was wrong with the NRI configuration; while set,
	// every container that asks is refused with it.
	configErr error
	// startTimeout bounds one StartContainer's work (startTimeout, but
	// tests shorten it).
	startTimeout time.Duration
	// stateDir holds, under pods/<pod id>, each pod's shared bpffs
	// (bpf.token/scope: pod), mounted there so that it outlives its
	// containers and the plugin.
	stateDir string
	// podLocks serializes the starts of one pod's containers: the first
	// makes the pod's bpffs, the others join it.
	podLocks sync.Map // pod id -> *sync.Mutex
}

// defaultStateDir is -state-dir's default.
const defaultStateDir = "/run/nri-bpftoken"

func newPlugin(log *logrus.Entry, flagPolicy *policy.Policy) *plugin {
	return &plugin{log: log, flagPolicy: flagPolicy, policy: flagPolicy, startTimeout: startTimeout, stateDir: defaultStateDir}
}

// config is the plugin's configuration from NRI's conf.d (YAML or JSON).
type config struct {
	LogLevel string `json:"logLevel"`
	// Policy is a policy document inline; PolicyFile names one.
	Policy     json.RawMessage `json:"policy"`
	PolicyFile string          `json:"policyFile"`
}

// noPolicy is why a container is refused when the plugin has no policy.
const noPolicy = "nri-bpftoken has no policy, so it grants no delegation: give it one (policy or policyFile in its NRI configuration, or -policy FILE; see docs/policy.md)"

// Configure takes the configuration from NRI's conf.d. A bad one does not
// fail the connection: the runtime would then run every container without
// the plugin, and those that ask for delegation would start without it.
// Instead the plugin stays, and refuses every container that asks, with the
// configuration's fault in the message (fail closed).
func (p *plugin) Configure(_ context.Context, cfg, runtime, version string) (api.EventMask, error) {
	p.log.WithFields(logrus.Fields{"runtime": runtime, "version": version}).Info("connected to runtime")
	pol, err := p.parseConfig(cfg)
	if err != nil {
		err = fmt.Errorf("nri-bpftoken configuration: %w", err)
		p.log.Error(err)
	}
	p.mu.Lock()
	p.policy, p.configErr, p.runtime = pol, err, runtime
	p.mu.Unlock()
	switch {
	case err != nil:
	case pol == nil:
		p.log.Warn(noPolicy)
	default:
		p.log.WithFields(logrus.Fields{"policy": pol.Source, "rules": len(pol.Rules)}).Info("policy loaded")
		for _, w := range pol.Warnings {
			p.log.WithField("policy", pol.Source).Warn(w)
		}
	}
	return api.MustParseEventMask("CreateContainer", "StartContainer", "StopPodSandbox", "RemovePodSandbox"), nil
}

// parseConfig applies the log level and returns the policy the
// configuration names, or the one given with -policy.
func (p *plugin) parseConfig(cfg string) (*policy.Policy, error) {
	if cfg == "" {
		return p.flagPolicy, nil
	}
	var c config
	if err := yaml.UnmarshalStrict([]byte(cfg), &c); err != nil {
		return nil, err
	}
	if c.LogLevel != "" {
		level, err := logrus.ParseLevel(c.LogLevel)
		if err != nil {
			return nil, fmt.Errorf("logLevel %q: use one of error, warning, info, debug", c.LogLevel)
		}
		p.log.Logger.SetLevel(level)
	}
	switch {
	case len(c.Policy) > 0 && c.PolicyFile != "":
		return nil, fmt.Errorf("both policy and policyFile are set: keep one")
	case len(c.Policy) > 0:
		return policy.Parse(c.Policy, "in the NRI configuration")
	case c.PolicyFile != "":
		return policy.Load(c.PolicyFile)
	}
	return p.flagPolicy, nil
}

// Synchronize has nothing to rebuild: every decision is made again from the
// container and its pod at StartContainer, so a container created while
// the plugin was away passes the same checks as any other. Nothing needs
// cleaning either: the bpffs lives only in each container's mount
// namespace, and helpers die with the plugin (parent-death signal).
//
// The one thing to clean is the shared bpffs of pods removed while the
// plugin was away.
func (p *plugin) Synchronize(_ context.Context, pods []*api.PodSandbox, containers []*api.Container) ([]*api.ContainerUpdate, error) {
	live := make(map[string]bool, len(pods))
	for _, pod := range pods {
		live[pod.Id] = true
	}
	entries, err := os.ReadDir(filepath.Join(p.stateDir, "pods"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		p.log.WithError(err).Warn("cannot list the pods' shared bpffs")
	}
	for _, e := range entries {
		if !live[e.Name()] {
			p.removeShared(e.Name())
		}
	}
	p.log.WithFields(logrus.Fields{"pods": len(pods), "containers": len(containers)}).Info("synchronized with runtime")
	return nil, nil
}

// StopPodSandbox ends the pod's shared bpffs, if it has one: no container
// of a stopped sandbox starts again (kubelet makes a new sandbox), and
// kubelet removes a deleted pod's sandbox only at its next garbage
// collection, a minute or more later.
func (p *plugin) StopPodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.removeShared(pod.Id)
	return nil
}

// RemovePodSandbox ends the pod's shared bpffs, if StopPodSandbox did not
// (a plugin that was away then): what its containers pinned goes with it.
func (p *plugin) RemovePodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.removeShared(pod.Id)
	p.podLocks.Delete(pod.Id)
	return nil
}

func (p *plugin) removeShared(podID string) {
	dir, err := p.podDir(podID)
	if err == nil {
		if _, serr := os.Lstat(dir); errors.Is(serr, fs.ErrNotExist) {
			return // most pods share none
		}
		err = bpffs.RemoveShared(dir)
	}
	if err != nil {
		p.log.WithError(err).WithField("pod", spec.Echo(podID)).Error("cannot remove the pod's shared bpffs")
		return
	}
	p.log.WithField("pod", spec.Echo(podID)).Debug("pod's shared bpffs removed")
}

// podDir is where the pod's shared bpffs is mounted. The id comes from the
// runtime, but it names a directory: it must be one plain name.
func (p *plugin) podDir(podID string) (string, error) {
	if podID == "" || podID == "." || podID == ".." || strings.ContainsAny(podID, "/\x00") {
		return "", fmt.Errorf("pod id %s cannot name a directory", spec.Echo(podID))
	}
	return filepath.Join(p.stateDir, "pods", podID), nil
}

// decide is the one place that says what a container gets, or why it is
// refused: its annotations, its user namespace, the plugin's configuration
// and the policy, with the workload as the runtime describes it. Every
// event that may lead to a mount asks it.
func (p *plugin) decide(pod *api.PodSandbox, c *api.Container) (*spec.Delegation, error) {
	d, err := spec.ForContainer(podAnnotations(pod), ownAnnotations(pod, c), c.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", describe(pod, c), err)
	}
	if d == nil {
		return nil, nil
	}
	if !hasNamespace(c, "user") {
		return nil, fmt.Errorf("%s: bpf.token/ annotations ask for a BPF token, but the %w; a token cannot exist in the host's user namespace: run the pod with hostUsers: false", describe(pod, c), spec.ErrNoUserNamespace)
	}
	p.mu.Lock()
	pol, configErr, runtime := p.policy, p.configErr, p.runtime
	p.mu.Unlock()
	if configErr != nil {
		return nil, fmt.Errorf("%s: bpf.token/ annotations ask for a BPF token, but %w: fix the plugin's configuration (NRI conf.d)", describe(pod, c), configErr)
	}
	if pol == nil {
		return nil, fmt.Errorf("%s: bpf.token/ annotations ask for a BPF token, but %s", describe(pod, c), noPolicy)
	}
	if err := pol.Check(workloadOf(runtime, pod, c), *d); err != nil {
		var he *policy.HostNamespaceError
		if errors.As(err, &he) && errors.Is(err, policy.ErrHostNetworkNamespace) {
			he.Hint = "Kubernetes: hostNetwork: false"
		}
		return nil, fmt.Errorf("%s: %w", describe(pod, c), err)
	}
	return d, nil
}

func (p *plugin) CreateContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	d, err := p.decide(pod, c)
	if err != nil || d == nil {
		return nil, nil, err
	}
	var adj *api.ContainerAdjustment
	if d.Path != spec.DefaultPath {
		adj = &api.ContainerAdjustment{}
		adj.AddEnv(spec.LibbpfTokenPathEnv, d.Path)
	}
	log := p.log.WithFields(logrus.Fields{"container": describe(pod, c), "delegation": d.String()})
	log.Debug("delegation requested")
	for _, w := range spec.DelegationWarnings(*d) {
		log.Warn(w)
	}
	return adj, nil, nil
}

// startTimeout bounds the work of one StartContainer, inside NRI's own
// limit for a plugin's answer (2 s by default).
const startTimeout = 1500 * time.Millisecond

// maxAbandoned is how many threads stuck on hung volumes the plugin lets
// exist before it refuses more work (see userns.Namespaces.DoOnThrowawayThread).
const maxAbandoned = 4

func (p *plugin) StartContainer(ctx context.Context, pod *api.PodSandbox, c *api.Container) error {
	d, err := p.decide(pod, c)
	if d == nil && err == nil {
		return nil
	}
	start := time.Now()
	// Even a refusal needs the init: on CRI-O, killing it is what keeps the
	// container from running.
	init, ierr := openInit(c.Id, c.Pid)
	if ierr == nil {
		defer init.close()
	} else {
		init = nil
	}
	if err == nil {
		err = ierr
	}
	if err != nil {
		return p.refuseStart(pod, c, d, init, err)
	}
	if n := userns.Abandoned(); n >= maxAbandoned {
		return p.refuseStart(pod, c, d, init, fmt.Errorf("%d earlier mounts are still stuck on file systems that do not answer (hung FUSE or NFS volumes in containers): refusing until they return; restart the plugin to clear them", n))
	}
	ctx, cancel := context.WithTimeout(ctx, p.startTimeout)
	defer cancel()
	ns, err := userns.OpenPidfd(init.pidfd, init.pid)
	if err != nil {
		return p.refuseStart(pod, c, d, init, err)
	}
	defer ns.Close()
	// After pivot_root the container's root is its mount namespace's root.
	target := bpffs.Target{Rootfs: "/", Delegation: *d, Expect: expectedUserNS(pod, c)}
	var res *bpffs.Result
	if d.Shared {
		res, err = p.provisionShared(ctx, ns, pod, target)
	} else {
		res, err = bpffs.ProvisionWith(ctx, ns, target)
	}
	if err != nil {
		return p.refuseStart(pod, c, d, init, err)
	}
	p.log.WithFields(logrus.Fields{
		"container": describe(pod, c), "pid": init.pid, "delegation": d.String(), "options": res.SuperOptions,
		"already_mounted": res.AlreadyMounted, "duration": time.Since(start),
	}).Info("delegated bpffs mounted")
	return nil
}

// provisionShared gives the container the pod's shared bpffs, one start of
// the pod at a time.
func (p *plugin) provisionShared(ctx context.Context, ns *userns.Namespaces, pod *api.PodSandbox, t bpffs.Target) (*bpffs.Result, error) {
	if pod == nil {
		return nil, errors.New("bpf.token/scope: pod, but the runtime passed no pod")
	}
	dir, err := p.podDir(pod.Id)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, fmt.Errorf("pods' shared bpffs directory: %w", err)
	}
	l, _ := p.podLocks.LoadOrStore(pod.Id, &sync.Mutex{})
	mu := l.(*sync.Mutex)
	mu.Lock()
	defer mu.Unlock()
	return bpffs.ProvisionShared(ctx, ns, t, dir)
}

// refuseStart fails the start of a container whose bpffs could not be
// mounted. containerd then does not start it; CRI-O (1.34) only logs a
// failed StartContainer and goes on, so the container's init, which still
// waits for the start, is killed: the container's process never runs
// without what it asked for, whatever the runtime does with the error.
func (p *plugin) refuseStart(pod *api.PodSandbox, c *api.Container, d *spec.Delegation, init *containerInit, err error) error {
	if d != nil {
		err = fmt.Errorf("%s: delegated bpffs at %s: %w%s", describe(pod, c), spec.Echo(d.Path), err, engine.Hint(err, "the plugin"))
	}
	log := p.log.WithError(err).WithField("container", describe(pod, c))
	if init != nil {
		if kerr := init.kill(); kerr != nil {
			log = log.WithField("kill_error", kerr)
		}
		log = log.WithField("killed_pid", init.pid)
	}
	log.Error("container refused at start")
	return err
}

func (p *plugin) Shutdown(context.Context) {
	p.log.Info("runtime is shutting down")
}

// ownAnnotations are the container's annotations that are its own: CRI-O
// copies the pod's annotations into each container's, where they would win
// over the pod's bpf.token/container.<name> keys; bpf.token/ keys equal to
// the pod's are the pod's. Containers without such copies (every container
// on containerd) keep their map as it is.
func ownAnnotations(pod *api.PodSandbox, c *api.Container) map[string]string {
	if pod == nil {
		return c.Annotations
	}
	var own map[string]string
	for k, v := range c.Annotations {
		if !strings.HasPrefix(k, spec.AnnotationPrefix) {
			continue
		}
		if pv, ok := pod.Annotations[k]; ok && pv == v {
			if own == nil {
				own = maps.Clone(c.Annotations)
			}
			delete(own, k)
		}
	}
	if own == nil {
		return c.Annotations
	}
	return own
}

// The runtimes' own annotations for a container's image: each runtime sets
// its key itself, after the pod's annotations, so a pod cannot choose it;
// but CRI-O copies a pod's annotations into its containers, so on CRI-O
// containerd's key may be the pod author's, and the other way round.
const (
	containerdImageName = "io.kubernetes.cri.image-name"
	crioImageName       = "io.kubernetes.cri-o.ImageName"
)

// workloadOf is what the policy's rules select on, from what the runtime
// itself sets: NRI's fields, and the one image key of that runtime.
func workloadOf(runtime string, pod *api.PodSandbox, c *api.Container) policy.Workload {
	w := policy.Workload{Container: c.Name, Annotations: map[string]string{},
		PrivateCgroupNamespace: hasNamespace(c, "cgroup"), PrivateNetworkNamespace: hasNamespace(c, "network")}
	switch {
	case c.Image != nil && c.Image.Name != "":
		w.Image = c.Image.Name
	case runtime == "containerd":
		w.Image = c.Annotations[containerdImageName]
	case runtime == "cri-o":
		w.Image = c.Annotations[crioImageName]
	}
	if pod != nil {
		w.Namespace = pod.Namespace
		maps.Copy(w.Annotations, pod.Annotations)
	}
	maps.Copy(w.Annotations, c.Annotations)
	return w
}

// hasNamespace reports whether the runtime gives c a namespace of kind
// ("user", "cgroup", "network") of its own.
func hasNamespace(c *api.Container, kind string) bool {
	if c.Linux == nil {
		return false
	}
	for _, ns := range c.Linux.Namespaces {
		if ns.Type == kind {
			return userns.PrivateNamespace(kind, ns.Path)
		}
	}
	return false
}

// podAnnotations are the pod's annotations; none without a pod.
func podAnnotations(pod *api.PodSandbox) map[string]string {
	if pod == nil {
		return nil
	}
	return pod.Annotations
}

// expectedUserNS is the user namespace the runtime says c has: the path it
// joins, or the pod sandbox's.
func expectedUserNS(pod *api.PodSandbox, c *api.Container) userns.Expect {
	if c.Linux != nil {
		for _, ns := range c.Linux.Namespaces {
			if ns.Type == "user" && ns.Path != "" {
				return userns.Expect{Path: ns.Path}
			}
		}
	}
	if pod != nil && pod.Linux != nil {
		for _, ns := range pod.Linux.Namespaces {
			if ns.Type == "user" && ns.Path != "" {
				return userns.Expect{Path: ns.Path}
			}
		}
	}
	return userns.Expect{}
}

// describe names a container as a Kubernetes user knows it.
// Names come from the pod's author: quoted and clipped when they need it.
func describe(pod *api.PodSandbox, c *api.Container) string {
	if pod == nil {
		return fmt.Sprintf("container %s", spec.Echo(c.Name))
	}
	return fmt.Sprintf("pod %s container %s", spec.Echo(pod.Namespace+"/"+pod.Name), spec.Echo(c.Name))
}
