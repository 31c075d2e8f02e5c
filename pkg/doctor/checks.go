package doctor

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/mountinfo"
	"github.com/nri-bpftoken/nri-bpftoken/internal/procfs"
)

// Token support arrived in Linux 6.9.
const minMajor, minMinor = 6, 9

func checkKernel() Result {
	release, err := procfs.KernelRelease()
	if err != nil {
		return Result{Name: CheckKernel, Verdict: Warn,
			Detail: err.Error(),
			Fix:    "check the kernel version by hand: BPF tokens need Linux >= 6.9"}
	}
	return kernelVerdict(release)
}

func kernelVerdict(release string) Result {
	_, _, ok := procfs.ParseKernelVersion(release)
	switch {
	case !ok:
		return Result{Name: CheckKernel, Verdict: Warn,
			Detail: fmt.Sprintf("cannot read a version from kernel release %q", release),
			Fix:    "check the kernel version by hand: BPF tokens need Linux >= 6.9 (the tokens check below tries them for real)"}
	case procfs.KernelAtLeast(release, minMajor, minMinor):
		return Result{Name: CheckKernel, Verdict: OK,
			Detail: fmt.Sprintf("Linux %s (BPF tokens need >= %d.%d)", release, minMajor, minMinor)}
	default:
		return Result{Name: CheckKernel, Verdict: Fail,
			Detail: fmt.Sprintf("Linux %s has no BPF tokens: they arrived in %d.%d (a bpffs there ignores delegate_* options)", release, minMajor, minMinor),
			Fix:    fmt.Sprintf("boot a kernel >= %d.%d built with CONFIG_BPF_SYSCALL", minMajor, minMinor)}
	}
}

const vmlinuxBTF = "/sys/kernel/btf/vmlinux"

func checkBTF() Result {
	_, err := os.Stat(vmlinuxBTF)
	return btfVerdict(err)
}

func btfVerdict(statErr error) Result {
	if statErr == nil {
		return Result{Name: CheckBTF, Verdict: OK,
			Detail: vmlinuxBTF + " present: the kernel shows delegate_* options by name"}
	}
	detail := fmt.Sprintf("no kernel BTF (%v): the kernel shows delegate_* options as numbers only and accepts no names in them; "+
		"delegation still works (the hook and the plugin send hex masks), but eBPF programs in containers that rely on kernel BTF (CO-RE) will not load", statErr)
	if !errors.Is(statErr, os.ErrNotExist) {
		detail = fmt.Sprintf("cannot stat %s: %v", vmlinuxBTF, statErr)
	}
	return Result{Name: CheckBTF, Verdict: Warn, Detail: detail,
		Fix: "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distribution kernels are)"}
}

func checkLockdown(tokens Verdict) Result {
	content, err := procfs.ReadLockdown()
	if err == nil {
		mode, ok := procfs.ParseLockdown(content)
		if !ok {
			return Result{Name: CheckLockdown, Verdict: Warn,
				Detail: fmt.Sprintf("cannot read the lockdown mode from %s (%q)", procfs.LockdownFile, content),
				Fix:    "check the lockdown mode by hand: integrity or confidentiality mode restricts bpf()"}
		}
		return lockdownVerdict(mode, procfs.LockdownFile, tokens)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return Result{Name: CheckLockdown, Verdict: Warn,
			Detail: fmt.Sprintf("read %s: %v", procfs.LockdownFile, err),
			Fix:    "run the doctor as root, or check the lockdown mode by hand"}
	}
	if mounted, _ := isMountPoint(procfs.SecurityFSDir, "securityfs"); mounted {
		return Result{Name: CheckLockdown, Verdict: OK,
			Detail: "no " + procfs.LockdownFile + ": the kernel has no lockdown LSM"}
	}
	// Without securityfs the mode cannot be read; the command line is the
	// next best witness (Secure Boot may still lock a kernel down by itself).
	if mode, err := procfs.BootLockdown(); err == nil && mode != "" {
		return lockdownVerdict(mode, "lockdown= on /proc/cmdline", tokens)
	}
	return Result{Name: CheckLockdown, Verdict: OK,
		Detail: "no " + procfs.LockdownFile + " (securityfs is not mounted at " + procfs.SecurityFSDir + ") and no lockdown= on the kernel command line"}
}

// lockdownVerdict judges lockdown mode (read from source) knowing the
// verdict of the token check: whether lockdown stops BPF tokens differs
// between kernels (distribution kernels are reported to refuse
// BPF_TOKEN_CREATE in integrity mode; mainline does not), so a token made
// on this very kernel is the better witness.
func lockdownVerdict(mode, source string, tokens Verdict) Result {
	if mode == "none" {
		return Result{Name: CheckLockdown, Verdict: OK, Detail: "lockdown mode none (" + source + ")"}
	}
	blocks := "programs may not use bpf_probe_write_user"
	if mode == "confidentiality" {
		blocks = "programs may not read kernel memory (bpf_probe_read_kernel and the tracing helpers built on it) nor use bpf_probe_write_user"
	}
	fix := "boot with lockdown=none if containers need that (with Secure Boot, the kernel may lock itself down: see mokutil --sb-state)"
	if tokens == OK {
		return Result{Name: CheckLockdown, Verdict: Warn,
			Detail: fmt.Sprintf("kernel lockdown mode %s (%s): BPF tokens work here (the tokens check passed), but whatever a token delegates, %s", mode, source, blocks),
			Fix:    fix}
	}
	return Result{Name: CheckLockdown, Verdict: Fail,
		Detail: fmt.Sprintf("kernel lockdown mode %s (%s): kernels in lockdown are reported to refuse BPF_TOKEN_CREATE (EOPNOTSUPP), and the tokens check did not pass; besides, %s", mode, source, blocks),
		Fix:    "boot with lockdown=none, or turn off Secure Boot's automatic lockdown, then run the doctor again as root"}
}

