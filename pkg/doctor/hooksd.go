package doctor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// DefaultHooksDirs are the directories podman and CRI-O read hooks.d JSON
// files from by default, in their order: a file replaces one of the same
// name in an earlier directory.
var DefaultHooksDirs = []string{"/usr/share/containers/oci/hooks.d", "/etc/containers/oci/hooks.d"}

// hookStage is the stage the hook must run at.
const hookStage = "createRuntime"

// hookSchema is the hooks.d schema version the doctor reads (podman and
// CRI-O also read a legacy 0.1.0 format, which cannot name createRuntime).
const hookSchema = "1.0.0"

// hookConfig holds the parts of a hooks.d JSON file (schema 1.0.0) that
// decide whether the runtime runs our hook.
type hookConfig struct {
	Version string `json:"version"`
	Hook    struct {
		Path string `json:"path"`
	} `json:"hook"`
	When struct {
		Always      *bool             `json:"always"`
		Annotations map[string]string `json:"annotations"`
	} `json:"when"`
	Stages []string `json:"stages"`
}

// sampleAnnotations are what a container asking for delegation carries; a
// hook's when.annotations must match each key (with a plausible value).
var sampleAnnotations = [][2]string{
	{"bpf.token/cmds", "map_create:prog_load"},
	{"bpf.token/maps", "array"},
	{"bpf.token/progs", "socket_filter"},
	{"bpf.token/attachs", "cgroup_inet_ingress"},
}

// hookFinding is the doctor's view of one hooks.d file.
type hookFinding struct {
	file string
	// runsUs: the file makes the runtime run this binary at createRuntime
	// for every container with bpf.token/ delegate annotations.
	runsUs bool
	// relevant: the file is about this hook (it points at this binary, or
	// its when.annotations match bpf.token/ keys, or its path looks like
	// ours); problem says why it does not run this binary as it should.
	relevant bool
	problem  string
	// pointsHere: hook.path is this binary.
	pointsHere bool
	// invalid: the runtime cannot read the file at all.
	invalid bool
}

func checkHooksDirs(dirs []string, binary string) Result {
	if binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return Result{Name: CheckHooksDir, Verdict: Warn,
				Detail: fmt.Sprintf("cannot tell which binary is running: %v", err),
				Fix:    "check by hand that a hooks.d JSON points at the hook binary"}
		}
		binary = exe
	}
	self, err := os.Stat(binary)
	if err != nil {
		return Result{Name: CheckHooksDir, Verdict: Warn,
			Detail: fmt.Sprintf("stat %s: %v", binary, err),
			Fix:    "run the doctor of the installed hook binary"}
	}
	files, read := hookFiles(dirs)
	var runs, relevant, invalid []string
	var pointsHereProblem string
	for _, f := range files {
		h := judgeHookFile(f, binary, self)
		switch {
		case h.invalid:
			invalid = append(invalid, h.file+": "+h.problem)
		case h.runsUs:
			runs = append(runs, h.file)
		case h.relevant:
			relevant = append(relevant, h.file+": "+h.problem)
			if pointsHereProblem == "" && h.pointsHere {
				pointsHereProblem = h.file + ": " + h.problem
			}
		}
	}
	looked := "read " + strings.Join(read, ", ")
	if len(runs) > 0 {
		detail := fmt.Sprintf("podman and CRI-O run this binary (%s) at %s for containers with bpf.token/ annotations: %s",
			binary, hookStage, strings.Join(runs, ", "))
		if len(invalid) == 0 {
			return Result{Name: CheckHooksDir, Verdict: OK, Detail: detail}
		}
		return Result{Name: CheckHooksDir, Verdict: Warn,
			Detail: detail + "; but the runtime cannot read " + strings.Join(invalid, "; ") + " and reports an error for it",
			Fix:    "fix or remove the unreadable hooks.d files"}
	}
	detail := fmt.Sprintf("no hooks.d JSON makes podman or CRI-O run this binary (%s) at %s for containers with bpf.token/ annotations (%s)",
		binary, hookStage, looked)
	if len(relevant) > 0 {
		detail += "; " + strings.Join(relevant, "; ")
	}
	if len(invalid) > 0 {
		detail += "; unreadable: " + strings.Join(invalid, "; ")
	}
	fix := fmt.Sprintf("install the hook: `sudo make install` in the source tree (the hook at /usr/libexec/oci/hooks.d/bpftoken-oci-hook, its JSON in %s; then run that binary's doctor), "+
		"or copy examples/hooks.d/bpftoken.json into a hooks directory with hook.path set to %s (podman: --hooks-dir DIR or hooks_dir in containers.conf; CRI-O: hooks_dir in crio.conf)",
		DefaultHooksDirs[0], binary)
	if pointsHereProblem != "" {
		fix = "edit " + pointsHereProblem
	}
	return Result{Name: CheckHooksDir, Verdict: Warn, Detail: detail, Fix: fix}
}

