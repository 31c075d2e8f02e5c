// Command oci-hook is an OCI createRuntime hook that gives a container a
// delegated bpffs, so that processes inside its user namespace can create a
// BPF token. podman and CRI-O run it from hooks.d for containers with a
// bpf.token/ annotation; the runtime passes the container's state on stdin.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/cli"
	"github.com/nri-bpftoken/nri-bpftoken/internal/doctorcli"
	"github.com/nri-bpftoken/nri-bpftoken/internal/ocibundle"
	"github.com/nri-bpftoken/nri-bpftoken/internal/procfs"
	"github.com/nri-bpftoken/nri-bpftoken/internal/remedy"
	"github.com/nri-bpftoken/nri-bpftoken/internal/remedy/engine"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/bpffs"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/doctor"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/policy"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/rootless"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/userns"
)

const name = "bpftoken-oci-hook"

// hookTimeout bounds a whole run by default; the hooks.d JSON gives the
// runtime's own timeout, a little longer, as a backstop.
const hookTimeout = 10 * time.Second

const usage = `Usage: %[1]s [flags]
       %[2]s   check this node (see %[1]s doctor --help)

An OCI createRuntime hook: reads the container state on stdin and, when the
container has bpf.token/ annotations, mounts a bpffs delegating the requested
bpf() commands, map, program and attach types inside the container's user
namespace. Install its hooks.d JSON (examples/hooks.d) so that podman or CRI-O
run it for annotated containers.

Policy: with --policy FILE, or /etc/nri-bpftoken/policy.yaml when it exists,
a request above the ceiling of the rule that selects the container refuses
it (docs/policy.md). Without one, podman containers get what the admin's
annotations ask (annotations their image carries never count), and
containers from other runtimes (CRI-O) are refused.

Rootless podman runs the hook as its user, in a user namespace of that
user's: there the hook asks bpftokend (--service) to mount the bpffs, and
bpftokend's policy rule for that user decides (docs/rootless.md).

Annotations: bpf.token/cmds, bpf.token/maps, bpf.token/progs,
bpf.token/attachs (lists separated by ',' or ':'), bpf.token/path
(default /sys/fs/bpf).

Flags:
`

