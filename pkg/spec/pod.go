package spec

import (
	"bytes"
	"encoding/json"
	"errors"

	"strings"

	"sigs.k8s.io/yaml"
)

// AnnotationContainerPrefix starts a pod annotation that sets the delegation
// of one container of the pod: "bpf.token/container.<name>" holds a YAML or
// JSON map with the fields cmds, maps, progs, attachs and path (each a
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
	var f containerFields
	if err := yaml.UnmarshalStrict([]byte(value), &f); err != nil || bytes.TrimSpace([]byte(value)) == nil {
		detail := "is empty"
		if err != nil {
			detail = "is not a YAML/JSON map of cmds, maps, progs, attachs, path: " + oneLineErr(err)
		}
		return nil, &AnnotationError{Key: key, Err: ErrBadContainerValue,
			Detail: detail + `; or set it to "none" to opt the container out`}
	}
	ann := map[string]string{}
	for k, v := range map[string]string{
		AnnotationCmds: string(f.Cmds), AnnotationMaps: string(f.Maps),
		AnnotationProgs: string(f.Progs), AnnotationAttachs: string(f.Attachs), AnnotationPath: f.Path,
	} {
		if v != "" {
			ann[k] = v
		}
	}
	if len(ann) == 0 {
		return nil, &AnnotationError{Key: key, Err: ErrNoDelegation,
			Detail: `sets no field: set at least one of cmds, maps, progs, attachs, or "none" to opt out`}
	}
	d, err := ParseAnnotations(ann)
	var ae *AnnotationError
	if errors.As(err, &ae) {
		ae.Within = key
	}
	return d, err
}

// ErrBadContainerValue means a bpf.token/container.<name> annotation is not
// a map of the known fields.
var ErrBadContainerValue = errors.New("bad per-container value")

func oneLineErr(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