// hookFiles lists the *.json files of dirs as the runtime sees them: a file
// replaces one of the same name in an earlier directory. It also says what
// it read, for the report.
func hookFiles(dirs []string) (files, read []string) {
	byName := map[string]string{}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		switch {
		case errors.Is(err, os.ErrNotExist):
			read = append(read, dir+" (absent)")
			continue
		case err != nil:
			read = append(read, fmt.Sprintf("%s (%v)", dir, err))
			continue
		}
		n := 0
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".json") || e.IsDir() {
				continue
			}
			byName[e.Name()] = filepath.Join(dir, e.Name())
			n++
		}
		read = append(read, fmt.Sprintf("%s (%d JSON)", dir, n))
	}
	for _, f := range byName {
		files = append(files, f)
	}
	sort.Strings(files)
	return files, read
}

// judgeHookFile decides whether the hooks.d file at path makes the runtime
// run binary (whose stat is self) as our hook.
func judgeHookFile(path, binary string, self os.FileInfo) hookFinding {
	f := hookFinding{file: path}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return f // a dangling symlink: the runtime skips it too
		}
		f.invalid, f.problem = true, err.Error()
		return f
	}
	var version struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(data, &version); err != nil {
		f.invalid, f.problem = true, "not valid JSON: "+err.Error()
		return f
	}
	if version.Version != hookSchema {
		// Legacy files cannot name createRuntime: whatever they run, it
		// is not our hook at the right stage.
		if s := string(data); strings.Contains(s, "bpftoken") || strings.Contains(s, "bpf.token") || strings.Contains(s, `bpf\\.token`) {
			f.relevant = true
			f.problem = fmt.Sprintf("hooks schema version %q: use %s, which can name the %s stage", version.Version, hookSchema, hookStage)
		}
		return f
	}
	var h hookConfig
	if err := json.Unmarshal(data, &h); err != nil {
		f.invalid, f.problem = true, "not a hooks.d 1.0.0 file: "+err.Error()
		return f
	}
	covered, when := whenCovers(h.When.Always, h.When.Annotations)
	if !sameBinary(h.Hook.Path, binary, self) {
		// Another hook that runs for every container is none of our business.
		always := h.When.Always != nil && *h.When.Always
		if (len(covered) > 0 && !always) || strings.Contains(filepath.Base(h.Hook.Path), "bpftoken") {
			f.relevant = true
			f.problem = fmt.Sprintf("hook.path %q points at another binary, not at this one (%s); run that binary's doctor if it is the one you installed", h.Hook.Path, binary)
		}
		return f
	}
	f.relevant, f.pointsHere = true, true
	if !slices.Contains(h.Stages, hookStage) {
		f.problem = fmt.Sprintf("stages %q lack %q: the hook must run at %s, after the runtime made the container's namespaces and before pivot_root", h.Stages, hookStage, hookStage)
		return f
	}
	if when != "" {
		f.problem = when
		return f
	}
	f.runsUs = true
	return f
}

// whenCovers returns the sample annotation keys the when conditions match,
// and, unless they match them all, why not.
func whenCovers(always *bool, annotations map[string]string) (covered []string, problem string) {
	if always != nil && *always {
		for _, kv := range sampleAnnotations {
			covered = append(covered, kv[0])
		}
		return covered, ""
	}
	if len(annotations) == 0 {
		return nil, `no "when": {"annotations": {"^bpf\\.token/": ".*"}}: the runtime never runs the hook`
	}
	var bad []string
	type pair struct{ key, value *regexp.Regexp }
	var pairs []pair
	for k, v := range annotations {
		kr, err1 := regexp.Compile(k)
		vr, err2 := regexp.Compile(v)
		if err1 != nil || err2 != nil {
			bad = append(bad, fmt.Sprintf("%q: %q", k, v))
			continue
		}
		pairs = append(pairs, pair{kr, vr})
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return nil, "when.annotations has invalid regular expressions (" + strings.Join(bad, ", ") + "): the runtime refuses the file"
	}
	var missing []string
	for _, kv := range sampleAnnotations {
		ok := slices.ContainsFunc(pairs, func(p pair) bool { return p.key.MatchString(kv[0]) && p.value.MatchString(kv[1]) })
		if ok {
			covered = append(covered, kv[0])
		} else {
			missing = append(missing, kv[0])
		}
	}
	if len(missing) == 0 {
		return covered, ""
	}
	if len(covered) == 0 {
		return nil, `when.annotations matches no bpf.token/ annotation: use {"^bpf\\.token/": ".*"}`
	}
	return covered, fmt.Sprintf(`when.annotations does not match %s: containers asking only for those get no bpffs; use {"^bpf\\.token/": ".*"}`, strings.Join(missing, ", "))
}

// sameBinary reports whether path names binary: the same file (inode and
// device, through symlinks and hard links) or the same resolved path.
func sameBinary(path, binary string, self os.FileInfo) bool {
	if path == "" {
		return false
	}
	if st, err := os.Stat(path); err == nil && os.SameFile(st, self) {
		return true
	}
	a, err1 := filepath.EvalSymlinks(path)
	b, err2 := filepath.EvalSymlinks(binary)
	return err1 == nil && err2 == nil && a == b
}
