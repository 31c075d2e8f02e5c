package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// ownCgroup2Dir returns the directory of the process's cgroup v2, as seen
// through the cgroup2 mounts of its mount namespace.
func ownCgroup2Dir() (string, error) {
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", step("find cgroup", err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", step("find cgroup", err)
	}
	dir, err := cgroup2Dir(string(cg), string(mi), holdsPid(os.Getpid()))
	return dir, step("find cgroup", err)
}

// holdsPid returns a function reporting whether a cgroup directory's
// cgroup.procs lists pid.
func holdsPid(pid int) func(dir string) bool {
	want := strconv.Itoa(pid)
	return func(dir string) bool {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			return false
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l == want {
				return true
			}
		}
		return false
	}
}

// cgroup2Dir finds the process's cgroup v2 directory from /proc/self/cgroup
// (its "0::PATH" line) and /proc/self/mountinfo.
//
// PATH and the mount roots (field 4) are relative to the process's cgroup
// namespace. Among the cgroup2 mounts whose root contains PATH, the one with
// the longest root wins, so that a bind mount of a subtree works as well as a
// mount of the whole hierarchy. A mount whose root is above the namespace's
// root ("/..", "/../..": a container with a cgroup namespace of its own and a
// bind mount of its parent's directory, as the podman tests give it on a host
// with hybrid cgroups) does not tell the names in between: then the
// directories that many levels below the mount are tried, and the one whose
// cgroup.procs lists the process (self) is it.
func cgroup2Dir(procCgroup, mountinfo string, self func(dir string) bool) (string, error) {
	var path string
	found := false
	for _, line := range strings.Split(procCgroup, "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			path, found = p, true
			break
		}
	}
	if !found {
		return "", errors.New(`no cgroup v2 ("0::" line) in /proc/self/cgroup`)
	}
	if !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("cgroup v2 path %q is not absolute", path)
	}
	best, bestRoot := "", ""
	var above []string // mount points of mounts rooted above the namespace root, as globs
	mounts := 0
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(f) || f[sep+1] != "cgroup2" {
			continue
		}
		mounts++
		root, mnt := unescapeMountinfo(f[3]), strings.TrimSuffix(unescapeMountinfo(f[4]), "/")
		if up := upLevels(root); up > 0 {
			above = append(above, mnt+strings.Repeat("/*", up)+trimRoot(path))
			continue
		}
		rel, ok := under(path, root)
		if !ok || (best != "" && len(root) <= len(bestRoot)) {
			continue
		}
		best, bestRoot = mnt+rel, root
		if best == "" {
			best = "/"
		}
	}
	if best != "" {
		return best, nil
	}
	for _, pattern := range above {
		dirs, _ := filepath.Glob(pattern)
		for _, d := range dirs {
			if self(d) {
				return d, nil
			}
		}
	}
	if mounts == 0 {
		return "", fmt.Errorf("cgroup v2 %s: no cgroup2 mount in /proc/self/mountinfo (pass -cgroup DIR)", path)
	}
	return "", fmt.Errorf("cgroup v2 %s: not under any cgroup2 mount in /proc/self/mountinfo (pass -cgroup DIR)", path)
}

// upLevels is k for a root of k ".." components ("/..", "/../.."), else 0.
func upLevels(root string) int {
	k := 0
	for _, c := range strings.Split(strings.TrimPrefix(root, "/"), "/") {
		if c != ".." {
			return 0
		}
		k++
	}
	return k
}

// trimRoot is path without a trailing "/" ("" for "/").
func trimRoot(path string) string { return strings.TrimSuffix(path, "/") }

// under reports whether path is root or below it, and the rest of path
// ("" or "/...").
func under(path, root string) (string, bool) {
	if root == "/" {
		return trimRoot(path), true
	}
	if path == root {
		return "", true
	}
	if rest, ok := strings.CutPrefix(path, root); ok && strings.HasPrefix(rest, "/") {
		return rest, true
	}
	return "", false
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space...).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// cgroupFlag resolves the -cgroup flag: the given directory, or the
// process's own cgroup v2.
func cgroupFlag(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	return ownCgroup2Dir()
}

