package doctor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/bpfsys"
	"github.com/nri-bpftoken/nri-bpftoken/internal/procfs"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/bpffs"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

const (
	// standinArg is the hidden argument that makes the re-executed binary
	// the stand-in container (see IsStandin).
	standinArg = "__bpftoken-doctor-standin"
	// standinName is the stand-in's argv[0], as ps shows it.
	standinName = "bpftoken-doctor-standin"
	// standinLifetime bounds the stand-in should its doctor vanish without
	// closing its stdin.
	standinLifetime = time.Minute
	// tokenCheckTimeout bounds the whole token check.
	tokenCheckTimeout = 15 * time.Second

	// The stand-in's ids: a block of 65536 host ids above 1000000, below
	// 2^31 - 1 where podman's --userns=auto range starts by default, and
	// not used by any live user namespace or /etc/subuid entry.
	idBlock   = 65536
	idFloor   = 1000000
	idCeiling = 1<<31 - 1

	mapTypeArray = 2 // BPF_MAP_TYPE_ARRAY
)

// IsStandin reports whether args (os.Args) are those with which the token
// check re-executes the running binary as its stand-in container. A program
// that runs the checks must ask first thing in main and, when they are, exit
// with RunStandin's code: the stand-in is that program, and must not do
// whatever else it does.
func IsStandin(args []string) bool {
	return len(args) == 2 && args[1] == standinArg
}

// RunStandin is the stand-in container's whole life, on the process's
// stdin and stdout; it returns the exit code. It exits with code 3 by
// itself after standinLifetime, should its doctor vanish without closing
// its stdin.
func RunStandin() int {
	time.AfterFunc(standinLifetime, func() { os.Exit(3) })
	return standin(os.Stdin, os.Stdout)
}

// standin is the stand-in container's whole life: it waits for the path of
// its bpffs on one line of stdin, does with it what an eBPF library in a
// container does, prints "ok" or what failed, and exits.
func standin(in io.Reader, out io.Writer) int {
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil {
		return 1 // the doctor went away
	}
	fmt.Fprintln(out, probeToken(strings.TrimSuffix(line, "\n")))
	return 0
}

// probeToken creates a token from the bpffs at dir and an array map through
// it, and returns "ok" or what failed.
func probeToken(dir string) string {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Sprintf("open %s: %s", dir, bpfsys.Describe(err))
	}
	defer unix.Close(fd)
	token, err := bpfsys.TokenCreate(fd)
	if err != nil {
		return "BPF_TOKEN_CREATE: " + bpfsys.Describe(err)
	}
	defer unix.Close(token)
	m, err := bpfsys.MapCreate(token, mapTypeArray)
	if err != nil {
		return "BPF_MAP_CREATE of an array map through the token: " + bpfsys.Describe(err)
	}
	unix.Close(m)
	return "ok"
}

// probeError is a failed token check: what failed and what to do.
type probeError struct {
	what string
	err  error
	fix  string
	// notChecked: the doctor could not run the check here, which says
	// nothing against the node (a warning, not a failure).
	notChecked bool
}

func (e *probeError) Error() string {
	if e.err == nil {
		return e.what
	}
	return e.what + ": " + e.err.Error()
}

func (e *probeError) Unwrap() error { return e.err }

func checkTokens(ctx context.Context, opts Options) Result {
	if os.Geteuid() != 0 && opts.Service != "" {
		return Result{Name: CheckTokens, Verdict: OK,
			Detail: "not checked as a user: for rootless podman bpftokend makes the delegated bpffs (see the service check)"}
	}
	if os.Geteuid() != 0 {
		return Result{Name: CheckTokens, Verdict: Warn,
			Detail: "not checked: making a delegated bpffs needs root (CAP_SYS_ADMIN in the host's user namespace), as the hook and the plugin run",
			Fix:    "run the doctor as root"}
	}
	ctx, cancel := context.WithTimeout(ctx, tokenCheckTimeout)
	defer cancel()
	got, err := runTokenProbe(ctx, opts.TempDir)
	if err != nil {
		var pe *probeError
		fix := "see the detail: the hook and the plugin would fail the same way for real containers"
		if errors.As(err, &pe) && pe.fix != "" {
			fix = pe.fix
		}
		if pe != nil && pe.notChecked {
			return Result{Name: CheckTokens, Verdict: Warn, Detail: "not checked: stand-in container: " + err.Error(), Fix: fix}
		}
		return Result{Name: CheckTokens, Verdict: Fail, Detail: "stand-in container: " + err.Error(), Fix: fix}
	}
	return Result{Name: CheckTokens, Verdict: OK,
		Detail: fmt.Sprintf("a stand-in container (new user namespace, root = host uid %d; new mount namespace) got a delegated bpffs (%s) and created a BPF token and an array map through it",
			got.base, got.options)}
}

