// Command bench measures the hook's wall time per container against the C
// baseline in ../shared/baseline (delegate.c: the shortest syscall path the
// kernel allows), on the same kind of target, in the same run, and reports
// the ratio. Absolute times vary between machines; the ratio is the figure.
//
//	go run ./test/bench -hook bin/oci-hook -delegate /tmp/delegate -mkns /tmp/mkns -n 200
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	hook := flag.String("hook", "bin/oci-hook", "the hook binary")
	delegate := flag.String("delegate", "", "the baseline delegate binary (built from ../shared/baseline/delegate.c)")
	mkns := flag.String("mkns", "", "the stand-in container (built from ../shared/baseline/mkns.c)")
	n := flag.Int("n", 200, "containers per variant")
	standinBin := flag.String("standin", "", "the pivoting stand-in (test/standin); when set, also time the NRI plugin's StartContainer work against the baseline")
	bpftokend := flag.String("bpftokend", "", "bpftokend; when set, also time one rootless mount request against the baseline")
	goal := flag.Float64("goal", 2.0, "the ratio the hook should stay under")
	flag.Parse()
	if *delegate == "" || *mkns == "" {
		fmt.Fprintln(os.Stderr, "bench: -delegate and -mkns are required")
		os.Exit(2)
	}
	if err := run(*hook, *delegate, *mkns, *n, *goal); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	if *standinBin != "" {
		if err := runPlugin(*standinBin, *delegate, *n, *goal); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
	}
	if *bpftokend != "" {
		if err := runRootless(*bpftokend, *delegate, *n, *goal); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
	}
}

const (
	cmds    = "map_create:prog_load:btf_load"
	maps    = "array"
	progs   = "socket_filter"
	attachs = "cgroup_inet_ingress"
)

func run(hook, delegate, mkns string, n int, goal float64) error {
	work, err := os.MkdirTemp("", "bpftoken-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	var hookPeakKiB int64
	variants := []struct {
		name string
		run  func(c *standin) error
	}{
		{"baseline (delegate.c)", func(c *standin) error {
			return exec.Command(delegate, strconv.Itoa(c.pid), filepath.Join(c.rootfs, "sys/fs/bpf"), cmds, maps, progs, attachs).Run()
		}},
		{"oci-hook, annotated", func(c *standin) error {
			rss, err := runHook(hook, c, true)
			hookPeakKiB = max(hookPeakKiB, rss)
			return err
		}},
		{"oci-hook, no annotation", func(c *standin) error { _, err := runHook(hook, c, false); return err }},
		// The floor of any Go hook: starting the binary (runtime init).
		{"oci-hook --version", func(*standin) error { return exec.Command(hook, "--version").Run() }},
	}
	times := make([][]time.Duration, len(variants))
	for i := range n {
		// Interleaved, so that noise from the machine hits every variant alike.
		for v, variant := range variants {
			c, err := startStandin(mkns, podmanBundle(filepath.Join(work, fmt.Sprintf("%d-%d", i, v))), v > 0, v == 1)
			if err != nil {
				return err
			}
			start := time.Now()
			err = variant.run(c)
			times[v] = append(times[v], time.Since(start))
			c.stop()
			if err != nil {
				return fmt.Errorf("%s: %w", variant.name, err)
			}
		}
	}
	fmt.Printf("bpftoken bench: %d containers per variant, wall time of the whole process per container\n", n)
	fmt.Printf("%-26s %10s %10s %10s\n", "variant", "median", "p10", "p90")
	for v, variant := range variants {
		slices.Sort(times[v])
		fmt.Printf("%-26s %10s %10s %10s\n", variant.name, pct(times[v], 50), pct(times[v], 10), pct(times[v], 90))
	}
	ratio := float64(pct(times[1], 50)) / float64(pct(times[0], 50))
	verdict := "within"
	if ratio > goal {
		verdict = "MISSES"
	}
	fmt.Printf("ratio oci-hook/baseline (medians): %.2fx (goal <= %.1fx: %s)\n", ratio, goal, verdict)
	fmt.Printf("ratio no-annotation/baseline (medians): %.2fx\n", float64(pct(times[2], 50))/float64(pct(times[0], 50)))
	fmt.Printf("oci-hook peak resident size (annotated): %.1f MiB\n", float64(hookPeakKiB)/1024)
	fmt.Printf("ratio --version/baseline (medians): %.2fx (process start and Go runtime init alone)\n", float64(pct(times[3], 50))/float64(pct(times[0], 50)))
	return nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[(len(sorted)-1)*p/100].Round(time.Microsecond)
}

type standin struct {
	cmd    *exec.Cmd
	pid    int
	bundle string
	rootfs string
}

// startStandin starts a stand-in container (mkns) with a rootfs that has
// /sys/fs/bpf, and for the hook a bundle with config.json.
func startStandin(mkns, bundle string, withConfig, annotated bool) (*standin, error) {
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "sys/fs/bpf"), 0o755); err != nil {
		return nil, err
	}
	if withConfig {
		ann := `{"org.example/other":"x"}`
		if annotated {
			ann = fmt.Sprintf(`{"bpf.token/cmds":%q,"bpf.token/maps":%q,"bpf.token/progs":%q,"bpf.token/attachs":%q}`, cmds, maps, progs, attachs)
		}
		cfg := fmt.Sprintf(`{"ociVersion":"1.2.0","root":{"path":%q},"annotations":%s,"linux":{"namespaces":[{"type":"user"},{"type":"mount"}]}}`, rootfs, ann)
		if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte(cfg), 0o644); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(mkns, "sleep", "600")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start stand-in: %w", err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("stand-in gave no pid: %q", line)
	}
	// mkns prints the pid once the id maps are written; the child still has
	// to switch to root and unshare its mount namespace.
	for deadline := time.Now().Add(2 * time.Second); ; {
		if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); ns != selfMntNS() {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("stand-in %d did not enter its mount namespace", pid)
		}
		time.Sleep(100 * time.Microsecond)
	}
	return &standin{cmd: cmd, pid: pid, bundle: bundle, rootfs: rootfs}, nil
}

// podmanBundle lays out base as podman's storage for container "bench" and
// returns its bundle directory, as podman passes it: the hook reads
// podman's records of the container (here made from no image) to tell the
// admin's annotations from an image's.
func podmanBundle(base string) string {
	bundle := filepath.Join(base, "storage", "overlay-containers", "bench", "userdata")
	if err := os.MkdirAll(bundle, 0o755); err == nil {
		_ = os.MkdirAll(filepath.Join(base, "storage", "libpod"), 0o755)
		_ = os.WriteFile(filepath.Join(base, "storage", "overlay-containers", "containers.json"), []byte(`[{"id":"bench","names":["bench"]}]`), 0o600)
	}
	return bundle
}

func selfMntNS() string {
	ns, _ := os.Readlink("/proc/self/ns/mnt")
	return ns
}

func (s *standin) stop() {
	if p, err := os.FindProcess(s.pid); err == nil {
		p.Kill()
	}
	s.cmd.Wait()
}

// runHook runs the hook for c and returns its peak resident size in KiB.
func runHook(hook string, c *standin, annotated bool) (int64, error) {
	cmd := exec.Command(hook)
	cmd.Stdin = strings.NewReader(fmt.Sprintf(`{"ociVersion":"1.2.0","id":"bench","status":"creating","pid":%d,"bundle":%q}`, c.pid, c.bundle))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, out)
	}
	return cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss, nil
}
