package procfs

import (
	"os"
	"strings"
)

const (
	// SecurityFSDir is where securityfs, which shows LockdownFile, is
	// mounted.
	SecurityFSDir = "/sys/kernel/security"
	// LockdownFile lists the lockdown modes with the active one in
	// brackets ("none [integrity] confidentiality"). It exists when the
	// kernel has the lockdown LSM and securityfs is mounted.
	LockdownFile = SecurityFSDir + "/lockdown"
)

// ReadLockdown returns the content of LockdownFile, trimmed; the error is
// the read's (an os.ErrNotExist one when the file is absent).
func ReadLockdown() (string, error) {
	data, err := os.ReadFile(LockdownFile)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// ParseLockdown returns the selected mode of a lockdown file such as
// "none [integrity] confidentiality".
func ParseLockdown(content string) (string, bool) {
	for _, f := range strings.Fields(content) {
		if strings.HasPrefix(f, "[") && strings.HasSuffix(f, "]") && len(f) > 2 {
			mode := f[1 : len(f)-1]
			switch mode {
			case "none", "integrity", "confidentiality":
				return mode, true
			}
			return "", false
		}
	}
	return "", false
}

// BootLockdown returns the lockdown mode that lockdown= on the kernel
// command line (/proc/cmdline) asks for, as CmdlineLockdown reads it.
func BootLockdown() (string, error) {
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return "", err
	}
	return CmdlineLockdown(string(cmdline)), nil
}

// CmdlineLockdown returns the value of lockdown= on a kernel command line,
// "integrity" or "confidentiality"; "" for none or no valid one.
func CmdlineLockdown(cmdline string) string {
	mode := ""
	for _, f := range strings.Fields(cmdline) {
		if f == "--" {
			break // what follows belongs to init
		}
		if v, ok := strings.CutPrefix(f, "lockdown="); ok {
			mode = v // the last one wins, as in the kernel
		}
	}
	switch mode {
	case "integrity", "confidentiality":
		return mode
	}
	return ""
}
