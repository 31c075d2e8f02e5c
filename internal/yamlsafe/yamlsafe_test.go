package yamlsafe

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	lim := Limits{MaxDepth: 3, MaxNodes: 20, MaxIndicators: 40}
	tests := []struct {
		name, in string
		lim      Limits
		want     error // a sentinel; errAny for a parse error; nil to pass
		line     int
	}{
		{name: "JSON", in: `{"cmds":"map_create","maps":["array","hash"],"path":"/run/bpf"}`},
		{name: "block YAML", in: "cmds: map_create\nmaps:\n  - array\n  - hash\n"},
		{name: "empty", in: ""},
		{name: "comment only", in: "# nothing\n"},
		{name: "& and * in strings, comments, block and plain scalars",
			in: "a: \"&x *y\"\nb: '*z'\nc: p*q&r  # &s *t <<\nd: |\n  &u\n  *v\n"},
		{name: "quoted key <<", in: `{"<<": "x"}`, want: ErrAlias, line: 1},
		{name: "core tags", in: "a: !!str 1\nb: !!int 2\nc: !!seq [x]\nd: !!map {}\ne: !!null ~\nf: !!bool true\ng: !!float 1.5\n"},
		{name: "verbatim core tag", in: "a: !<tag:yaml.org,2002:str> x\n"},
		{name: "non-specific tag", in: "a: ! x\n"},

		{name: "anchor on a scalar", in: "a: x\nb: &n y\n", want: ErrAlias, line: 2},
		{name: "anchor on a list", in: "a: &n [x]\n", want: ErrAlias, line: 1},
		{name: "anchor on a map", in: "&n {a: x}\n", want: ErrAlias, line: 1},
		{name: "anchor on a key", in: "&k a: x\n", want: ErrAlias, line: 1},
		{name: "alias (its anchor comes first, but is on line 2)", in: "a: x\nb: &n y\nc: *n\n", want: ErrAlias, line: 2},
		{name: "unknown alias: the parser refuses", in: "a: *n\n", want: errAny},
		{name: "merge key with a map", in: "a: x\n<<: {b: y}\n", want: ErrAlias, line: 2},
		{name: "merge key in a flow map", in: "{a: x, <<: {b: y}}", want: ErrAlias, line: 1},
		{name: "explicit merge tag", in: "a: x\n!!merge b: {c: y}\n", want: ErrAlias, line: 2},
		{name: "custom tag", in: "a: !foo x\n", want: ErrTag, line: 1},
		{name: "custom tag on a list", in: "a:\n  !foo [x]\n", want: ErrTag, line: 2},
		{name: "binary tag", in: "a: !!binary eA==\n", want: ErrTag, line: 1},
		{name: "tag through %TAG", in: "%TAG !e! tag:example.com,2000:\n---\na: !e!x y\n", want: ErrTag, line: 3},
		{name: "core tag through %TAG", in: "%TAG !c! tag:yaml.org,2002:\n---\na: !c!str y\n"},

		{name: "depth 3", in: "a: [[x]]", lim: lim},
		{name: "depth 4", in: "a: [[[x]]]", lim: lim, want: ErrTooDeep, line: 1},
		{name: "depth 4 in block style", in: "a:\n  - b:\n    - - x\n", lim: lim, want: ErrTooDeep, line: 3},
		{name: "20 nodes", in: "[" + strings.Repeat("x,", 18) + "x]", lim: lim},
		{name: "21 nodes", in: "[" + strings.Repeat("x,", 19) + "x]", lim: lim, want: ErrTooManyNodes, line: 1},
		{name: "40 indicators", in: "# " + strings.Repeat("-", 39), lim: lim},
		{name: "41 indicators, on line 2", in: "a: b\n# " + strings.Repeat("-", 40), lim: lim, want: ErrTooManyIndicators, line: 2},
		{name: "no limits", in: "a: " + strings.Repeat("[", 100) + strings.Repeat("]", 100)},

		{name: "not YAML", in: "a: [x", want: errAny},
		{name: "tab indentation", in: "a:\n\t- x\n", want: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check([]byte(tt.in), tt.lim)
			var e *Error
			switch {
			case tt.want == nil:
				if err != nil {
					t.Fatalf("Check(%q) = %v, want nil", tt.in, err)
				}
			case tt.want == errAny:
				if err == nil || errors.As(err, &e) {
					t.Fatalf("Check(%q) = %v, want the parser's error", tt.in, err)
				}
			case !errors.Is(err, tt.want) || !errors.As(err, &e):
				t.Fatalf("Check(%q) = %v, want %v", tt.in, err, tt.want)
			case e.Line != tt.line:
				t.Errorf("Check(%q) = %v: line %d, want %d", tt.in, err, e.Line, tt.line)
			}
		})
	}
}

// errAny stands for the parser's own error in TestCheck.
var errAny = errors.New("any parser error")

func TestErrorString(t *testing.T) {
	if got, want := (&Error{Line: 2, Column: 5, Err: ErrAlias}).Error(), "line 2: uses YAML anchors or aliases (&, *, <<)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := (&Error{Line: 1, Err: ErrTooDeep, Limit: 8}).Error(), "line 1: nests too deeply (more than 8)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// An alias bomb is refused for what the parsed tree costs, whatever it would
// expand to: 1,000 aliases of a 10,000-byte anchor stand for 10 MB.
func TestCheckAliasBombCost(t *testing.T) {
	in := []byte("a: &a " + strings.Repeat("x", 10000) + "\nb: [" + strings.Repeat("*a,", 999) + "*a]\n")
	allocs := testing.AllocsPerRun(3, func() {
		if err := Check(in, Limits{}); !errors.Is(err, ErrAlias) {
			t.Fatalf("Check = %v, want ErrAlias", err)
		}
	})
	// A few per token and node, not per byte of the expansion.
	if allocs > 20000 {
		t.Errorf("%.0f allocations", allocs)
	}
}
