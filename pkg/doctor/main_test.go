package doctor

import (
	"os"
	"testing"
)

// TestMain hands over to the stand-in when the token check re-executes this
// test binary as one, as the programs that run the checks do in main.
func TestMain(m *testing.M) {
	if IsStandin(os.Args) {
		os.Exit(RunStandin())
	}
	os.Exit(m.Run())
}

func TestIsStandin(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want bool
	}{
		{"as the token check starts it", []string{standinName, standinArg}, true},
		{"from any path", []string{"/usr/bin/nri-bpftoken", standinArg}, true},
		{"no arguments", []string{"nri-bpftoken"}, false},
		{"a subcommand", []string{"nri-bpftoken", "doctor"}, false},
		{"more arguments", []string{"nri-bpftoken", standinArg, "x"}, false},
		{"the argument elsewhere", []string{"nri-bpftoken", "doctor", standinArg}, false},
		{"no argv", nil, false},
	}
	for _, tt := range tests {
		if got := IsStandin(tt.args); got != tt.want {
			t.Errorf("%s: IsStandin(%q) = %v, want %v", tt.name, tt.args, got, tt.want)
		}
	}
}

func TestCanWork(t *testing.T) {
	sample := []Result{
		{Name: CheckKernel, Verdict: OK, Detail: "Linux 6.18"},
		{Name: CheckBTF, Verdict: Warn, Detail: "no BTF", Fix: "use BTF"},
		{Name: CheckNRI, Verdict: Fail, Detail: "nobody listens", Fix: "enable NRI"},
	}
	if CanWork(sample) || !CanWork(sample[:2]) || !CanWork(nil) {
		t.Error("CanWork must be false exactly when a check failed")
	}
}