type probeResult struct {
	base    int    // host uid and gid of the stand-in's root
	options string // the bpffs's super options
}

// runTokenProbe runs the stand-in container through the whole story and
// cleans up after it: the stand-in killed and reaped (its mount namespace,
// and the bpffs in it, die with it), then its rootfs removed.
func runTokenProbe(ctx context.Context, tempDir string) (*probeResult, error) {
	// The least that lets the stand-in prove a token works.
	d, err := spec.ParseAnnotations(map[string]string{
		spec.AnnotationCmds: "map_create",
		spec.AnnotationMaps: "array",
	})
	if err != nil || d == nil {
		return nil, &probeError{what: "internal error: probe delegation", err: err}
	}
	base, err := pickIDBlock()
	if err != nil {
		return nil, &probeError{what: "choose host ids", err: err, notChecked: true}
	}
	parent, err := searchableDir(tempDir)
	if err != nil {
		return nil, &probeError{what: "temporary directory", err: err, notChecked: true,
			fix: "set TMPDIR to a directory that every user may search"}
	}
	rootfs, err := os.MkdirTemp(parent, "bpftoken-doctor-")
	if err != nil {
		return nil, &probeError{what: "make the stand-in's rootfs", err: err}
	}
	// Runs last: after the stand-in is gone, and its mount with it.
	defer os.RemoveAll(rootfs)
	// The container's root owns its rootfs, as under a real runtime.
	if err := os.Chown(rootfs, base, base); err != nil {
		return nil, &probeError{what: "chown the stand-in's rootfs", err: err}
	}

	s, err := startStandin(base)
	if err != nil {
		return nil, err
	}
	defer s.stop()

	res, err := bpffs.Provision(ctx, bpffs.Target{Pid: s.proc.Pid, Rootfs: rootfs, Delegation: *d})
	if err != nil {
		pe := &probeError{what: "mount a delegated bpffs for it", err: err}
		if errors.Is(err, bpffs.ErrNoTokenSupport) {
			pe.fix = "boot Linux >= 6.9 built with CONFIG_BPF_SYSCALL"
		}
		return nil, pe
	}
	path := filepath.Join(rootfs, d.Path)
	if _, err := io.WriteString(s.stdin, path+"\n"); err != nil {
		return nil, &probeError{what: "the stand-in died before its probe", err: errors.New(s.output(ctx))}
	}
	out := s.output(ctx)
	first, _, _ := strings.Cut(out, "\n")
	if first == "ok" {
		return &probeResult{base: base, options: res.SuperOptions}, nil
	}
	if ctx.Err() != nil && out == "" {
		out = "no answer: " + ctx.Err().Error()
	}
	pe := &probeError{what: "in its user namespace, with the bpffs at " + path, err: errors.New(clip(out, 400))}
	switch {
	case strings.Contains(out, "EOPNOTSUPP"):
		pe.fix = "the kernel refuses tokens: a kernel in lockdown (see the lockdown check) or without token support (Linux >= 6.9)"
	case strings.Contains(out, "EPERM") || strings.Contains(out, "EACCES"):
		pe.fix = "a security module (SELinux, AppArmor, BPF LSM) or lockdown refuses it: look for denials in the audit log or dmesg"
	}
	return nil, pe
}

// standinProc is a running stand-in container.
type standinProc struct {
	proc  *os.Process
	stdin *os.File // write end of its stdin
	out   *os.File // read end of its stdout and stderr
	read  chan string
}

