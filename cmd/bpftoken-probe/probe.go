package main

import (
	"errors"
	"os"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/nri-bpftoken/nri-bpftoken/internal/bpfsys"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// Outcomes of one probe besides an errno name. Any errno other than EPERM
// means the token let the request through: the kernel checks the token
// before it looks at the request itself, so its refusal of a deliberately
// minimal request (EINVAL for a tracing program without a BTF id, EBADF for a
// map of maps without an inner map) is reported as is.
const (
	outcomeOK = "ok"
	// outcomeNoTokenNeeded: the request also succeeds without a token
	// (kernel.unprivileged_bpf_disabled=0 lets anyone create an array or
	// load a socket filter), so it says nothing about the token.
	outcomeNoTokenNeeded = "no-token-needed"
	// outcomeUntested: no request could test this bit (see probeProgs).
	outcomeUntested = "untested"
)

var epermName = errnoName(unix.EPERM)

// errENOTSUPP is the kernel's internal ENOTSUPP, which bpf() lets escape to
// user space; Go has no name for it.
const errENOTSUPP = unix.Errno(524)

// passed reports whether an outcome shows the token allowing the request.
func passed(outcome string) bool {
	return outcome != epermName && outcome != outcomeNoTokenNeeded && outcome != outcomeUntested
}

// bpfCalls is the part of bpf() the probes use; tests fake it. Each call
// closes what it created.
type bpfCalls interface {
	mapCreate(token int, a bpfsys.MapAttr) error
	progLoad(token int, progType, attach uint32) error
	btfLoad(token int) error
}

type kernelCalls struct{}

func (kernelCalls) mapCreate(token int, a bpfsys.MapAttr) error {
	return closeFD(bpfsys.MapCreateAttr(token, a))
}

func (kernelCalls) progLoad(token int, progType, attach uint32) error {
	return closeFD(bpfsys.ProgLoad(token, progType, attach))
}

func (kernelCalls) btfLoad(token int) error { return closeFD(bpfsys.BTFLoad(token)) }

func closeFD(fd int, err error) error {
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// probeResults maps each name of each kind to its outcome.
type probeResults struct {
	Cmds    map[string]string `json:"cmds"`
	Maps    map[string]string `json:"maps"`
	Progs   map[string]string `json:"progs"`
	Attachs map[string]string `json:"attachs"`
	// ProgPair is the program and attach type ("socket_filter/
	// cgroup_inet_ingress") that carried the tests of the other program and
	// attach types; "" when no program loaded, which leaves them untested
	// and reported as EPERM (nothing loads).
	ProgPair string `json:"prog_pair,omitempty"`
}

func (p *probeResults) kind(k spec.Kind) map[string]string {
	switch k {
	case spec.KindCmds:
		return p.Cmds
	case spec.KindMaps:
		return p.Maps
	case spec.KindProgs:
		return p.Progs
	}
	return p.Attachs
}

// masks returns the bits whose probe passed.
func (p *probeResults) masks() spec.Masks {
	var m spec.Masks
	for _, k := range spec.Kinds {
		for name, o := range p.kind(k) {
			if bit, ok := k.Value(name); ok && passed(o) {
				m[k] |= 1 << bit
			}
		}
	}
	return m
}

// tested reports whether the probe of name gave an answer about the token.
func (p *probeResults) tested(k spec.Kind, name string) bool {
	o, ok := p.kind(k)[name]
	return ok && o != outcomeNoTokenNeeded && o != outcomeUntested
}

// outcome runs one request with the token and, when the token seems to let
// it through, once more without, to tell the token's effect from a request
// anyone may make.
func outcome(withToken, withoutToken func() error) string {
	o := errnoName(withToken())
	if o != epermName && !errors.Is(withoutToken(), unix.EPERM) {
		return outcomeNoTokenNeeded
	}
	return o
}

// probeToken learns by trying what token allows. Only map_create, prog_load
// and btf_load take a token, so they are the only commands it can test.
func probeToken(c bpfCalls, token int) *probeResults {
	p := &probeResults{Cmds: map[string]string{}}
	p.Maps = probeMaps(c, token)
	p.Attachs, p.Progs, p.ProgPair = probeProgs(c, token)
	p.Cmds["map_create"] = anyPassed(p.Maps)
	p.Cmds["prog_load"] = anyPassed(p.Progs)
	p.Cmds["btf_load"] = outcome(func() error { return c.btfLoad(token) }, func() error { return c.btfLoad(-1) })
	return p
}

// anyPassed stands for a command the probe cannot test alone: the kernel
// ignores a token that lacks map_create (or prog_load), so a map type (or
// program type) passing proves the command delegated, while none passing
// means the command is unusable, delegated or not.
func anyPassed(outcomes map[string]string) string {
	for _, o := range outcomes {
		if passed(o) {
			return outcomeOK
		}
	}
	return epermName
}

func probeMaps(c bpfCalls, token int) map[string]string {
	out := map[string]string{}
	// Value 0 (unspec) is no map type: the kernel refuses it before it
	// looks at the token.
	for bit := uint(1); ; bit++ {
		name, ok := spec.KindMaps.Name(bit)
		if !ok {
			return out
		}
		a := mapProbeAttr(name, uint32(bit))
		out[name] = outcome(func() error { return c.mapCreate(token, a) }, func() error { return c.mapCreate(-1, a) })
	}
}

// mapProbeAttr returns a map request that passes the per-type checks the
// kernel runs before the permission check (map_alloc_check), so that EPERM
// can only mean the token and capabilities refused it.
func mapProbeAttr(name string, mapType uint32) bpfsys.MapAttr {
	a := bpfsys.MapAttr{Type: mapType, KeySize: 4, ValueSize: 8, MaxEntries: 1}
	switch name {
	case "prog_array", "perf_event_array", "cgroup_array", "array_of_maps", "hash_of_maps",
		"devmap", "devmap_hash", "sockmap", "sockhash", "xskmap", "cpumap", "reuseport_sockarray":
		a.ValueSize = 4 // an fd, ifindex, cpu or socket cookie slot
	case "queue", "stack", "bloom_filter":
		a.KeySize = 0
	case "ringbuf", "user_ringbuf":
		a.KeySize, a.ValueSize = 0, 0
		a.MaxEntries = uint32(os.Getpagesize()) // a power of two, page aligned
	case "lpm_trie":
		a.KeySize = 8 // prefix length + at least one byte of data
		a.Flags = bpfsys.FlagNoPrealloc
	case "cgroup_storage", "percpu_cgroup_storage":
		a.KeySize, a.MaxEntries = 8, 0 // keyed by cgroup id, sized by the kernel
	case "sk_storage", "inode_storage", "task_storage", "cgrp_storage":
		// Made-up BTF ids pass the check that they are set; the map then
		// fails after the permission check, when the kernel looks them up.
		a.MaxEntries, a.Flags = 0, bpfsys.FlagNoPrealloc
		a.BTFKeyTypeID, a.BTFValueTypeID = 1, 1
	case "struct_ops":
		a.BTFVmlinuxValueTypeID = 1 // made up, as above
	case "arena":
		a.KeySize, a.ValueSize = 0, 0
		a.Flags = bpfsys.FlagMmapable
	}
	return a
}

// probeProgs tests program and attach types. The kernel lets a load use the
// token only when both its program type and its expected attach type are
// delegated, and checks the pair with the token before it checks whether the
// pair makes sense. So once one pair (P0, A0) passes, loading every program
// type with A0 tests the program types, and loading P0 with every attach
// type tests the attach types.
//
// When no pair passes, nothing can load: every type is reported EPERM.
// Exceptions: for cgroup_sock the kernel turns expected attach type 0 into
// cgroup_inet_sock_create before the token check, so that pair tests the
// wrong bit and is never used; and untestableProgs are never tried.
func probeProgs(c bpfCalls, token int) (attachs, progs map[string]string, pair string) {
	attachs, progs = map[string]string{}, map[string]string{}
	cgroupSock, _ := spec.KindProgs.Value("cgroup_sock")
	load := func(p, a uint) string {
		if p == cgroupSock && a == 0 || untestableProg(p) {
			return outcomeUntested
		}
		return outcome(func() error { return c.progLoad(token, uint32(p), uint32(a)) },
			func() error { return c.progLoad(-1, uint32(p), uint32(a)) })
	}

	p0, a0, found := findProgPair(load)
	if found {
		pn, _ := spec.KindProgs.Name(p0)
		an, _ := spec.KindAttachs.Name(a0)
		pair = pn + "/" + an
	}
	for a := uint(0); ; a++ {
		name, ok := spec.KindAttachs.Name(a)
		if !ok {
			break
		}
		attachs[name] = epermName
		if found {
			attachs[name] = load(p0, a)
		}
	}
	// Value 0 (unspec) is no program type.
	for p := uint(1); ; p++ {
		name, ok := spec.KindProgs.Name(p)
		if !ok {
			break
		}
		progs[name] = progOutcome(p, a0, found, attachs, load)
	}
	return attachs, progs, pair
}

// progOutcome tests program type p with the pair's attach type a0.
func progOutcome(p, a0 uint, found bool, attachs map[string]string, load func(p, a uint) string) string {
	switch {
	case untestableProg(p):
		return outcomeUntested
	case !found:
		return epermName // no program loads at all
	}
	if cgroupSock, _ := spec.KindProgs.Value("cgroup_sock"); p == cgroupSock && a0 == 0 {
		alt, ok := firstPassedAfterZero(attachs)
		if !ok {
			return outcomeUntested
		}
		a0 = alt
	}
	return load(p, a0)
}

// untestableProgs are program types whose minimal load (two instructions, no
// attach target) the kernel refuses with EPERM even for root, before the
// verifier runs (Linux 6.18): their EPERM says nothing about the token.
var untestableProgs = []string{"ext", "lsm"}

func untestableProg(p uint) bool {
	name, _ := spec.KindProgs.Name(p)
	return slices.Contains(untestableProgs, name)
}

// findProgPair returns the first (program type, attach type) pair the token
// lets through. Refusals are cheap (the kernel stops before the verifier), so
// trying every pair when nothing is delegated costs a few milliseconds.
func findProgPair(load func(p, a uint) string) (p0, a0 uint, found bool) {
	for p := uint(1); ; p++ {
		if _, ok := spec.KindProgs.Name(p); !ok {
			return 0, 0, false
		}
		for a := uint(0); ; a++ {
			if _, ok := spec.KindAttachs.Name(a); !ok {
				break
			}
			if passed(load(p, a)) {
				return p, a, true
			}
		}
	}
}

// firstPassedAfterZero returns the smallest non-zero attach type whose probe
// passed.
func firstPassedAfterZero(attachs map[string]string) (uint, bool) {
	for a := uint(1); ; a++ {
		name, ok := spec.KindAttachs.Name(a)
		if !ok {
			return 0, false
		}
		if passed(attachs[name]) {
			return a, true
		}
	}
}

// errnoName renders an outcome as bpfsys.Describe does ("ok", "EPERM"), but
// calls EOPNOTSUPP by the name the kernel source and documentation use (Go
// knows the shared value as ENOTSUP), and names the kernel-internal ENOTSUPP
// (524) that the bpf() code returns for unsupported features.
func errnoName(err error) string {
	switch {
	case errors.Is(err, unix.EOPNOTSUPP):
		return "EOPNOTSUPP"
	case errors.Is(err, errENOTSUPP):
		return "ENOTSUPP"
	}
	return bpfsys.Describe(err)
}
