package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nri-bpftoken/nri-bpftoken/internal/mountinfo"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/bpfsys"
)

// Values of "info_source": where the reported lists come from.
const (
	infoFromToken   = "token_info" // BPF_OBJ_GET_INFO_BY_FD on the token (Linux >= 6.17)
	infoFromProbing = "probing"    // one map create and program load per type
)

const mountInfoPath = "/proc/self/mountinfo"

type options struct {
	path       string   // -path; "" to look elsewhere
	forceProbe bool     // -probe: learn by trying even when token info exists
	want       []string // -want: profiles to check the token against
}

// result is everything the probe found out; report() renders it.
type result struct {
	path       string
	pathSource string
	attempts   []attempt
	tokenOK    bool
	tokenErrno string
	tokenError string

	info       *spec.Masks // from the token info, nil when the kernel gave none
	probes     *probeResults
	infoSource string
	granted    spec.Masks // what the token allows, per infoSource

	mount      *mountinfo.Entry // the bpffs at path in mountinfo, if there
	mountMasks *spec.Masks      // its delegate_* options, nil if unparsable

	want     []string // profiles to check, from options
	env      environment
	notes    []string // findings on the way that belong among the warnings
	warnings []string
}

// inspect finds a bpffs, creates a token from it and learns what the token
// allows. It never fails: everything that goes wrong is part of the result.
func inspect(o options, env environment, calls bpfCalls) *result {
	r := &result{env: env, want: o.want}
	for _, err := range env.errs {
		r.notes = append(r.notes, err.Error())
	}
	entries, err := readMountInfo()
	if err != nil {
		r.notes = append(r.notes, err.Error())
	}
	paths := r.choosePaths(o.path, entries, err)
	if token := r.createFromFirst(paths); token >= 0 {
		defer unix.Close(token)
		r.learnDelegation(token, o.forceProbe, calls)
	}
	r.attachMount(entries)
	r.verify()
	r.warnings = r.collectWarnings()
	return r
}

func readMountInfo() ([]mountinfo.Entry, error) {
	f, err := os.Open(mountInfoPath)
	if err != nil {
		return nil, fmt.Errorf("cannot scan the mounts: %w: pass the bpffs with -path", err)
	}
	defer f.Close()
	entries, err := mountinfo.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("cannot scan the mounts: %s: %w", mountInfoPath, err)
	}
	return entries, nil
}

// choosePaths applies the order libbpf users expect: an explicit path, then
// LIBBPF_BPF_TOKEN_PATH, then every bpffs mount (as cilium/ebpf does).
func (r *result) choosePaths(flagPath string, entries []mountinfo.Entry, scanErr error) []string {
	if flagPath != "" {
		r.pathSource = sourceFlag
		return []string{absPath(flagPath)}
	}
	if p := os.Getenv(spec.LibbpfTokenPathEnv); p != "" {
		r.pathSource = sourceEnv
		return []string{absPath(p)}
	}
	r.pathSource = sourceMountInfo
	var paths []string
	for _, e := range orderCandidates(bpffsMounts(entries)) {
		paths = append(paths, e.MountPoint)
	}
	if len(paths) == 0 {
		r.tokenError = noBPFFSMessage
		if scanErr != nil {
			r.tokenError = scanErr.Error()
		}
	}
	return paths
}

// absPath makes the path comparable with mountinfo's mount points.
func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return filepath.Clean(p)
}

// createFromFirst tries the paths in order and keeps the first token. When
// all fail, the first path's failure is the one reported: the candidates are
// ordered so that it is the most telling one.
func (r *result) createFromFirst(paths []string) int {
	release := kernelRelease()
	for _, p := range paths {
		token, f := createToken(p)
		a := attempt{Path: p}
		if f != nil {
			a.Errno = errnoName(f.err)
			a.Error = explainFailure(f, r.env, release)
		}
		r.attempts = append(r.attempts, a)
		if f == nil {
			r.path, r.tokenOK, r.tokenErrno, r.tokenError = p, true, "", ""
			return token
		}
		if len(r.attempts) == 1 {
			r.path, r.tokenErrno, r.tokenError = p, a.Errno, a.Error
		}
	}
	return -1
}