func runCgroupSKB(fs *flag.FlagSet, args []string) (string, error) {
	packets := fs.Int("packets", 10, "datagrams to send")
	cgroupDir := fs.String("cgroup", "", "cgroup v2 `directory` to attach to (default: the process's own)")
	if err := parse(fs, args, 0); err != nil {
		return "", err
	}
	dir, err := cgroupFlag(*cgroupDir)
	if err != nil {
		return "", err
	}
	// The socket first: the programs count the datagrams to its port.
	conn, port, err := listenUDP(0)
	if err != nil {
		return "", err
	}
	defer conn.Close()

	dirs := []struct {
		name   string
		attach ebpf.AttachType
		m      *ebpf.Map
	}{
		{"ingress", ebpf.AttachCGroupInetIngress, nil},
		{"egress", ebpf.AttachCGroupInetEgress, nil},
	}
	for i := range dirs {
		d := &dirs[i]
		if d.m, err = newCounters("wl_cg_"+d.name, 1); err != nil {
			return "", err
		}
		defer d.m.Close()
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name:         "wl_cg_" + d.name,
			Type:         ebpf.CGroupSKB,
			AttachType:   d.attach,
			License:      "Apache-2.0",
			Instructions: udpToPort(d.m, skbData, skbDataEnd, 0, port, 1, 1), // 1: let it pass
		})
		if err != nil {
			return "", step("load program", err)
		}
		defer prog.Close()
		l, err := link.AttachCgroup(link.CgroupOptions{Path: dir, Attach: d.attach, Program: prog})
		if err != nil {
			return "", step("attach (BPF_LINK_CREATE)", err)
		}
		defer l.Close()
	}

	n, err := sendAndCount(conn, *packets, "ingress and egress", dirs[0].m, dirs[1].m)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("cgroup %s: counted %d ingress and %d egress datagrams to 127.0.0.1:%d", dir, n[0], n[1], port), nil
}

func runConnectDeny(fs *flag.FlagSet, args []string) (string, error) {
	port := fs.Uint("port", 9, "TCP/UDP `port` whose connect() is refused")
	tries := fs.Int("tries", 3, "connect() attempts to the refused port")
	cgroupDir := fs.String("cgroup", "", "cgroup v2 `directory` to attach to (default: the process's own)")
	if err := parse(fs, args, 0); err != nil {
		return "", err
	}
	if *port == 0 || *port > 65535 {
		fmt.Fprintln(fs.Output(), "-port must be 1..65535")
		return "", errUsage
	}
	dir, err := cgroupFlag(*cgroupDir)
	if err != nil {
		return "", err
	}
	denied, err := newCounters("wl_connect", 1)
	if err != nil {
		return "", err
	}
	defer denied.Close()
	insns := asm.Instructions{
		// ctx->user_port (network byte order in the low 16 bits)
		asm.LoadMem(asm.R2, asm.R1, 24, asm.Word),
		asm.JNE.Imm(asm.R2, int32(be16(uint16(*port))), "allow"),
	}
	insns = append(insns, count(denied, 0, "deny")...)
	insns = append(insns,
		asm.Mov.Imm(asm.R0, 0).WithSymbol("deny"), // 0: connect() fails with EPERM
		asm.Return(),
		asm.Mov.Imm(asm.R0, 1).WithSymbol("allow"),
		asm.Return(),
	)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "wl_connect",
		Type:         ebpf.CGroupSockAddr,
		AttachType:   ebpf.AttachCGroupInet4Connect,
		License:      "Apache-2.0",
		Instructions: insns,
	})
	if err != nil {
		return "", step("load program", err)
	}
	defer prog.Close()
	l, err := link.AttachCgroup(link.CgroupOptions{Path: dir, Attach: ebpf.AttachCGroupInet4Connect, Program: prog})
	if err != nil {
		return "", step("attach (BPF_LINK_CREATE)", err)
	}
	defer l.Close()

	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return "", step("listen", err)
	}
	defer ln.Close()
	if uint(ln.Addr().(*net.TCPAddr).Port) == *port {
		return "", step("listen", fmt.Errorf("the listener got the refused port %d", *port))
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	target := fmt.Sprintf("127.0.0.1:%d", *port)
	for i := 0; i < *tries; i++ {
		c, err := d.Dial("tcp4", target)
		if err == nil {
			c.Close()
			return "", step("check", fmt.Errorf("connect() to %s succeeded (attempt %d)", target, i+1))
		}
		if !errors.Is(err, unix.EPERM) {
			return "", step("check", fmt.Errorf("connect() to %s: want EPERM, got %w", target, err))
		}
	}
	c, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		return "", step("connect to the listener", err)
	}
	c.Close()
	n, err := counter(denied, 0)
	if err != nil {
		return "", err
	}
	if n != uint64(*tries) {
		return "", step("check", fmt.Errorf("%d connect() refused, the program counted %d", *tries, n))
	}
	return fmt.Sprintf("cgroup %s: connect() to %s refused %d of %d times (EPERM), program counted %d; connect() to %s succeeded",
		dir, target, *tries, *tries, n, ln.Addr()), nil
}
