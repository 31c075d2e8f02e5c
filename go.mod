module github.com/nri-bpftoken/nri-bpftoken

go 1.26.8

require (
	github.com/cilium/ebpf v0.22.0 // indirect
	github.com/opencontainers/runtime-spec v1.3.0 // indirect
	github.com/sirupsen/logrus v1.10.2 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
