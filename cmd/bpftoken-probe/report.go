package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/nri-bpftoken/nri-bpftoken/internal/version"
	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

// report is the -json output, one object. Lists are never null.
type report struct {
	Version    string    `json:"version"`
	Path       string    `json:"path"`        // the bpffs the token came from (or the first that failed)
	PathSource string    `json:"path_source"` // "flag", "LIBBPF_BPF_TOKEN_PATH" or "mountinfo"
	Attempts   []attempt `json:"attempts"`    // every bpffs tried, in order
	Token      struct {
		OK    bool   `json:"ok"`
		Errno string `json:"errno,omitempty"`
		Error string `json:"error,omitempty"`
	} `json:"token"`
	InfoSource string   `json:"info_source"` // "token_info", "probing", or "" without a token
	Cmds       []string `json:"cmds"`
	Maps       []string `json:"maps"`
	Progs      []string `json:"progs"`
	Attachs    []string `json:"attachs"`
	// Profiles are the spec.Profiles whose every item the token delegates.
	Profiles []string      `json:"profiles"`
	Want     []wantReport  `json:"want,omitempty"`   // one per profile -want named
	Mount    *mountReport  `json:"mount"`            // null when the path is no bpffs mount point
	Probes   *probeResults `json:"probes,omitempty"` // per-name outcomes, when probing ran
	environment
	Warnings []string `json:"warnings"`
}

// mountReport is the second source: the bpffs superblock options in
// mountinfo, as the kernel shows them and as lists.
type mountReport struct {
	Options string   `json:"options"`
	Cmds    []string `json:"cmds"`
	Maps    []string `json:"maps"`
	Progs   []string `json:"progs"`
	Attachs []string `json:"attachs"`
	// MatchesToken compares them with the token info; null without both.
	MatchesToken *bool `json:"matches_token"`
}

func (r *result) report() report {
	rep := report{
		Version:     version.Version,
		Path:        r.path,
		PathSource:  r.pathSource,
		Attempts:    r.attempts,
		InfoSource:  r.infoSource,
		Probes:      r.probes,
		environment: r.env,
		Warnings:    r.warnings,
	}
	if rep.Attempts == nil {
		rep.Attempts = []attempt{}
	}
	if rep.Warnings == nil {
		rep.Warnings = []string{}
	}
	rep.Token.OK, rep.Token.Errno, rep.Token.Error = r.tokenOK, r.tokenErrno, r.tokenError
	var granted spec.Masks // nothing without a token
	if r.tokenOK {
		granted = r.granted
	}
	rep.Cmds, rep.Maps, rep.Progs, rep.Attachs = granted.Names(spec.KindCmds), granted.Names(spec.KindMaps),
		granted.Names(spec.KindProgs), granted.Names(spec.KindAttachs)
	rep.Profiles = spec.CoveredProfiles(granted)
	if rep.Profiles == nil {
		rep.Profiles = []string{}
	}
	if r.want != nil {
		rep.Want = wantProfiles(r.want, granted, r.env)
	}
	if r.mount != nil {
		rep.Mount = r.mountReport()
	}
	return rep
}

func (r *result) mountReport() *mountReport {
	m := &mountReport{Options: r.mount.SuperOpts}
	var mm spec.Masks
	if r.mountMasks != nil {
		mm = *r.mountMasks
	}
	m.Cmds, m.Maps, m.Progs, m.Attachs = mm.Names(spec.KindCmds), mm.Names(spec.KindMaps),
		mm.Names(spec.KindProgs), mm.Names(spec.KindAttachs)
	if r.info != nil && r.mountMasks != nil {
		same := len(compareMasks(*r.info, *r.mountMasks, "")) == 0
		m.MatchesToken = &same
	}
	return m
}

