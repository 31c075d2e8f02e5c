package spec

import (
	"fmt"
	"slices"
	"strings"
)

// AnnotationProfile names one or more profiles: bpf.token/profile: xdp, or
// "cgroup-net,ringbuf-telemetry". Each expands to the masks of the Profiles
// table, ORed with each other and with the explicit delegate keys.
const AnnotationProfile = "bpf.token/profile"

// Profile is a named delegation for a common kind of workload: the exact
// items it delegates, and what the workload needs besides.
type Profile struct {
	Name    string
	Summary string // one line: what runs with it
	Masks   Masks
	// Caps are the capabilities the workload needs in the container's user
	// namespace, in the form capabilities(7) names them.
	Caps []string
	// Reach says what the programs can touch beyond the process that loads
	// them; docs/workloads.md has the measurements behind each.
	Reach string
}

// profileBase is in every profile: maps for counters and tables, BTF
// (programs built by clang carry it), and socket_filter with attach type 0
// (cgroup_inet_ingress). libbpf probes for global data with a
// socket_filter, and most program types are loaded with expected attach
// type 0, which the kernel checks against delegate_attachs too.
var profileBase = profileItems{
	cmds:    "map_create:prog_load:btf_load",
	maps:    "array:percpu_array:hash",
	progs:   "socket_filter",
	attachs: "cgroup_inet_ingress",
}

// profiles is the table, in the order users read about them. Changing an
// entry changes what every container that names it gets: a change is a
// change of the annotation contract (docs/workloads.md).
var profiles = []Profile{
	newProfile("socket-filter",
		"socket filters on the container's own sockets (SO_ATTACH_BPF), counting into maps",
		profileItems{}, []string{"CAP_BPF"}, "the sockets of the process that attaches them"),
	newProfile("ringbuf-telemetry",
		"socket-filter, plus ring buffers: programs send records to user space",
		profileItems{maps: "ringbuf"}, []string{"CAP_BPF"}, "the sockets of the process that attaches them"),
	newProfile("cgroup-net",
		"per-container traffic accounting and filtering (cgroup_skb) and connect/bind/sendmsg policy (cgroup_sock_addr), attached to a cgroup",
		profileItems{
			progs: "cgroup_skb:cgroup_sock_addr",
			attachs: "cgroup_inet_egress:cgroup_inet4_bind:cgroup_inet6_bind:cgroup_inet4_connect:cgroup_inet6_connect:" +
				"cgroup_udp4_sendmsg:cgroup_udp6_sendmsg",
		}, []string{"CAP_BPF", "CAP_NET_ADMIN"},
		"every cgroup the container can open: only its own with a cgroup namespace of its own (required unless the policy says hostCgroupNamespace: true)"),
	newProfile("xdp",
		"XDP programs on the interfaces of the container's network namespace, attached with BPF links",
		profileItems{progs: "xdp", attachs: "xdp"}, []string{"CAP_BPF", "CAP_NET_ADMIN"},
		"the network namespace: every container of the pod"),
	newProfile("tc",
		"tc programs (sched_cls) on the interfaces of the container's network namespace, attached with tcx links",
		profileItems{progs: "sched_cls", attachs: "tcx_ingress:tcx_egress"}, []string{"CAP_BPF", "CAP_NET_ADMIN"},
		"the network namespace: every container of the pod"),
}

// profileItems is a delegation in the annotation syntax, for writing tables.
type profileItems struct{ cmds, maps, progs, attachs string }

func (it profileItems) masks() Masks {
	var m Masks
	for k, v := range map[Kind]string{KindCmds: it.cmds, KindMaps: it.maps, KindProgs: it.progs, KindAttachs: it.attachs} {
		mask, err := k.ParseList(v)
		if err != nil {
			// A typo in this file: panicking at init makes every test catch it.
			panic(fmt.Sprintf("spec: %v", err))
		}
		m[k] = mask
	}
	return m
}

func newProfile(name, summary string, extra profileItems, caps []string, reach string) Profile {
	return Profile{Name: name, Summary: summary, Masks: profileBase.masks().Or(extra.masks()), Caps: caps, Reach: reach}
}

// Profiles returns the table, in the order users read about it.
func Profiles() []Profile { return slices.Clone(profiles) }

// LookupProfile returns the profile called name (exactly; names are lower
// case).
func LookupProfile(name string) (Profile, bool) {
	i := slices.IndexFunc(profiles, func(p Profile) bool { return p.Name == name })
	if i < 0 {
		return Profile{}, false
	}
	return profiles[i], true
}

// ParseProfiles expands a list of profile names (separated by ',' or ':',
// spaces around names ignored) into the OR of their masks, and returns the
// names in the order given, each once. key names the place in errors
// (AnnotationProfile, or a policy's field).
func ParseProfiles(key, value string) (Masks, []string, error) {
	var m Masks
	if len(value) > maxAnnotationValueLen {
		return m, nil, tooLongError(key, value)
	}
	var names []string
	for _, raw := range splitItems(value) {
		name := strings.TrimSpace(raw)
		if name == "" {
			continue
		}
		p, ok := LookupProfile(strings.ToLower(name))
		if !ok {
			return Masks{}, nil, unknownProfileError(key, name)
		}
		if slices.Contains(names, p.Name) {
			continue
		}
		names = append(names, p.Name)
		m = m.Or(p.Masks)
	}
	return m, names, nil
}

func unknownProfileError(key, name string) *AnnotationError {
	return &AnnotationError{Key: key, Item: clipEcho(name), Err: ErrUnknownProfile,
		Suggestions: suggestClosest(strings.ToLower(name), profileNames(), false)}
}

// profileNames lists the names of the table, in its order.
func profileNames() []string {
	names := make([]string, len(profiles))
	for i, p := range profiles {
		names[i] = p.Name
	}
	return names
}

// CoveredProfiles returns the profiles whose every item m delegates, in
// table order: what a container with m can run.
func CoveredProfiles(m Masks) []string {
	var out []string
	for _, p := range profiles {
		if p.Masks.Minus(m) == (Masks{}) {
			out = append(out, p.Name)
		}
	}
	return out
}
