package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/procfs"
	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/rootless"
)

// benchUID is the host user the rootless variant's stand-ins belong to.
const benchUID = 4242901

// runRootless times one bpftokend request (a rootless hook's mount, from
// connect to answer) against the C baseline run as a process on the same
// kind of target: a stand-in container in a user and mount namespace that
// an unprivileged user made, as rootless podman's are.
func runRootless(bpftokend, delegate string, n int, goal float64) error {
	work, err := os.MkdirTemp("", "bpftoken-bench-rootless-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := os.Chmod(work, 0o755); err != nil {
		return err
	}
	pol := filepath.Join(work, "policy.yaml")
	if err := os.WriteFile(pol, []byte(fmt.Sprintf("rules:\n  - name: bench\n    match: {users: [\"%d\"]}\n    allow: {cmds: %s, maps: %s, progs: %s, attachs: %s}\n", benchUID, cmds, maps, progs, attachs)), 0o644); err != nil {
		return err
	}
	socket := filepath.Join(work, "bpftokend.sock")
	svc := exec.Command(bpftokend, "--listen", socket, "--policy", pol, "--log-level", "error")
	svc.Stderr = os.Stderr
	if err := svc.Start(); err != nil {
		return err
	}
	defer func() {
		svc.Process.Signal(syscall.SIGTERM)
		svc.Wait()
	}()
	for range 200 {
		if _, err := os.Stat(socket); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ann := map[string]string{"bpf.token/cmds": cmds, "bpf.token/maps": maps, "bpf.token/progs": progs, "bpf.token/attachs": attachs}
	var service, baseline []time.Duration
	for i := range n {
		for v := range 2 {
			rootfs := filepath.Join(work, fmt.Sprintf("%d-%d", i, v))
			if err := os.MkdirAll(filepath.Join(rootfs, "sys/fs/bpf"), 0o755); err != nil {
				return err
			}
			if err := os.Chown(rootfs, benchUID, benchUID); err != nil {
				return err
			}
			c, err := startUsers(benchUID)
			if err != nil {
				return err
			}
			start := time.Now()
			if v == 0 {
				err = askAs(socket, benchUID, c.Process.Pid, rootfs, ann)
				service = append(service, time.Since(start))
			} else {
				err = exec.Command(delegate, strconv.Itoa(c.Process.Pid), filepath.Join(rootfs, "sys/fs/bpf"), cmds, maps, progs, attachs).Run()
				baseline = append(baseline, time.Since(start))
			}
			c.Process.Kill()
			c.Wait()
			if err != nil {
				return fmt.Errorf("rootless variant %d: %w", v, err)
			}
		}
	}
	compare(fmt.Sprintf("bpftokend: one rootless mount request (connect to answer) against a user's stand-in container, %d containers", n),
		baseline, "bpftokend request", service, "bpftokend", goal)
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", svc.Process.Pid)); err == nil {
		rss, _ := procfs.Field(string(status), "VmRSS")
		hwm, _ := procfs.Field(string(status), "VmHWM")
		fmt.Printf("bpftokend resident size after %d requests: %s (peak %s)\n", n, rss, hwm)
	}
	return nil
}

// startUsers starts sleep in a user and mount namespace that host uid
// made (unshare --map-root-user), and returns once they exist.
func startUsers(uid uint32) (*exec.Cmd, error) {
	cmd := exec.Command("unshare", "--user", "--map-root-user", "--mount", "sleep", "600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid)); string(comm) == "sleep\n" {
			return cmd, nil
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, fmt.Errorf("stand-in of uid %d did not start", uid)
}

// askAs sends the mount request for pid as host uid.
func askAs(socket string, uid uint32, pid int, rootfs string, ann map[string]string) error {
	conn, err := testenv.DialAs(socket, uid)
	if err != nil {
		return err
	}
	defer conn.Close()
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return err
	}
	defer unix.Close(pidfd)
	data, err := rootless.EncodeRequest(rootless.Request{Version: rootless.Version, Op: rootless.OpMount, Container: "bench", Rootfs: rootfs, Annotations: ann})
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := conn.WriteMsgUnix(data, unix.UnixRights(pidfd), nil); err != nil {
		return err
	}
	buf := make([]byte, rootless.MaxMessage)
	m, err := conn.Read(buf)
	if err != nil {
		return err
	}
	resp, err := rootless.DecodeResponse(buf[:m])
	if err != nil {
		return err
	}
	if resp.Error != "" {
		return fmt.Errorf("refused: %s", resp.Error)
	}
	return nil
}