func main() {
	// The doctor's token check re-executes this binary as its stand-in.
	if doctor.IsStandin(os.Args) {
		os.Exit(doctor.RunStandin())
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// doctorCommand is the doctor subcommand: the common checks, and the
// hooks.d JSON that makes podman and CRI-O run this hook, and its policy.
var doctorCommand = doctorcli.Command{
	Name:     name,
	Synopsis: " [--hooks-dir DIR]... [--policy FILE] [--service SOCKET]",
	Checks:   "the hooks.d JSON that makes podman and CRI-O run this hook, and its policy; run as a user (rootless podman), whether bpftokend answers and what it grants you",
	Flags: func(fs *flag.FlagSet) func() doctor.Options {
		var hooksDirs dirList
		fs.Var(&hooksDirs, "hooks-dir", "also read hooks.d JSON files from `DIR` (repeatable), after "+strings.Join(doctor.DefaultHooksDirs, " and "))
		policyFile := fs.String("policy", "", "the policy file the hook is given with --policy (default: "+policy.DefaultPath+")")
		service := fs.String("service", rootless.DefaultSocket, "bpftokend's socket, checked when the doctor runs as a user other than root")
		return func() doctor.Options {
			o := doctor.Options{Hook: true, HooksDirs: append(slices.Clone(doctor.DefaultHooksDirs), hooksDirs...), HookPolicy: *policyFile}
			if os.Geteuid() != 0 {
				o.Service = *service
			}
			return o
		}
	},
}

// dirList is a repeatable directory flag.
type dirList []string

func (l *dirList) String() string { return strings.Join(*l, ",") }

func (l *dirList) Set(v string) error {
	if v == "" {
		return errors.New("empty directory")
	}
	*l = append(*l, v)
	return nil
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "doctor" {
		return doctorCommand.Main(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), usage, name, doctorCommand.Usage())
		fs.PrintDefaults()
	}
	policyFile := fs.String("policy", "", "the admin's policy file (default: "+policy.DefaultPath+" when it exists; without one, the hook grants a podman container what the admin's annotations ask, and refuses containers from other runtimes)")
	timeout := fs.Duration("timeout", hookTimeout, "give up on the container (and refuse it) after this long; keep it below the timeout of the hooks.d JSON")
	service := fs.String("service", rootless.DefaultSocket, "bpftokend's socket: under rootless podman the hook asks bpftokend, whose policy decides (--policy is not read then)")
	common := cli.AddCommon(fs, name, "warning", "append logs to this file instead of stderr (podman drops a hook's stderr when it succeeds)")
	if code, done := common.Parse(fs, args, stdout); done {
		return code
	}
	log, closeLog := common.Logger(stderr)
	if log == nil {
		return 2
	}
	defer closeLog()

	if *timeout <= 0 {
		fmt.Fprintf(stderr, "%s: --timeout %s: must be positive\n", name, *timeout)
		return 2
	}
	h := &hook{log: logrus.NewEntry(log), stderr: stderr, logToFile: common.LogsToFile(), policyFile: *policyFile, timeout: *timeout, service: *service,
		exit: func(code int) { closeLog(); os.Exit(code) }}
	if err := h.run(stdin); err != nil {
		h.fail(err)
		return 1
	}
	return 0
}

// fail reports why the container is refused: one line on stderr says it
// all; a log file gets it with the container's fields.
func (h *hook) fail(err error) {
	if h.logToFile {
		h.log.WithError(err).Error("container refused")
	}
	fmt.Fprintf(h.stderr, "%s: %s\n", name, spec.OneLine(err.Error()))
}

// hook handles one createRuntime invocation.
type hook struct {
	log       *logrus.Entry
	stderr    io.Writer
	logToFile bool
	// policyFile is --policy; "" means policy.DefaultPath when it exists.
	policyFile string
	// timeout is --timeout: the whole run's deadline.
	timeout time.Duration
	// service is --service: bpftokend's socket, for rootless podman.
	service string
	// exit ends the process; the watchdog calls it at the deadline.
	exit func(code int)
}

// warn reports a problem that does not stop the container, on stderr (one
// line) and, when logs go to a file, there too.
func (h *hook) warn(id, msg string) {
	fmt.Fprintf(h.stderr, "%s: warning: container %s: %s\n", name, id, msg)
	if h.logToFile {
		h.log.Warn(msg)
	}
}

func (h *hook) run(stdin io.Reader) error {
	start := time.Now()
	st, err := ocibundle.ReadState(stdin)
	if err != nil {
		return err
	}
	// The id goes into messages: a hostile one must not break the line.
	id := spec.Echo(st.ID)
	h.log = h.log.WithFields(logrus.Fields{"container": id, "pid": st.Pid})
	// Runtimes copy config.json's annotations into the state; when they
	// did and none asks for delegation, config.json need not be read.
	if len(st.Annotations) > 0 && !spec.HasAnnotations(st.Annotations) {
		h.log.Debug("no bpf.token/ annotation; nothing to do")
		return nil
	}
	cfg, err := ocibundle.LoadConfig(st.Bundle)
	if err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	ann := ocibundle.Annotations(st, cfg)
	src, err := sourceOf(st, ann)
	if err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	for _, key := range src.ignored {
		h.warn(id, fmt.Sprintf("annotation %s ignored: the image sets it to the same value, and podman < 4.6 copies image annotations into containers; an image may not ask for delegation (if you passed it, write the value differently, e.g. with ':' instead of ',' or in another case)", spec.Echo(key)))
	}
	d, err := src.delegation()
	if err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	if d == nil {
		h.log.Debug("no bpf.token/ annotation; nothing to do")
		return nil
	}
	h.log = h.log.WithField("delegation", d.String())
	// Rootless podman runs the hook as root of its own user namespace,
	// which cannot set delegate_* options: bpftokend does, and decides.
	if rootlessPodman() {
		return h.askService(st, cfg, id, *d, src)
	}
	if err := ocibundle.CheckUserNamespace(cfg); err != nil {
		return fmt.Errorf("container %s: bpf.token/ annotations ask for a BPF token, but the %w; a token cannot exist in the host's user namespace: run it with a user namespace (podman: --userns=auto or --uidmap 0:100000:65536; Kubernetes: hostUsers: false)", id, err)
	}
	// The policy is read only for containers that ask: the others pay nothing.
	pol, err := h.loadPolicy()
	if err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	if pol == nil && src.podman == nil {
		return fmt.Errorf("container %s: bpf.token/ annotations ask for a BPF token, but %s", id, noPolicyCRI)
	}
	w := src.workload()
	w.PrivateCgroupNamespace = privateNamespace(cfg, specs.CgroupNamespace)
	w.PrivateNetworkNamespace = privateNamespace(cfg, specs.NetworkNamespace)
	if err := pol.Check(w, *d); err != nil {
		var he *policy.HostNamespaceError
		if errors.As(err, &he) && src.podman != nil {
			he.Hint = "podman: --cgroupns=private"
			if errors.Is(err, policy.ErrHostNetworkNamespace) {
				he.Hint = "podman: a --network other than host"
			}
		}
		return fmt.Errorf("container %s: %w", id, err)
	}
	rootfs, err := h.prepare(st, cfg, id, *d)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithDeadline(context.Background(), start.Add(h.timeout))
	defer cancel()
	// A hung volume on the mount path (a FUSE daemon that stopped, an NFS
	// server gone) blocks the system call resolving it, and nothing but the
	// end of the process interrupts it: at the deadline the hook says why
	// and exits, and the runtime refuses the container. Nothing is mounted
	// then: the mount comes after every step that can block.
	watchdog := time.AfterFunc(time.Until(start.Add(h.timeout)), func() {
		h.fail(fmt.Errorf("container %s: delegated bpffs at %s: no answer within %s from the file system on the way there (a FUSE or NFS volume that hangs?): nothing was mounted; fix or remove that volume, or choose another bpf.token/path", id, spec.Echo(d.Path), h.timeout))
		h.exit(1)
	})
	defer watchdog.Stop()
	// The hook ends right after: its own thread does the work in the
	// container's mount namespace and stays there. Only logging follows.
	res, err := bpffs.ProvisionAndStay(ctx, bpffs.Target{Pid: st.Pid, Rootfs: rootfs, Delegation: *d, Expect: expectedUserNS(cfg)})
	if err != nil {
		return fmt.Errorf("container %s: delegated bpffs at %s: %w%s", id, d.Path, err, engine.Hint(err, "the hook"))
	}
	h.log.WithFields(logrus.Fields{
		"mount_id":        res.MountID,
		"options":         res.SuperOptions,
		"already_mounted": res.AlreadyMounted,
		"duration":        time.Since(start),
	}).Info("delegated bpffs mounted")
	return nil
}

// prepare warns about what would keep the container from using its token
// and returns its rootfs: what both ways of mounting need.
func (h *hook) prepare(st *specs.State, cfg *specs.Spec, id string, d spec.Delegation) (string, error) {
	warnings := remedy.CapWarnings(d, ocibundle.EffectiveCaps(cfg))
	if ocibundle.SeccompBlocksBPF(cfg) {
		warnings = append(warnings, remedy.SeccompBlocksBPF)
	}
	for _, w := range append(warnings, spec.DelegationWarnings(d)...) {
		h.warn(id, w)
	}
	if st.Pid <= 0 {
		return "", fmt.Errorf("container %s: the state on stdin has no pid: run this hook at stage createRuntime", id)
	}
	rootfs, err := ocibundle.RootPath(st.Bundle, cfg)
	if err != nil {
		return "", fmt.Errorf("container %s: %w", id, err)
	}
	return rootfs, nil
}

// rootlessPodman reports whether the hook runs in a user namespace other
// than the host's, as rootless podman runs it.
func rootlessPodman() bool {
	maps, err := procfs.ReadUIDMap(procfs.Self)
	return err == nil && !procfs.IsInitial(maps)
}

// askService has bpftokend mount the container's bpffs: it passes a pidfd
// of the container's process, which pins it, and the container's
// bpf.token/ annotations (those its image carries are already dropped) and
// rootfs. The service's policy decides; the hook's own is not read.
func (h *hook) askService(st *specs.State, cfg *specs.Spec, id string, d spec.Delegation, src *source) error {
	start := time.Now()
	rootfs, err := h.prepare(st, cfg, id, d)
	if err != nil {
		return err
	}
	pidfd, err := unix.PidfdOpen(st.Pid, 0)
	if err != nil {
		return fmt.Errorf("container %s: open pidfd of its process %d: %w: the container's process exited before the hook ran", id, st.Pid, err)
	}
	defer unix.Close(pidfd)
	ann := map[string]string{}
	for k, v := range src.ann {
		if strings.HasPrefix(k, spec.AnnotationPrefix) {
			ann[k] = v
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	resp, err := rootless.Do(ctx, h.service, rootless.Request{
		Version: rootless.Version, Op: rootless.OpMount, Container: st.ID, Rootfs: rootfs, Annotations: ann,
	}, pidfd)
	if errors.Is(err, rootless.ErrUnreachable) {
		return fmt.Errorf("container %s: rootless podman: the hook runs as your user, which cannot delegate bpf(), and asks bpftokend, but %w: ask the node's admin to install and start it (make install; systemctl enable --now bpftokend.socket; docs/rootless.md)", id, err)
	}
	if err != nil {
		return fmt.Errorf("container %s: bpftokend at %s: %w", id, h.service, err)
	}
	if resp.Error != "" {
		return fmt.Errorf("container %s: bpftokend refused: %s", id, resp.Error)
	}
	h.log.WithFields(logrus.Fields{
		"mount_id":        resp.MountID,
		"options":         resp.Options,
		"already_mounted": resp.AlreadyMounted,
		"rule":            resp.Rule,
		"duration":        time.Since(start),
	}).Info("delegated bpffs mounted by bpftokend")
	return nil
}

func (h *hook) loadPolicy() (*policy.Policy, error) {
	if h.policyFile == "" {
		return policy.LoadDefault()
	}
	return policy.Load(h.policyFile)
}

// privateNamespace reports whether config.json gives the container a
// namespace of type t of its own.
func privateNamespace(cfg *specs.Spec, t specs.LinuxNamespaceType) bool {
	for _, ns := range cfg.Linux.Namespaces {
		if ns.Type == t {
			return userns.PrivateNamespace(string(t), ns.Path)
		}
	}
	return false
}

// expectedUserNS is the user namespace config.json gives the container:
// the one it joins, or the mappings of the one the runtime makes.
func expectedUserNS(cfg *specs.Spec) userns.Expect {
	var e userns.Expect
	for _, ns := range cfg.Linux.Namespaces {
		if ns.Type == specs.UserNamespace && ns.Path != "" {
			e.Path = ns.Path
		}
	}
	if e.Path == "" {
		e.UIDMap, e.GIDMap = idMaps(cfg.Linux.UIDMappings), idMaps(cfg.Linux.GIDMappings)
	}
	return e
}

// idMaps converts config.json's mappings; none (nil) checks nothing.
func idMaps(in []specs.LinuxIDMapping) []procfs.IDMap {
	if len(in) == 0 {
		return nil
	}
	out := make([]procfs.IDMap, 0, len(in))
	for _, m := range in {
		out = append(out, procfs.IDMap{Inside: m.ContainerID, Outside: m.HostID, Count: m.Size})
	}
	return out
}
