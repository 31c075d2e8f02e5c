package doctor_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nri-bpftoken/nri-bpftoken/pkg/doctor"
)

// Check a node for an NRI plugin and act on the verdicts. Run as root: the
// token check starts a stand-in container, this very program re-executed,
// whose main must first hand over to RunStandin when IsStandin(os.Args).
func ExampleRun() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results := doctor.Run(ctx, doctor.Options{NRI: true, NRISocket: "/run/containerd/nri.sock"})
	for _, r := range results {
		if r.Verdict != doctor.OK {
			fmt.Printf("%s: %s (fix: %s)\n", r.Name, r.Detail, r.Fix)
		}
	}
	if !doctor.CanWork(results) {
		os.Exit(1)
	}
}
