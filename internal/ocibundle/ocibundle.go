// Package ocibundle reads what an OCI runtime hands a hook: the container's
// state on stdin and its bundle's config.json, and answers the questions the
// hook asks of them (annotations, rootfs, namespaces, capabilities, whether
// seccomp blocks bpf()).
//
// Its one hard constraint: both are decoded from bounded, valid UTF-8 input
// and only in the parts read, because the hook runs for every container
// start (the whole config costs 1-2 ms to decode) and a byte the JSON
// decoder would replace could turn a mount path into another.
package ocibundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"unicode/utf8"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

const (
	// maxStateSize bounds the state JSON a hook reads from stdin.
	maxStateSize = 1 << 20
	// maxConfigSize bounds config.json; real ones are a few tens of KiB.
	maxConfigSize = 16 << 20
)

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
		if len(view.Linux.Seccomp) > 0 && spec.HasAnnotations(view.Annotations) {
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
	return spec.ErrNoUserNamespace
}

// EffectiveCaps returns the capabilities the container's process starts
// with (none when config.json says nothing).
func EffectiveCaps(cfg *specs.Spec) []string {
	if cfg.Process == nil || cfg.Process.Capabilities == nil {
		return nil
	}
	return cfg.Process.Capabilities.Effective
}

// SeccompBlocksBPF reports whether the container's seccomp filter denies
// bpf() outright: its
// default action is not an allow, and no rule without argument conditions
// allows bpf. (Runtimes resolve capability-conditional rules before writing
// config.json, so what is here is what applies.)
func SeccompBlocksBPF(cfg *specs.Spec) bool {
	if cfg.Linux == nil || cfg.Linux.Seccomp == nil {
		return false
	}
	s := cfg.Linux.Seccomp
	allowing := func(a specs.LinuxSeccompAction) bool {
		return a == specs.ActAllow || a == specs.ActLog || a == specs.ActTrace || a == specs.ActNotify
	}
	for _, rule := range s.Syscalls {
		if !slices.Contains(rule.Names, "bpf") || len(rule.Args) > 0 {
			continue
		}
		return !allowing(rule.Action)
	}
	return !allowing(s.DefaultAction)
}
