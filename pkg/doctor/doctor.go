package doctor

import (
	"context"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// Verdict is the outcome of one check.
type Verdict string

const (
	// OK: nothing to do.
	OK Verdict = "ok"
	// Warn: the node can work, but something is missing or worth knowing.
	Warn Verdict = "warn"
	// Fail: the node cannot give containers BPF tokens until this is fixed.
	Fail Verdict = "fail"
)

// Names of the checks, as Result.Name carries them.
const (
	CheckKernel   = "kernel"
	CheckTokens   = "tokens"
	CheckBTF      = "btf"
	CheckLockdown = "lockdown"
	CheckUserNS   = "userns"
	CheckHooksDir = "hooks.d"
	CheckPolicy   = "policy"
	CheckNRI      = "nri"
	CheckService  = "service"
)

// Result is the outcome of one check.
type Result struct {
	// Name identifies the check (CheckKernel, ...).
	Name string `json:"name"`
	// Verdict is ok, warn or fail.
	Verdict Verdict `json:"verdict"`
	// Detail says what was found, on one line.
	Detail string `json:"detail"`
	// Fix says what to do about it; empty when the verdict is ok.
	Fix string `json:"fix"`
}

// DefaultNRISocket is where containerd and CRI-O listen for NRI plugins
// unless configured otherwise (the NRI library's default socket path).
const DefaultNRISocket = "/var/run/nri/nri.sock"

// Options chooses the checks beyond the common ones.
type Options struct {
	// Hook adds the hooks.d check: is a hooks.d JSON installed that makes
	// podman and CRI-O run HookBinary at createRuntime for containers with
	// bpf.token/ annotations?
	Hook bool
	// HookBinary is the hook binary to look for; empty: the running one.
	HookBinary string
	// HooksDirs are the hooks.d directories to read, in the order the
	// runtime reads them (a file replaces one of the same name read
	// before); nil: DefaultHooksDirs.
	HooksDirs []string
	// HookPolicy is the policy file the hook is given; empty:
	// policy.DefaultPath when it exists. Read with Hook.
	HookPolicy string

	// NRI adds the NRI check: does something accept connections on
	// NRISocket (empty: DefaultNRISocket)?
	NRI       bool
	NRISocket string

	// Service adds the service check: does bpftokend answer on this socket,
	// and what does it grant the user running the doctor? For rootless
	// podman's users; the token check then leaves making a bpffs to it.
	Service string

	// TempDir is where the token check makes the stand-in container's
	// rootfs; empty: os.TempDir(). Every directory on the way must be
	// searchable by other users (the stand-in runs as an unprivileged host
	// uid); when it is not, /tmp, /var/tmp or /dev/shm is used instead.
	TempDir string
}

// Run runs the checks and returns their results, in a fixed order: kernel,
// tokens, btf, lockdown, userns, then hooks.d and policy, nri, and service,
// when asked for. The
// token check needs root; ctx bounds it.
func Run(ctx context.Context, opts Options) []Result {
	kernel := checkKernel()
	tokens := checkTokens(ctx, opts)
	results := []Result{
		kernel,
		tokens,
		checkBTF(),
		checkLockdown(tokens.Verdict),
		checkUserNS(),
	}
	if opts.Hook {
		dirs := opts.HooksDirs
		if dirs == nil {
			dirs = DefaultHooksDirs
		}
		results = append(results, checkHooksDirs(dirs, opts.HookBinary), checkHookPolicy(opts.HookPolicy))
	}
	if opts.NRI {
		socket := opts.NRISocket
		if socket == "" {
			socket = DefaultNRISocket
		}
		results = append(results, checkNRI(socket))
	}
	if opts.Service != "" {
		results = append(results, checkService(ctx, opts.Service))
	}
	for i := range results {
		results[i].Detail = spec.OneLine(results[i].Detail)
		results[i].Fix = spec.OneLine(results[i].Fix)
	}
	return results
}

// CanWork reports whether the node can give containers BPF tokens: no
// check failed.
func CanWork(results []Result) bool {
	for _, r := range results {
		if r.Verdict == Fail {
			return false
		}
	}
	return true
}