// startStandin re-executes this binary as the stand-in, in a new user
// namespace whose root is host uid and gid base, and a new mount namespace
// owned by it (its mounts are thus slaves of the host's: nothing mounted in
// there can propagate back).
func startStandin(base int) (*standinProc, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, &probeError{what: "pipe", err: err}
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, &probeError{what: "pipe", err: err}
	}
	ids := []syscall.SysProcIDMap{{ContainerID: 0, HostID: base, Size: idBlock}}
	proc, err := os.StartProcess("/proc/self/exe", []string{standinName, standinArg}, &os.ProcAttr{
		Env:   []string{},
		Files: []*os.File{inR, outW, outW},
		Sys: &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
			UidMappings: ids,
			GidMappings: ids,
			Credential:  &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true},
			// No Pdeathsig: it follows the thread that forked, and
			// pkg/userns ends threads on purpose. The stand-in exits when
			// its stdin closes instead.
		},
	})
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		pe := &probeError{what: "start it in a new user and mount namespace", err: err,
			fix: "root must be able to create user namespaces: see the userns check"}
		switch {
		case errors.Is(err, unix.ENOSPC):
			pe.fix = "the user namespace limit is reached: raise user.max_user_namespaces"
		case errors.Is(err, unix.EACCES):
			// The hook and the plugin run as root and need no such thing:
			// only the doctor's stand-in is stopped.
			pe.notChecked = true
			pe.fix = fmt.Sprintf("the stand-in (this binary, re-executed as host uid %d) may not execute it: to run this check, make the binary executable by other users (chmod o+rx)", base)
		}
		return nil, pe
	}
	s := &standinProc{proc: proc, stdin: inW, out: outR, read: make(chan string, 1)}
	go func() {
		data, _ := io.ReadAll(io.LimitReader(outR, 64<<10))
		s.read <- strings.TrimSpace(string(data))
	}()
	return s, nil
}

// output waits until the stand-in has said everything (it exits after its
// answer), or ctx ends.
func (s *standinProc) output(ctx context.Context) string {
	select {
	case out := <-s.read:
		s.read <- out
		return out
	case <-ctx.Done():
		s.proc.Kill()
		out := <-s.read
		s.read <- out
		return out
	}
}

// stop kills and reaps the stand-in and closes the pipes.
func (s *standinProc) stop() {
	s.stdin.Close()
	s.proc.Kill()
	s.proc.Wait()
	<-s.read // the reader is done once the stand-in is gone
	s.out.Close()
}

// pickIDBlock chooses the stand-in's host ids at random among the blocks
// that no live user namespace and no /etc/subuid or /etc/subgid entry uses.
func pickIDBlock() (int, error) {
	used := usedIDRanges()
	blocks := (idCeiling - idFloor) / idBlock
	for range 200 {
		base := idFloor + rand.IntN(blocks)*idBlock
		free := true
		for _, r := range used {
			if base < r[1] && r[0] < base+idBlock {
				free = false
				break
			}
		}
		if free {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no free block of %d ids between %d and %d", idBlock, idFloor, idCeiling)
}

// usedIDRanges returns the host id ranges [start, end) that live user
// namespaces map and that /etc/subuid and /etc/subgid hand out.
func usedIDRanges() [][2]int {
	var used [][2]int
	add := func(start, count uint64) {
		if count == 0 || start >= idCeiling || start+count <= idFloor {
			return
		}
		used = append(used, [2]int{int(start), int(min(start+count, idCeiling))})
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		for _, read := range []func(int) ([]procfs.IDMap, error){procfs.ReadUIDMap, procfs.ReadGIDMap} {
			maps, err := read(pid)
			// The initial user namespace maps every id to itself.
			if err != nil || procfs.IsInitial(maps) {
				continue
			}
			for _, m := range maps {
				add(uint64(m.Outside), uint64(m.Count))
			}
		}
	}
	for _, file := range []string{"/etc/subuid", "/etc/subgid"} {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Split(strings.TrimSpace(line), ":")
			if len(f) != 3 {
				continue
			}
			start, err1 := strconv.ParseUint(f[1], 10, 32)
			count, err2 := strconv.ParseUint(f[2], 10, 32)
			if err1 == nil && err2 == nil {
				add(start, count)
			}
		}
	}
	return used
}

// searchableDir returns the first of preferred (empty: os.TempDir()),
// /tmp, /var/tmp and /dev/shm that every user may reach: the stand-in
// resolves the path to its bpffs as an unprivileged host uid.
func searchableDir(preferred string) (string, error) {
	if preferred == "" {
		preferred = os.TempDir()
	}
	var tried []string
	for _, dir := range []string{preferred, "/tmp", "/var/tmp", "/dev/shm"} {
		real, err := filepath.EvalSymlinks(dir)
		if err == nil {
			real, err = filepath.Abs(real)
		}
		if err == nil {
			err = searchableByOthers(real)
		}
		if err == nil {
			return real, nil
		}
		tried = append(tried, fmt.Sprintf("%s: %v", dir, err))
	}
	return "", fmt.Errorf("no directory that every user may search (%s)", strings.Join(tried, "; "))
}

func searchableByOthers(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			return fmt.Errorf("%s is not a directory", d)
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s is not searchable by other users (mode %v)", d, st.Mode().Perm())
		}
		if d == "/" {
			return nil
		}
	}
}

// clip shortens s to n bytes at most, on one line.
func clip(s string, n int) string {
	s = spec.OneLine(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
