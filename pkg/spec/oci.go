package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"unicode/utf8"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	// maxStateSize bounds the state JSON a hook reads from stdin.
	maxStateSize = 1 << 20
	// maxConfigSize bounds config.json; real ones are a few tens of KiB.
	maxConfigSize = 16 << 20
)

// ErrNoUserNamespace means the container does not get a user namespace of
// its own, so no BPF token can exist for it.
var ErrNoUserNamespace = errors.New("container has no user namespace of its own")

// ReadState decodes the OCI state a runtime passes to a hook on stdin.
func ReadState(r io.Reader) (*specs.State, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxStateSize+1))
	if err != nil {
		return nil, fmt.Errorf("read container state from stdin: %w", err)
	}
	if len(data) > maxStateSize {
		return nil, fmt.Errorf("container state on stdin is larger than %d bytes", maxStateSize)
	}
	if len(data) == 0 {
		return nil, errors.New("container state on stdin is empty: run this as an OCI hook (the runtime passes the state on stdin)")
	}
	if !utf8.Valid(data) {
		return nil, errors.New("container state on stdin is not valid UTF-8 JSON")
	}
	var st specs.State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decode container state from stdin: %w", err)
	}
	if st.Bundle == "" {
		return nil, errors.New("container state on stdin has no bundle path")
	}
	if !filepath.IsAbs(st.Bundle) {
		return nil, fmt.Errorf("container state on stdin: bundle path %q is not absolute", st.Bundle)
	}
	return &st, nil
}

// LoadConfig reads <bundle>/config.json into a specs.Spec that holds what
// the hook reads: annotations, root, process capabilities, and the Linux
// namespaces, id mappings and, for a container with bpf.token/ annotations,
// its seccomp default action and the rules naming bpf. Everything else is
// left out.
//
// Why not decode the whole document: the full specs.Spec type tree costs
// encoding/json 1-2 ms to set up and decode for a podman config (measured
// here on a 10 KiB config.json), most of the hook's own run time, paid on
// every container start. The pieces are runtime-spec's own types.
func LoadConfig(bundle string) (*specs.Spec, error) {
	path := filepath.Join(bundle, "config.json")
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open container config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		// The error names the file already.
		return nil, fmt.Errorf("read container config: %w", err)
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxConfigSize)
	}
	// encoding/json would replace invalid bytes with U+FFFD: a mount path
	// would then silently become another path.
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%s is not valid UTF-8", path)
	}
	var view configView
	if err := json.Unmarshal(data, &view); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	cfg := &specs.Spec{Annotations: view.Annotations, Root: view.Root}
	if view.Process != nil {
		cfg.Process = &specs.Process{Capabilities: view.Process.Capabilities}
	}
	if view.Linux != nil {
		cfg.Linux = &specs.Linux{
			Namespaces:  view.Linux.Namespaces,
			UIDMappings: view.Linux.UIDMappings,
			GIDMappings: view.Linux.GIDMappings,
		}
		// The filter is most of the document and only matters for the
		// warnings given to containers that ask for delegation, which read
		// its default action and the rules that name bpf.
		if len(view.Linux.Seccomp) > 0 && HasAnnotations(view.Annotations) {
			if cfg.Linux.Seccomp, err = bpfSeccompRules(view.Linux.Seccomp); err != nil {
				return nil, fmt.Errorf("decode %s: linux.seccomp: %w", path, err)
			}
		}
	}
	return cfg, nil
}

// bpfSeccompRules decodes a seccomp filter's default action and only those
// rules that name the bpf syscall: decoding the few hundred other rules
// would double the hook's JSON work for nothing it looks at.
func bpfSeccompRules(raw json.RawMessage) (*specs.LinuxSeccomp, error) {
	var view struct {
		DefaultAction specs.LinuxSeccompAction `json:"defaultAction"`
		Syscalls      []json.RawMessage        `json:"syscalls"`
	}
	if err := json.Unmarshal(raw, &view); err != nil {
		return nil, err
	}
	out := &specs.LinuxSeccomp{DefaultAction: view.DefaultAction}
	for _, rule := range view.Syscalls {
		if !bytes.Contains(rule, []byte(`"bpf"`)) {
			continue
		}
		var r specs.LinuxSyscall
		if err := json.Unmarshal(rule, &r); err != nil {
			return nil, err
		}
		out.Syscalls = append(out.Syscalls, r)
	}
	return out, nil
}

// configView selects the parts of config.json that LoadConfig keeps.
type configView struct {
	Annotations map[string]string `json:"annotations,omitempty"`
	Root        *specs.Root       `json:"root,omitempty"`
	Process     *struct {
		Capabilities *specs.LinuxCapabilities `json:"capabilities,omitempty"`
	} `json:"process,omitempty"`
	Linux *struct {
		Namespaces  []specs.LinuxNamespace `json:"namespaces,omitempty"`
		UIDMappings []specs.LinuxIDMapping `json:"uidMappings,omitempty"`
		GIDMappings []specs.LinuxIDMapping `json:"gidMappings,omitempty"`
		Seccomp     json.RawMessage        `json:"seccomp,omitempty"`
	} `json:"linux,omitempty"`
}

// Annotations merges the annotations of state and config: runtimes put
// them in both, but not always the same ones; the state's win.
func Annotations(st *specs.State, cfg *specs.Spec) map[string]string {
	out := make(map[string]string, len(st.Annotations))
	if cfg != nil {
		for k, v := range cfg.Annotations {
			out[k] = v
		}
	}
	for k, v := range st.Annotations {
		out[k] = v
	}
	return out
}

// RootPath returns the container's rootfs as an absolute host path
// (root.path may be relative to the bundle).
func RootPath(bundle string, cfg *specs.Spec) (string, error) {
	if cfg.Root == nil || cfg.Root.Path == "" {
		return "", errors.New("container config has no root.path")
	}
	p := cfg.Root.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(bundle, p)
	}
	return filepath.Clean(p), nil
}

// CheckUserNamespace fails with ErrNoUserNamespace unless the config asks
// for a user namespace (a new one, or joining one by path).
func CheckUserNamespace(cfg *specs.Spec) error {
	if cfg.Linux != nil {
		for _, ns := range cfg.Linux.Namespaces {
			if ns.Type == specs.UserNamespace {
				return nil
			}
		}
	}
	return ErrNoUserNamespace
}

// PrivateNamespace reports whether the config gives the container a
// namespace of type t that is not the caller's (the host's): a new one, or
// one joined by a path that names another. An unreadable path counts as
// not private: the answer decides what may be granted.
func PrivateNamespace(cfg *specs.Spec, t specs.LinuxNamespaceType) bool {
	if cfg.Linux == nil {
		return false
	}
	for _, ns := range cfg.Linux.Namespaces {
		if ns.Type != t {
			continue
		}
		if ns.Path == "" {
			return true
		}
		var self, other unix.Stat_t
		if unix.Stat(ns.Path, &other) != nil || unix.Stat("/proc/self/ns/"+nsProcName(t), &self) != nil {
			return false
		}
		return self.Dev != other.Dev || self.Ino != other.Ino
	}
	return false
}

// nsProcName is the name of a namespace type under /proc/<pid>/ns.
func nsProcName(t specs.LinuxNamespaceType) string {
	switch t {
	case specs.MountNamespace:
		return "mnt"
	case specs.NetworkNamespace:
		return "net"
	}
	return string(t)
}