// learnDelegation reads the token info, and probes when the kernel has none
// (before 6.17) or when asked to.
func (r *result) learnDelegation(token int, forceProbe bool, calls bpfCalls) {
	ti, err := bpfsys.GetTokenInfo(token)
	switch {
	case err == nil:
		m := masksFromTokenInfo(ti)
		r.info = &m
	case errors.Is(err, unix.EINVAL):
		// No info for token fds in this kernel: probing is the way.
	default:
		r.notes = append(r.notes, fmt.Sprintf("reading the token info failed (%v): the lists come from probing instead", err))
	}
	if r.info != nil && !forceProbe {
		r.infoSource, r.granted = infoFromToken, *r.info
		return
	}
	r.probes = probeToken(calls, token)
	r.infoSource, r.granted = infoFromProbing, r.probes.masks()
}

// masksFromTokenInfo lays the kernel's struct bpf_token_info out by Kind.
// It lives here rather than in bpfsys, which stays a thin syscall layer
// without pkg/spec's dependencies.
func masksFromTokenInfo(ti bpfsys.TokenInfo) spec.Masks {
	return spec.Masks{
		spec.KindCmds:    ti.AllowedCmds,
		spec.KindMaps:    ti.AllowedMaps,
		spec.KindProgs:   ti.AllowedProgs,
		spec.KindAttachs: ti.AllowedAttachs,
	}
}

// attachMount finds the bpffs the report is about in mountinfo, the second
// source of what it delegates.
func (r *result) attachMount(entries []mountinfo.Entry) {
	if r.path == "" {
		return
	}
	e, ok := findMountPoint(entries, r.path)
	if !ok || e.FSType != "bpf" {
		return
	}
	r.mount = &e
	m, err := delegateMasks(e)
	if err != nil {
		r.notes = append(r.notes, err.Error())
		return
	}
	r.mountMasks = &m
}

// verify cross-checks the sources: token info against the mount options, and
// probes against the best full description available.
func (r *result) verify() {
	if r.info != nil && r.mountMasks != nil {
		r.notes = append(r.notes, compareMasks(*r.info, *r.mountMasks, r.mount.MountPoint)...)
	}
	if r.probes == nil {
		return
	}
	switch {
	case r.info != nil:
		r.notes = append(r.notes, compareProbes(r.probes, *r.info, "token info", r.env)...)
	case r.mountMasks != nil:
		r.notes = append(r.notes, compareProbes(r.probes, *r.mountMasks, "mount options", r.env)...)
	}
}

// delegation is the fullest description of what the bpffs delegates: the
// token info, else the mount options (which also describe a bpffs that gave
// no token), else the probes; zero when nothing is known.
func (r *result) delegation() spec.Masks {
	switch {
	case r.info != nil:
		return *r.info
	case r.mountMasks != nil:
		return *r.mountMasks
	case r.tokenOK:
		return r.granted
	}
	return spec.Masks{}
}

func (r *result) collectWarnings() []string {
	var w []string
	if !r.tokenOK {
		w = append(w, "no BPF token: "+r.tokenError)
	}
	// A token refused by seccomp already says so, with the fix.
	if s := seccompWarning(r.env.Seccomp); s != "" && (r.tokenOK || r.tokenErrno != epermName) {
		w = append(w, s)
	}
	d := r.delegation()
	w = append(w, specWarnings(r.env, d)...)
	w = append(w, commandWarnings(d)...)
	if s := cgroupNSWarning(r.env.CgroupNS, d); s != "" {
		w = append(w, s)
	}
	w = append(w, r.notes...)
	if r.tokenOK {
		env, set := os.LookupEnv(spec.LibbpfTokenPathEnv)
		if s := libbpfPathWarning(r.path, r.pathSource, env, set); s != "" {
			w = append(w, s)
		}
	}
	return w
}
