package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/yaml"

	"github.com/nri-bpftoken/nri-bpftoken/internal/yamlsafe"
)

// AnnotationContainerPrefix starts a pod annotation that sets the delegation
// of one container of the pod: "bpf.token/container.<name>" holds a YAML or
// JSON map with the fields cmds, maps, progs, attachs, profile and path (each a
// string in the annotation syntax, or a list of items), or "none".
const AnnotationContainerPrefix = AnnotationPrefix + "container."

// OptOut is the value of a bpf.token/container.<name> annotation that gives
// that container no delegation, whatever the pod-wide keys say.
const OptOut = "none"

// ForContainer resolves what one container of a pod asked for, or nil.
// Annotations the runtime passes for the container itself win, as they do
// for the OCI hook; then the pod's bpf.token/container.<name>; then the
// pod-wide bpf.token/ keys, which apply to every container of the pod.
func ForContainer(podAnnotations, containerAnnotations map[string]string, name string) (*Delegation, error) {
	if own := delegateKeys(containerAnnotations); len(own) > 0 {
		return ParseAnnotations(own)
	}
	key := AnnotationContainerPrefix + name
	if value, ok := podAnnotations[key]; ok {
		return parseContainerValue(key, value)
	}
	return ParseAnnotations(delegateKeys(podAnnotations))
}

// delegateKeys returns the bpf.token/ annotations that are not
// per-container ones.
func delegateKeys(ann map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range ann {
		if strings.HasPrefix(k, AnnotationPrefix) && !strings.HasPrefix(k, AnnotationContainerPrefix) {
			out[k] = v
		}
	}
	return out
}

// containerFields is the map in a bpf.token/container.<name> annotation.
type containerFields struct {
	Cmds    Items  `json:"cmds"`
	Maps    Items  `json:"maps"`
	Progs   Items  `json:"progs"`
	Attachs Items  `json:"attachs"`
	Profile Items  `json:"profile"`
	Path    string `json:"path"`
}

// Items is a list in a YAML or JSON document: "a:b", "a,b" or ["a", "b"],
// kept in the annotation syntax for Kind.ParseList.
type Items string

func (l *Items) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*l = Items(s)
		return nil
	}
	var items []string
	if err := json.Unmarshal(data, &items); err != nil {
		return errors.New("want a string or a list of strings")
	}
	*l = Items(strings.Join(items, ","))
	return nil
}

func parseContainerValue(key, value string) (*Delegation, error) {
	if strings.TrimSpace(value) == OptOut {
		return nil, nil
	}
	if len(value) > maxAnnotationValueLen {
		return nil, tooLongError(key, value)
	}
	if err := checkContainerValue(value); err != nil {
		return nil, &AnnotationError{Key: key, Err: ErrBadContainerValue, Detail: err.Error()}
	}
	var f containerFields
	if err := yaml.UnmarshalStrict([]byte(value), &f); err != nil || bytes.TrimSpace([]byte(value)) == nil {
		detail := "is empty"
		if err != nil {
			detail = "is not a YAML/JSON map of cmds, maps, progs, attachs, profile, path: " + parserErr(err)
		}
		return nil, &AnnotationError{Key: key, Err: ErrBadContainerValue,
			Detail: detail + `; or set it to "none" to opt the container out`}
	}
	ann := map[string]string{}
	for k, v := range map[string]string{
		AnnotationCmds: string(f.Cmds), AnnotationMaps: string(f.Maps),
		AnnotationProgs: string(f.Progs), AnnotationAttachs: string(f.Attachs),
		AnnotationProfile: string(f.Profile), AnnotationPath: f.Path,
	} {
		if v != "" {
			ann[k] = v
		}
	}
	if len(ann) == 0 {
		return nil, &AnnotationError{Key: key, Err: ErrNoDelegation,
			Detail: `sets no field: set at least one of cmds, maps, progs, attachs, profile, or "none" to opt out`}
	}
	d, err := ParseAnnotations(ann)
	var ae *AnnotationError
	if errors.As(err, &ae) {
		ae.Within = key
	}
	return d, err
}

// containerValueLimits bound the shape of a per-container value. Real ones
// are a map of strings or lists of strings (depth 2); listing every name of
// every enum takes fewer than 300 nodes (no enum has more than 64 names).
// Such a value has about as many of the bytes MaxIndicators counts as
// nodes, plus what a path (4096 bytes at most) and comments hold. The limits
// leave room for mistakes to get the decoder's own error, and keep the cost
// of any value within the size limit to a few megabytes.
var containerValueLimits = yamlsafe.Limits{MaxDepth: 8, MaxNodes: 1024, MaxIndicators: 8192}

// checkContainerValue refuses, before anything decodes it, a value whose
// decoding could cost more than its size: anchors, aliases and merge keys
// (which the decoder expands: 57 KB can stand for gigabytes), tags other
// than the core ones, deep nesting, and more items than any real value has.
// Its cost is linear in the size of the value. The error is the detail of
// an ErrBadContainerValue.
func checkContainerValue(value string) error {
	err := yamlsafe.Check([]byte(value), containerValueLimits)
	var ye *yamlsafe.Error
	if !errors.As(err, &ye) {
		if err != nil {
			return errors.New("is not a YAML/JSON map of cmds, maps, progs, attachs, profile, path: " + parserErr(err) +
				`; or set it to "none" to opt the container out`)
		}
		return nil
	}
	var fix string
	switch ye.Err {
	case yamlsafe.ErrAlias:
		fix = "which are not accepted here: write the lists out"
	case yamlsafe.ErrTag:
		fix = "which is not accepted here: leave it out"
	case yamlsafe.ErrTooDeep:
		fix = fmt.Sprintf("more than %d levels: the value is a map of strings or lists of strings", ye.Limit)
	case yamlsafe.ErrTooManyNodes:
		fix = fmt.Sprintf("more than %d: list each name once, or use \"any\"", ye.Limit)
	case yamlsafe.ErrTooManyIndicators:
		fix = fmt.Sprintf("more than %d: a real value has a few hundred", ye.Limit)
	}
	return fmt.Errorf("%v at line %d, %s", ye.Err, ye.Line, fix)
}

// ErrBadContainerValue means a bpf.token/container.<name> annotation is not
// a map of the known fields.
var ErrBadContainerValue = errors.New("bad per-container value")

// maxParserErrLen bounds what a decoder's error adds to a message: they
// quote the input (an unknown field, an unknown anchor), which may be up to
// the size limit long.
const maxParserErrLen = 200

// parserErr renders a decoder's error on one line, without control
// characters, clipped to about maxParserErrLen bytes.
func parserErr(err error) string {
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return utf8.RuneError
		}
		return r
	}, OneLine(err.Error()))
	if len(s) <= maxParserErrLen {
		return s
	}
	cut := maxParserErrLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