// isMountPoint reports whether path is a mount point of fstype in this
// process's mount namespace.
func isMountPoint(path, fstype string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	defer f.Close()
	mounts, err := mountinfo.Parse(f)
	if err != nil {
		return false, err
	}
	for _, m := range mounts {
		if m.MountPoint == path && m.FSType == fstype {
			return true, nil
		}
	}
	return false, nil
}

// usernsState is what the userns check reads; an empty string means the
// file does not exist.
type usernsState struct {
	haveUserNS       bool   // /proc/self/ns/user exists (CONFIG_USER_NS)
	maxUserNS        string // user.max_user_namespaces
	unprivClone      string // kernel.unprivileged_userns_clone (Debian, Ubuntu)
	apparmorRestrict string // kernel.apparmor_restrict_unprivileged_userns (Ubuntu)
	unprivBPF        string // kernel.unprivileged_bpf_disabled
}

// sysctl returns the value of sysctl name; "" when it does not exist.
func sysctl(name string) string {
	v, _ := procfs.Sysctl(name)
	return v
}

func checkUserNS() Result {
	_, err := os.Stat("/proc/self/ns/user")
	return usernsVerdict(usernsState{
		haveUserNS:       err == nil,
		maxUserNS:        sysctl("user.max_user_namespaces"),
		unprivClone:      sysctl("kernel.unprivileged_userns_clone"),
		apparmorRestrict: sysctl("kernel.apparmor_restrict_unprivileged_userns"),
		unprivBPF:        sysctl("kernel.unprivileged_bpf_disabled"),
	})
}

func usernsVerdict(s usernsState) Result {
	if !s.haveUserNS {
		return Result{Name: CheckUserNS, Verdict: Fail,
			Detail: "the kernel has no user namespaces (no /proc/self/ns/user): a token exists only inside one",
			Fix:    "boot a kernel built with CONFIG_USER_NS=y"}
	}
	if s.maxUserNS == "0" {
		return Result{Name: CheckUserNS, Verdict: Fail,
			Detail: "user namespaces are disabled (user.max_user_namespaces=0): containers cannot have a user namespace of their own, and a token exists only inside one",
			Fix:    "set user.max_user_namespaces to a positive value (sysctl -w user.max_user_namespaces=15000) and make it last in /etc/sysctl.d/"}
	}
	var notes []string
	if s.maxUserNS != "" {
		notes = append(notes, "user.max_user_namespaces="+s.maxUserNS)
	}
	if s.unprivClone != "" {
		n := "kernel.unprivileged_userns_clone=" + s.unprivClone
		if s.unprivClone == "0" {
			n += " (only unprivileged users are refused; runtimes create user namespaces as root)"
		}
		notes = append(notes, n)
	}
	if s.apparmorRestrict != "" {
		n := "kernel.apparmor_restrict_unprivileged_userns=" + s.apparmorRestrict
		if s.apparmorRestrict != "0" {
			n += " (restricts unprivileged users only; rootful runtimes are not affected)"
		}
		notes = append(notes, n)
	}
	switch s.unprivBPF {
	case "":
	case "0":
		notes = append(notes, "kernel.unprivileged_bpf_disabled=0 (unprivileged users may run some bpf() commands without a token; a token gives containers what CAP_BPF allows)")
	case "1":
		notes = append(notes, "kernel.unprivileged_bpf_disabled=1 (bpf() needs CAP_BPF in the host's user namespace, until reboot: tokens are the way for containers)")
	case "2":
		notes = append(notes, "kernel.unprivileged_bpf_disabled=2 (bpf() needs CAP_BPF in the host's user namespace: tokens are the way for containers)")
	default:
		notes = append(notes, "kernel.unprivileged_bpf_disabled="+s.unprivBPF)
	}
	detail := "user namespaces available"
	if len(notes) > 0 {
		detail += ": " + strings.Join(notes, "; ")
	}
	return Result{Name: CheckUserNS, Verdict: OK, Detail: detail}
}

// nriConfigExample is the snippet that enables NRI in containerd.
const nriConfigExample = "examples/nri/containerd-config.toml"

// checkNRI connects to the NRI socket and hangs up. A plain connect says
// what matters (a runtime with NRI enabled listens there) without pulling
// the NRI client into the check; the runtime sees a plugin that left before
// registering.
func checkNRI(path string) Result {
	fix := fmt.Sprintf("enable NRI in the runtime and restart it (containerd 2.x: see %s; CRI-O: examples/nri/crio.conf), or pass -socket-path with the runtime's NRI socket", nriConfigExample)
	err := dialUnix(path)
	switch {
	case err == nil:
		return Result{Name: CheckNRI, Verdict: OK,
			Detail: "a runtime accepts NRI connections on " + path}
	case errors.Is(err, unix.EAGAIN):
		return Result{Name: CheckNRI, Verdict: OK,
			Detail: "a runtime listens for NRI connections on " + path + " (its backlog is full right now)"}
	case errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM):
		return Result{Name: CheckNRI, Verdict: Fail,
			Detail: fmt.Sprintf("connect to %s: %v", path, err),
			Fix:    "run the doctor (and the plugin) as root"}
	default:
		return Result{Name: CheckNRI, Verdict: Fail,
			Detail: fmt.Sprintf("connect to %s: %v: no runtime with NRI enabled is listening there", path, err),
			Fix:    fix}
	}
}

func dialUnix(path string) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Connect(fd, &unix.SockaddrUnix{Name: path})
}
