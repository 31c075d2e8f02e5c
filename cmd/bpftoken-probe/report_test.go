package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/spec"
)

func containerEnv() environment {
	return environment{
		Caps:     map[string]bool{"CAP_BPF": true, "CAP_NET_ADMIN": false, "CAP_PERFMON": false, "CAP_SYS_ADMIN": false},
		Seccomp:  seccompState{Mode: "filter", BPFErrno: "EINVAL"},
		UserNS:   userNSState{UIDMap: "0 100000 65536"},
		CgroupNS: cgroupNSState{Private: true, Cgroup: "/"},
	}
}

func tokenResult() *result {
	m := spec.Masks{
		spec.KindCmds:    names(spec.KindCmds, "map_create", "prog_load"),
		spec.KindMaps:    names(spec.KindMaps, "array", "ringbuf"),
		spec.KindProgs:   names(spec.KindProgs, "socket_filter"),
		spec.KindAttachs: names(spec.KindAttachs, "cgroup_inet_ingress"),
	}
	mount := entry("/sys/fs/bpf", "rw,delegate_cmds=map_create:prog_load,delegate_maps=array:ringbuf,delegate_progs=socket_filter,delegate_attachs=cgroup_inet_ingress")
	mm := m
	r := &result{
		path: "/sys/fs/bpf", pathSource: sourceMountInfo,
		attempts: []attempt{{Path: "/sys/fs/bpf"}},
		tokenOK:  true,
		info:     &m, infoSource: infoFromToken, granted: m,
		mount: &mount, mountMasks: &mm,
		env: containerEnv(),
	}
	r.verify()
	r.warnings = r.collectWarnings()
	return r
}

func failedResult() *result {
	r := &result{pathSource: sourceMountInfo, tokenError: noBPFFSMessage, env: containerEnv()}
	r.warnings = r.collectWarnings()
	return r
}

func decode(t *testing.T, r *result) map[string]any {
	t.Helper()
	var b bytes.Buffer
	if err := writeJSON(&b, r.report()); err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b.Bytes(), &out); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, b.String())
	}
	return out
}

func TestJSONWithToken(t *testing.T) {
	out := decode(t, tokenResult())
	want := map[string]any{
		"path":        "/sys/fs/bpf",
		"path_source": "mountinfo",
		"info_source": "token_info",
		"token":       map[string]any{"ok": true},
		"cmds":        []any{"map_create", "prog_load"},
		"maps":        []any{"array", "ringbuf"},
		"progs":       []any{"socket_filter"},
		"attachs":     []any{"cgroup_inet_ingress"},
		"warnings":    []any{},
		"seccomp":     map[string]any{"mode": "filter", "blocks_bpf": false, "bpf_errno": "EINVAL"},
		"userns":      map[string]any{"initial": false, "uid_map": "0 100000 65536"},
		"cgroupns":    map[string]any{"private": true, "cgroup": "/"},
	}
	for k, v := range want {
		if !reflect.DeepEqual(out[k], v) {
			t.Errorf("%s = %#v, want %#v", k, out[k], v)
		}
	}
	mount, _ := out["mount"].(map[string]any)
	if mount["matches_token"] != true || !reflect.DeepEqual(mount["maps"], []any{"array", "ringbuf"}) {
		t.Errorf("mount = %#v", mount)
	}
	if caps, _ := out["caps"].(map[string]any); caps["CAP_BPF"] != true || caps["CAP_NET_ADMIN"] != false {
		t.Errorf("caps = %#v", out["caps"])
	}
	if _, ok := out["probes"]; ok {
		t.Error("probes reported although none ran")
	}
}

func TestJSONWithoutToken(t *testing.T) {
	out := decode(t, failedResult())
	for _, k := range []string{"cmds", "maps", "progs", "attachs", "attempts"} {
		if v, ok := out[k].([]any); !ok || len(v) != 0 {
			t.Errorf("%s = %#v, want []", k, out[k])
		}
	}
	if out["mount"] != nil || out["info_source"] != "" {
		t.Errorf("mount = %#v, info_source = %#v", out["mount"], out["info_source"])
	}
	token, _ := out["token"].(map[string]any)
	if token["ok"] != false || !strings.Contains(token["error"].(string), "no bpffs is mounted here") {
		t.Errorf("token = %#v", token)
	}
	warnings, _ := out["warnings"].([]any)
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0].(string), "no BPF token: no bpffs") {
		t.Errorf("warnings = %#v", warnings)
	}
}

func TestJSONProbingDisagreement(t *testing.T) {
	r := tokenResult()
	// The mount says more than the token: reported, and not hidden by probing.
	more := *r.mountMasks
	more[spec.KindMaps] |= names(spec.KindMaps, "hash")
	r.mountMasks = &more
	r.notes = nil
	r.verify()
	r.warnings = r.collectWarnings()
	out := decode(t, r)
	mount, _ := out["mount"].(map[string]any)
	if mount["matches_token"] != false {
		t.Errorf("matches_token = %#v", mount["matches_token"])
	}
	if w := missingFrom(r.warnings, []string{`disagree on maps: token "array:ringbuf", mount "hash:array:ringbuf"`}); w != "" {
		t.Errorf("warnings %q lack %q", r.warnings, w)
	}
}

