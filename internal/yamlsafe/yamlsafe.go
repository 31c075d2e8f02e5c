// Package yamlsafe refuses YAML whose decoding could cost far more than its
// size, before anything decodes it.
//
// Its one hard constraint: its own cost is linear in the input, whatever the
// input: it never expands what it checks.
//
// A YAML decoder expands aliases: a 57 KB document with one 30,000-byte
// anchor and 9,000 aliases of it stands for 270 MB of text, and decoding it
// with sigs.k8s.io/yaml takes seconds and gigabytes. Check parses the
// document into a go.yaml.in/yaml/v3 Node tree, which keeps an alias as a
// reference to its anchor instead of a copy, so parsing costs time and memory
// in proportion to the input (a few hundred bytes per token; a count of the
// bytes that start tokens, before the parse, bounds that too); it then walks
// the tree and refuses anchors, aliases, merge keys ("<<"), explicit tags
// outside YAML's core schema, and trees deeper or larger than the Limits.
// What passes holds no reference that could expand, and can be handed to a
// decoder that reads the first document only, as yaml.Unmarshal (v2 or v3)
// and sigs.k8s.io/yaml do: Check looks no further.
package yamlsafe

import (
	"errors"
	"fmt"

	yaml "go.yaml.in/yaml/v3"
)

// Sentinels, matched with errors.Is on the *Error Check returns.
var (
	// ErrAlias: the document uses an anchor (&a), an alias (*a) or a merge
	// key (<<).
	ErrAlias = errors.New("uses YAML anchors or aliases (&, *, <<)")
	// ErrTag: the document tags a node explicitly with a tag outside the
	// core schema (!!str, !!int, !!float, !!bool, !!null, !!seq, !!map).
	ErrTag = errors.New("uses a YAML tag (!)")
	// ErrTooDeep: collections nest deeper than Limits.MaxDepth.
	ErrTooDeep = errors.New("nests too deeply")
	// ErrTooManyNodes: the document has more than Limits.MaxNodes nodes.
	ErrTooManyNodes = errors.New("has too many items")
	// ErrTooManyIndicators: the document has more than
	// Limits.MaxIndicators bytes that can start a YAML token.
	ErrTooManyIndicators = errors.New("has too many YAML indicators (, : - ? [ ] { } # & * ! | > %)")
)

// Error is a refusal by Check: one of the sentinels, and where.
type Error struct {
	Line, Column int   // of the offending node, from 1
	Err          error // one of the sentinels
	Limit        int   // the limit exceeded, for ErrTooDeep, ErrTooManyNodes, ErrTooManyIndicators
}

func (e *Error) Error() string {
	if e.Limit > 0 {
		return fmt.Sprintf("line %d: %v (more than %d)", e.Line, e.Err, e.Limit)
	}
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// Limits bound the shape of a document. Zero means no limit.
type Limits struct {
	// MaxDepth is how deeply collections may nest: a top-level map of
	// scalars has depth 1, a map of lists of scalars depth 2.
	MaxDepth int
	// MaxNodes is how many nodes (keys, values, items) the document may
	// have in all.
	MaxNodes int
	// MaxIndicators is how many of the bytes , : - ? [ ] { } # & * ! | > %
	// the document may hold, in quoted strings and comments too. It bounds
	// the parse itself, which MaxNodes cannot: the parser allocates a few
	// hundred bytes per token and node, and every token and node but the
	// first needs one of these bytes (blank lines and long scalars cost
	// little). A byte count is cruder than a node count, so make it a few
	// times MaxNodes.
	MaxIndicators int
}

// indicators marks the bytes MaxIndicators counts.
var indicators = func() (t [256]bool) {
	for _, c := range []byte(",:-?[]{}#&*!|>%") {
		t[c] = true
	}
	return t
}()

// coreTags are the explicit tags Check lets through: they only restate
// what a plain scalar or collection already is.
var coreTags = map[string]bool{
	"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true,
	"!!seq": true, "!!map": true,
}

// Check parses the first document of data and returns nil when it is free
// of anchors, aliases, merge keys and non-core tags, and within lim; an
// *Error when it is not; or the parser's error when data is not YAML.
// Its cost is linear in len(data), and in MaxIndicators when that is set: it
// never expands an alias.
func Check(data []byte, lim Limits) error {
	if lim.MaxIndicators > 0 {
		n, line := 0, 1
		for _, c := range data {
			if c == '\n' {
				line++
			}
			if indicators[c] {
				if n++; n > lim.MaxIndicators {
					return &Error{Line: line, Err: ErrTooManyIndicators, Limit: lim.MaxIndicators}
				}
			}
		}
	}
	var doc yaml.Node
	// Decoding into a *yaml.Node stores the parsed tree as is: aliases stay
	// AliasNodes pointing at their anchor.
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	nodes := 0
	return walk(&doc, 0, lim, &nodes)
}

// walk checks n, a node within depth collections, and its children.
func walk(n *yaml.Node, depth int, lim Limits, nodes *int) error {
	refuse := func(err error, limit int) error {
		return &Error{Line: n.Line, Column: n.Column, Err: err, Limit: limit}
	}
	if n.Kind != yaml.DocumentNode {
		*nodes++
		if lim.MaxNodes > 0 && *nodes > lim.MaxNodes {
			return refuse(ErrTooManyNodes, lim.MaxNodes)
		}
	}
	switch {
	case n.Kind == yaml.AliasNode || n.Anchor != "":
		return refuse(ErrAlias, 0)
	case n.Style&yaml.TaggedStyle != 0 && !coreTags[n.Tag]:
		return refuse(ErrTag, 0)
	}
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		depth++
		if lim.MaxDepth > 0 && depth > lim.MaxDepth {
			return refuse(ErrTooDeep, lim.MaxDepth)
		}
	}
	for i, c := range n.Content {
		// A plain << key is a merge (v3 tags it !!merge implicitly, which
		// the tag check does not see); a quoted one is not, but no key
		// anyone means is "<<", so both are refused.
		if n.Kind == yaml.MappingNode && i%2 == 0 && c.Kind == yaml.ScalarNode &&
			(c.Value == "<<" || c.Tag == "!!merge") {
			return &Error{Line: c.Line, Column: c.Column, Err: ErrAlias}
		}
		if err := walk(c, depth, lim, nodes); err != nil {
			return err
		}
	}
	return nil
}
