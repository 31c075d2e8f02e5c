// Package version holds the release version, set at build time with
// -ldflags "-X github.com/nri-bpftoken/nri-bpftoken/internal/version.Version=...".
//
// Its one constraint: Version is a plain string variable, the only kind the
// linker can set; nothing computes it at run time.
package version

// Version is the release version of the binaries.
var Version = "dev"
