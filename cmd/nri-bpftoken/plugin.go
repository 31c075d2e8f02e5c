package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"
	"sigs.k8s.io/yaml"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/bpffs"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/policy"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// libbpfTokenPathEnv tells libbpf (>= 1.4) where the delegated bpffs is when
// it is not at /sys/fs/bpf.
const libbpfTokenPathEnv = "LIBBPF_BPF_TOKEN_PATH"

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
	// pending holds what created-but-not-started containers asked for.
	pending map[string]spec.Delegation
	// policy decides what may be delegated; nil grants nothing (tenants are
	// not trusted by default).
	policy *policy.Policy
	// configErr is what was wrong with the NRI configuration; while set,
	// every container that asks is refused with it.
	configErr error
}

func newPlugin(log *logrus.Entry, flagPolicy *policy.Policy) *plugin {
	return &plugin{log: log, flagPolicy: flagPolicy, policy: flagPolicy, pending: map[string]spec.Delegation{}}
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
	p.policy, p.configErr = pol, err
	p.mu.Unlock()
	switch {
	case err != nil:
	case pol == nil:
		p.log.Warn(noPolicy)
	default:
		p.log.WithFields(logrus.Fields{"policy": pol.Source, "rules": len(pol.Rules)}).Info("policy loaded")
	}
	return api.MustParseEventMask("CreateContainer", "StartContainer", "RemoveContainer"), nil
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

// Synchronize rebuilds what a restarted plugin lost: the requests of
// containers created but not yet started. Nothing else needs cleaning: the
// bpffs lives only in each container's mount namespace, and helpers die
// with the plugin (parent-death signal).
func (p *plugin) Synchronize(_ context.Context, pods []*api.PodSandbox, containers []*api.Container) ([]*api.ContainerUpdate, error) {
	byID := make(map[string]*api.PodSandbox, len(pods))
	for _, pod := range pods {
		byID[pod.Id] = pod
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.pending)
	for _, c := range containers {
		if c.State != api.ContainerState_CONTAINER_CREATED {
			continue
		}
		pod := byID[c.PodSandboxId]
		if pod == nil {
			continue
		}
		d, err := spec.ForContainer(pod.Annotations, ownAnnotations(pod, c), c.Name)
		if err != nil || d == nil {
			continue
		}
		p.pending[c.Id] = *d
	}
	p.log.WithField("pending", len(p.pending)).Info("synchronized with runtime")
	return nil, nil
}

func (p *plugin) CreateContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	d, err := spec.ForContainer(pod.Annotations, ownAnnotations(pod, c), c.Name)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", describe(pod, c), err)
	}
	if d == nil {
		return nil, nil, nil
	}
	if !hasUserNamespace(c) {
		return nil, nil, fmt.Errorf("%s: bpf.token/ annotations ask for a BPF token, but the %w; a token cannot exist in the host's user namespace: run the pod with hostUsers: false", describe(pod, c), spec.ErrNoUserNamespace)
	}
	p.mu.Lock()
	pol, configErr := p.policy, p.configErr
	p.mu.Unlock()
	if configErr != nil {
		return nil, nil, fmt.Errorf("%s: bpf.token/ annotations ask for a BPF token, but %w: fix the plugin's configuration (NRI conf.d)", describe(pod, c), configErr)
	}
	if pol == nil {
		return nil, nil, fmt.Errorf("%s: bpf.token/ annotations ask for a BPF token, but %s", describe(pod, c), noPolicy)
	}
	if err := pol.Check(workloadOf(pod, c), *d); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", describe(pod, c), err)
	}
	var adj *api.ContainerAdjustment
	if d.Path != spec.DefaultPath {
		adj = &api.ContainerAdjustment{}
		adj.AddEnv(libbpfTokenPathEnv, d.Path)
	}
	p.mu.Lock()
	p.pending[c.Id] = *d
	p.mu.Unlock()
	log := p.log.WithFields(logrus.Fields{"container": describe(pod, c), "delegation": d.String()})
	log.Debug("delegation requested")
	for _, w := range spec.DelegationWarnings(*d) {
		log.Warn(w)
	}
	return adj, nil, nil
}

func (p *plugin) StartContainer(ctx context.Context, pod *api.PodSandbox, c *api.Container) error {
	p.mu.Lock()
	d, ok := p.pending[c.Id]
	delete(p.pending, c.Id)
	p.mu.Unlock()
	if !ok {
		return nil
	}
	start := time.Now()
	init, err := openInit(c.Id, c.Pid)
	if err != nil {
		return p.refuseStart(pod, c, d, nil, err)
	}
	defer init.close()
	// After pivot_root the container's root is its mount namespace's root.
	res, err := bpffs.Provision(ctx, bpffs.Target{Pid: init.pid, Rootfs: "/", Delegation: d})
	if err != nil {
		return p.refuseStart(pod, c, d, init, err)
	}
	p.log.WithFields(logrus.Fields{
		"container": describe(pod, c), "pid": init.pid, "options": res.SuperOptions,
		"already_mounted": res.AlreadyMounted, "duration": time.Since(start),
	}).Info("delegated bpffs mounted")
	return nil
}

// refuseStart fails the start of a container whose bpffs could not be
// mounted. containerd then does not start it; CRI-O (1.34) only logs a
// failed StartContainer and goes on, so the container's init, which still
// waits for the start, is killed: the container's process never runs
// without what it asked for, whatever the runtime does with the error.
func (p *plugin) refuseStart(pod *api.PodSandbox, c *api.Container, d spec.Delegation, init *containerInit, err error) error {
	err = fmt.Errorf("%s: delegated bpffs at %s: %w", describe(pod, c), d.Path, err)
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

func (p *plugin) RemoveContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) error {
	p.mu.Lock()
	delete(p.pending, c.Id)
	p.mu.Unlock()
	return nil
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

// workloadOf is what the policy's rules select on.
func workloadOf(pod *api.PodSandbox, c *api.Container) policy.Workload {
	w := policy.Workload{Container: c.Name, Image: c.Annotations["io.kubernetes.cri.image-name"], Annotations: map[string]string{}}
	if pod != nil {
		w.Namespace = pod.Namespace
		for k, v := range pod.Annotations {
			w.Annotations[k] = v
		}
	}
	for k, v := range c.Annotations {
		w.Annotations[k] = v
	}
	return w
}

func hasUserNamespace(c *api.Container) bool {
	if c.Linux == nil {
		return false
	}
	for _, ns := range c.Linux.Namespaces {
		if ns.Type == "user" {
			return true
		}
	}
	return false
}

// describe names a container as a Kubernetes user knows it.
func describe(pod *api.PodSandbox, c *api.Container) string {
	if pod == nil {
		return fmt.Sprintf("container %s", c.Name)
	}
	return fmt.Sprintf("pod %s/%s container %s", pod.Namespace, pod.Name, c.Name)
}