func TestText(t *testing.T) {
	tests := []struct {
		name string
		r    *result
		want []string
	}{
		{"token", tokenResult(), []string{
			"bpffs:    /sys/fs/bpf (found in /proc/self/mountinfo)\n",
			"token:    created\n",
			"from the token info (BPF_OBJ_GET_INFO_BY_FD); token info and mount options agree\n",
			"  cmds:    map_create prog_load\n",
			"  maps:    array ringbuf\n",
			"  progs:   socket_filter\n",
			"  attachs: cgroup_inet_ingress\n",
			"caps:     CAP_BPF yes, CAP_NET_ADMIN no, CAP_PERFMON no, CAP_SYS_ADMIN no (effective)\n",
			"seccomp:  filter; lets bpf() through",
			"userns:   a container's (uid_map 0 100000 65536)\n",
			"cgroupns: its own (this process at /)\n",
		}},
		{"no token", failedResult(), []string{
			"bpffs:    none found\n",
			"token:    NOT created: no bpffs is mounted here",
			"warnings:\n  - no BPF token: no bpffs",
		}},
		{"cgroup types in the host's cgroup namespace", func() *result {
			r := tokenResult()
			r.env.CgroupNS = cgroupNSState{Cgroup: "/system.slice/libpod-1a2b.scope"}
			r.info[spec.KindProgs] |= names(spec.KindProgs, "cgroup_skb")
			r.granted, r.mountMasks = *r.info, r.info
			r.warnings = r.collectWarnings()
			return r
		}(), []string{
			"cgroupns: likely the host's (this process in /system.slice/libpod-1a2b.scope, not at the root of a namespace of its own)\n",
			"  - cgroup program types are delegated (cgroup_skb) and this process is in cgroup /system.slice/libpod-1a2b.scope",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeText(&b, tt.r.report()); err != nil {
				t.Fatal(err)
			}
			if m := missingFrom([]string{b.String()}, tt.want); m != "" {
				t.Errorf("text lacks %q:\n%s", m, b.String())
			}
		})
	}
}

func TestTextProbes(t *testing.T) {
	var b strings.Builder
	writeProbes(&b, &probeResults{
		Cmds:     map[string]string{"map_create": "ok", "prog_load": "EPERM", "btf_load": "EPERM"},
		Maps:     map[string]string{"ringbuf": "ok", "array": "ok", "hash": "EPERM", "struct_ops": "ENOTSUPP"},
		Progs:    map[string]string{"lsm": outcomeUntested, "xdp": "EPERM"},
		Attachs:  map[string]string{"xdp": "EPERM"},
		ProgPair: "",
	})
	want := "probes:\n" +
		"  cmds:    map_create ok, 2 others EPERM\n" +
		"  maps:    array ok, struct_ops ENOTSUPP, ringbuf ok, 1 other EPERM\n" +
		"  progs:   lsm untested, 1 other EPERM\n" +
		"  attachs: all EPERM\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// -want says, per profile, what the token and the process lack, with the
// fix; the profiles line names what the token covers.
func TestWantProfiles(t *testing.T) {
	sf, _ := spec.LookupProfile("socket-filter")
	xdp, _ := spec.LookupProfile("xdp")
	onlyBPF := environment{Caps: map[string]bool{"CAP_BPF": true}}
	tests := []struct {
		name    string
		granted spec.Masks
		env     environment
		want    []string
		ok      []bool
		text    []string // substrings of describeWant, per profile
	}{
		{"covered", sf.Masks, onlyBPF, []string{"socket-filter"}, []bool{true}, []string{"ok: "}},
		{"items and a capability missing", sf.Masks, onlyBPF, []string{"xdp"}, []bool{false},
			[]string{"MISSING progs xdp, attachs xdp, capability CAP_NET_ADMIN: ask for bpf.token/profile=xdp; add CAP_NET_ADMIN (podman: --cap-add NET_ADMIN"}},
		{"capability only", xdp.Masks, onlyBPF, []string{"socket-filter", "xdp"}, []bool{true, false},
			[]string{"ok: ", "MISSING capability CAP_NET_ADMIN: add CAP_NET_ADMIN"}},
		{"capabilities unknown are not blamed", xdp.Masks, environment{}, []string{"xdp"}, []bool{true}, []string{"ok: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := wantProfiles(tt.want, tt.granted, tt.env)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d reports, want %d", len(got), len(tt.want))
			}
			for i, w := range got {
				if w.Profile != tt.want[i] || w.OK != tt.ok[i] || !strings.Contains(describeWant(w), tt.text[i]) {
					t.Errorf("%s: ok %v, %q; want ok %v, containing %q", w.Profile, w.OK, describeWant(w), tt.ok[i], tt.text[i])
				}
			}
		})
	}
	r := &result{tokenOK: true, granted: xdp.Masks, env: onlyBPF, want: []string{"xdp"}}
	rep := r.report()
	if strings.Join(rep.Profiles, ",") != "socket-filter,xdp" || len(rep.Want) != 1 || rep.Want[0].OK {
		t.Errorf("report: profiles %v, want %+v", rep.Profiles, rep.Want)
	}
	var b strings.Builder
	if err := writeText(&b, rep); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"profiles: socket-filter, xdp (the token delegates everything these need)", "want:     xdp: MISSING capability CAP_NET_ADMIN"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("text lacks %q:\n%s", s, b.String())
		}
	}
}
