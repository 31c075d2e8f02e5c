package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/nri-bpftoken/nri-bpftoken/internal/testenv"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/bpffs"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// runPlugin times what the NRI plugin does at StartContainer (bpffs.Provision
// against a started container, after pivot_root) in-process, against the C
// baseline run as a process on the same kind of target.
func runPlugin(standinBin, delegate string, n int, goal float64) error {
	work, err := os.MkdirTemp("", "bpftoken-bench-plugin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := os.Chmod(work, 0o755); err != nil {
		return err
	}
	d := spec.Delegation{Path: "/sys/fs/bpf"}
	for _, kv := range [][2]string{{spec.AnnotationCmds, cmds}, {spec.AnnotationMaps, maps}, {spec.AnnotationProgs, progs}, {spec.AnnotationAttachs, attachs}} {
		parsed, err := spec.ParseAnnotations(map[string]string{kv[0]: kv[1]})
		if err != nil {
			return err
		}
		for _, k := range spec.Kinds {
			if m := parsed.Masks[k]; m != 0 {
				d.Masks[k] = m
			}
		}
	}
	var plugin, baseline []time.Duration
	for i := range n {
		for v := range 2 {
			c, err := startPivoted(standinBin, filepath.Join(work, fmt.Sprintf("%d-%d", i, v)))
			if err != nil {
				return err
			}
			start := time.Now()
			if v == 0 {
				_, err = bpffs.Provision(context.Background(), bpffs.Target{Pid: c.Process.Pid, Rootfs: "/", Delegation: d})
				plugin = append(plugin, time.Since(start))
			} else {
				err = exec.Command(delegate, strconv.Itoa(c.Process.Pid), "/sys/fs/bpf", cmds, maps, progs, attachs).Run()
				baseline = append(baseline, time.Since(start))
			}
			c.Process.Kill()
			c.Wait()
			if err != nil {
				return fmt.Errorf("variant %d: %w", v, err)
			}
		}
	}
	compare(fmt.Sprintf("NRI plugin StartContainer work (bpffs.Provision in-process, container after pivot_root), %d containers", n),
		baseline, "plugin StartContainer", plugin, "plugin", goal)
	return nil
}

// startPivoted starts the stand-in in a new user (0 -> 100000) and mount
// namespace, pivoted into a rootfs that has /sys/fs/bpf.
func startPivoted(standinBin, dir string) (*exec.Cmd, error) {
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "sys/fs/bpf"), 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.Command(standinBin, "-pivot", rootfs)
	cmd.SysProcAttr = testenv.ContainerProcAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	_ = stdin // closed when the process is killed; keeps the stand-in waiting
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("pivoting stand-in not ready: %q %v", line, err)
	}
	return cmd, nil
}

// compare prints a variant's times against the baseline's, measured in the
// same run (both are sorted here), and the ratio of their medians against
// the goal; short names the variant in the ratio's line.
func compare(title string, baseline []time.Duration, name string, got []time.Duration, short string, goal float64) {
	slices.Sort(baseline)
	slices.Sort(got)
	fmt.Printf("\n%s\n", title)
	fmt.Printf("%-26s %10s %10s %10s\n", "variant", "median", "p10", "p90")
	fmt.Printf("%-26s %10s %10s %10s\n", "baseline (delegate.c)", pct(baseline, 50), pct(baseline, 10), pct(baseline, 90))
	fmt.Printf("%-26s %10s %10s %10s\n", name, pct(got, 50), pct(got, 10), pct(got, 90))
	ratio := float64(pct(got, 50)) / float64(pct(baseline, 50))
	verdict := "within"
	if ratio > goal {
		verdict = "MISSES"
	}
	fmt.Printf("ratio %s/baseline (medians): %.2fx (goal <= %.1fx: %s)\n", short, ratio, goal, verdict)
}
