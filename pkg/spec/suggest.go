package spec

import (
	"slices"
	"strings"
)

// unknownKeyError suggests the known key closest to key. Keys are
// case-sensitive (annotation keys are), so "bpf.token/CMDS" is unknown, but
// the comparison ignores case so that it still points at "bpf.token/cmds".
// Users who copy the mount option name ("bpf.token/delegate_maps") get the
// matching key too.
func unknownKeyError(key string) *AnnotationError {
	suffix := strings.TrimPrefix(key, AnnotationPrefix)
	lower := strings.ToLower(suffix)
	for _, p := range []string{"delegate_", "delegate-"} {
		lower = strings.TrimPrefix(lower, p)
	}
	cands := make([]string, len(validAnnotationKeys))
	for i, k := range validAnnotationKeys {
		cands[i] = strings.TrimPrefix(k, AnnotationPrefix)
	}
	var sugg []string
	for _, s := range suggestClosest(lower, cands, true) {
		sugg = append(sugg, AnnotationPrefix+s)
	}
	return &AnnotationError{Key: clipEcho(key), Err: ErrUnknownKey, Suggestions: sugg}
}

// suggestClosest returns up to maxSuggestions candidates closest to s, best first
// (ties in candidate order), among those close enough to be a plausible typo.
// With onlyBest, only the candidates at the smallest distance are kept: there
// are just five keys, and "bpf.token/cmd" should not also suggest others.
func suggestClosest(s string, cands []string, onlyBest bool) []string {
	// Nothing valid is this long; skip the quadratic work on junk.
	if len(s) > 2*maxEchoLen {
		return nil
	}
	// Allow about one edit per three characters: "hsh" -> "hash" but not
	// "foo" -> "xdp". Beyond five edits a suggestion is more noise than help.
	limit := min(max(2, len(s)/3), 5)
	type scored struct {
		name string
		dist int
	}
	var hits []scored
	for _, c := range cands {
		d := limit + 1 // the length difference alone rules c out
		if diff := len(s) - len(c); -limit <= diff && diff <= limit {
			d = editDistance(s, c)
		}
		if d > limit {
			// "socket" for "socket_filter": too far for a typo, but an
			// obvious abbreviation. Rank it after the real typos.
			if len(s) < 3 || !strings.HasPrefix(c, s) {
				continue
			}
			d = limit + 1
		}
		hits = append(hits, scored{c, d})
	}
	slices.SortStableFunc(hits, func(a, b scored) int { return a.dist - b.dist })
	var out []string
	for _, h := range hits {
		if len(out) == maxSuggestions || onlyBest && h.dist > hits[0].dist {
			break
		}
		out = append(out, h.name)
	}
	return out
}

// editDistance is the optimal string alignment distance between a and b
// (Levenshtein plus adjacent transpositions, the most common typo), on bytes:
// every candidate is ASCII.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
