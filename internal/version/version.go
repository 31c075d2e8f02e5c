// Package version holds the release version, set at build time with
// -ldflags "-X github.com/nri-bpftoken/nri-bpftoken/internal/version.Version=...".
package version

// Version is the release version of the binaries.
var Version = "dev"