func writeJSON(w io.Writer, rep report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// writeText renders the report for people: a column of facts, then the
// warnings, each on its own line.
func writeText(w io.Writer, rep report) error {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-9s %s\n", label+":", fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(&b, "bpftoken-probe %s\n", rep.Version)
	line("bpffs", "%s", describePath(rep))
	line("token", "%s", describeToken(rep))
	if rep.Token.OK {
		line("lists", "%s", describeSource(rep))
		for _, l := range [...]struct {
			k     spec.Kind
			names []string
		}{{spec.KindCmds, rep.Cmds}, {spec.KindMaps, rep.Maps}, {spec.KindProgs, rep.Progs}, {spec.KindAttachs, rep.Attachs}} {
			fmt.Fprintf(&b, "  %-8s %s\n", l.k.String()+":", joinOrNone(l.names))
		}
		line("profiles", "%s", describeProfiles(rep.Profiles))
	} else if rep.Mount != nil {
		line("mount", "%s (what the bpffs delegates, unusable without a token)", rep.Mount.Options)
	}
	if rep.Probes != nil {
		writeProbes(&b, rep.Probes)
	}
	line("caps", "%s (effective)", describeCaps(rep.Caps))
	line("seccomp", "%s", describeSeccomp(rep.Seccomp))
	line("userns", "%s", describeUserNS(rep.UserNS))
	line("cgroupns", "%s", describeCgroupNS(rep.CgroupNS))
	for _, w := range rep.Want {
		line("want", "%s: %s", w.Profile, describeWant(w))
	}
	if len(rep.Warnings) > 0 {
		b.WriteString("warnings:\n")
		for _, s := range rep.Warnings {
			fmt.Fprintf(&b, "  - %s\n", s)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func describePath(rep report) string {
	switch {
	case rep.Path == "":
		return "none found"
	case rep.PathSource == sourceMountInfo:
		if n := len(rep.Attempts); n > 1 {
			return fmt.Sprintf("%s (found in /proc/self/mountinfo; %d bpffs mounts tried)", rep.Path, n)
		}
		return rep.Path + " (found in /proc/self/mountinfo)"
	case rep.PathSource == sourceEnv:
		return rep.Path + " (from " + spec.LibbpfTokenPathEnv + ")"
	}
	return rep.Path
}

func describeProfiles(names []string) string {
	if len(names) == 0 {
		return "none (the token lacks some item of every " + spec.AnnotationProfile + ")"
	}
	return strings.Join(names, ", ") + " (the token delegates everything these need)"
}

func describeToken(rep report) string {
	if rep.Token.OK {
		return "created"
	}
	return "NOT created: " + rep.Token.Error
}

func describeSource(rep report) string {
	var s string
	switch rep.InfoSource {
	case infoFromToken:
		s = "from the token info (BPF_OBJ_GET_INFO_BY_FD)"
	case infoFromProbing:
		s = "from probing (one map create or program load per type; probing tests only map_create, prog_load and btf_load among the commands)"
	}
	if rep.Mount != nil && rep.Mount.MatchesToken != nil {
		if *rep.Mount.MatchesToken {
			s += "; token info and mount options agree"
		} else {
			s += "; token info and mount options DISAGREE (see warnings)"
		}
	}
	return s
}

// writeProbes lists, per kind, the outcomes other than EPERM by name and
// counts the EPERMs, which are most of them.
func writeProbes(b *strings.Builder, p *probeResults) {
	b.WriteString("probes:\n")
	for _, k := range spec.Kinds {
		outcomes := p.kind(k)
		names := make([]string, 0, len(outcomes))
		for n := range outcomes {
			names = append(names, n)
		}
		slices.SortFunc(names, func(a, b string) int {
			va, _ := k.Value(a)
			vb, _ := k.Value(b)
			return int(va) - int(vb)
		})
		var shown []string
		refused := 0
		for _, n := range names {
			if outcomes[n] == epermName {
				refused++
				continue
			}
			shown = append(shown, n+" "+outcomes[n])
		}
		switch {
		case len(shown) == 0:
			shown = append(shown, "all EPERM")
		case refused == 1:
			shown = append(shown, "1 other EPERM")
		case refused > 1:
			shown = append(shown, fmt.Sprintf("%d others EPERM", refused))
		}
		fmt.Fprintf(b, "  %-8s %s\n", k.String()+":", strings.Join(shown, ", "))
	}
	if p.ProgPair != "" {
		fmt.Fprintf(b, "  (program and attach types tested with %s)\n", p.ProgPair)
	}
}

func describeCaps(caps map[string]bool) string {
	if caps == nil {
		return "unknown (capget failed)"
	}
	var parts []string
	for _, c := range checkedCaps {
		v := "no"
		if caps[c.name] {
			v = "yes"
		}
		parts = append(parts, c.name+" "+v)
	}
	return strings.Join(parts, ", ")
}

func describeSeccomp(s seccompState) string {
	if s.BlocksBPF {
		return fmt.Sprintf("%s; blocks bpf() (an invalid command got %s)", s.Mode, s.BPFErrno)
	}
	return fmt.Sprintf("%s; lets bpf() through (an invalid command got the kernel's %s)", s.Mode, s.BPFErrno)
}

func describeUserNS(u userNSState) string {
	switch {
	case u.UIDMap == "":
		return "unknown"
	case u.Initial:
		return "the initial one (no token possible)"
	}
	return "a container's (uid_map " + u.UIDMap + ")"
}

func describeCgroupNS(c cgroupNSState) string {
	switch {
	case c.Cgroup == "":
		return "unknown"
	case c.Private:
		return "its own (this process at " + c.Cgroup + ")"
	}
	return "likely the host's (this process in " + c.Cgroup + ", not at the root of a namespace of its own)"
}

func joinOrNone(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, " ")
}
