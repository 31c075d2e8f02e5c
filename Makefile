# nri-bpftoken

# Go lives in /usr/local/go on the machines this targets.
export PATH := $(PATH):/usr/local/go/bin
GO        ?= go
PREFIX    ?= /usr
DESTDIR   ?=
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
SHARED    ?= $(abspath ../shared)
# Fuzz budgets are execution counts, not durations: with a duration, Go 1.26's
# fuzz coordinator can report its own stop deadline as a failure
# ("context deadline exceeded", golang/go#75804, fixed in Go 1.27). About 20 s
# each on 2 cores.
FUZZ_SPEC_EXECS   ?= 200000x
FUZZ_POLICY_EXECS ?= 100000x
FUZZ_CONTAINER_EXECS ?= 50000x
FUZZ_SERVICE_EXECS ?= 100000x
BENCH_N   ?= 200
# One bats suite instead of all: make test-bats SUITE=podman (test/bats/podman.bats).
SUITE     ?=
# The linter, pinned: `go run` fetches it from the Go module proxy once.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

HOOKS_LIBEXEC := $(PREFIX)/libexec/oci/hooks.d
HOOKS_JSON    := $(PREFIX)/share/containers/oci/hooks.d
SYSTEMD_UNITS ?= $(PREFIX)/lib/systemd/system

# The hook and the plugin are linked statically (cgo, for pkg/userns/fscontext):
# the hook starts on every annotated container, and a static binary starts
# without the dynamic loader's work; the plugin runs in minimal images.
# Against musl when musl-gcc is there (Debian: musl-tools): the Go runtime
# creates its threads through the C library's pthread_create, and with musl
# the hook starts about 0.5 ms sooner than with glibc (docs/performance.md).
# Without musl-gcc, static glibc.
STATIC_CC ?= $(shell command -v musl-gcc 2>/dev/null || echo gcc)
HOOK_LDFLAGS := -s -w -X github.com/nri-bpftoken/nri-bpftoken/internal/version.Version=$(VERSION) \
	-linkmode external -extldflags=-static
STATIC_LDFLAGS := -s -w -X github.com/nri-bpftoken/nri-bpftoken/internal/version.Version=$(VERSION)

.PHONY: all build image print-version test-k8s test test-unit test-go test-fuzz test-bats deps vet lint bench install uninstall demo clean

all: build

build: bin/oci-hook bin/nri-bpftoken bin/bpftokend bin/tokencount bin/bpfworkload bin/bpftoken-probe

# The CO-RE workload's BPF object (bpfworkload core -obj), compiled by clang
# with BTF: cilium/ebpf relocates it against the running kernel's BTF.
CORE_OBJ ?= bin/core.bpf.o
CLANG    ?= clang

bin/oci-hook: FORCE
	CC=$(STATIC_CC) CGO_ENABLED=1 $(GO) build -trimpath -ldflags '$(HOOK_LDFLAGS)' -o $@ ./cmd/oci-hook

bin/nri-bpftoken: FORCE
	CC=$(STATIC_CC) CGO_ENABLED=1 $(GO) build -trimpath -tags netgo,osusergo -ldflags '$(HOOK_LDFLAGS)' -o $@ ./cmd/nri-bpftoken

# bpftokend looks users and groups up in /etc/passwd and /etc/group itself
# (osusergo): a static binary cannot load glibc's NSS modules.
bin/bpftokend: FORCE
	CC=$(STATIC_CC) CGO_ENABLED=1 $(GO) build -trimpath -tags netgo,osusergo -ldflags '$(HOOK_LDFLAGS)' -o $@ ./cmd/bpftokend

bin/tokencount: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(STATIC_LDFLAGS)' -o $@ ./examples/tokencount

# The eBPF workloads the bats suites run in containers (test/bats/workloads.bats).
bin/bpfworkload: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(STATIC_LDFLAGS)' -o $@ ./examples/workloads

$(CORE_OBJ): examples/workloads/bpf/core.bpf.c
	@mkdir -p $(dir $@)
	$(CLANG) -O2 -g -target bpf -Wall -Werror -c $< -o $@

# Writes image archives (tools/mkimage: go-containerregistry).
bin/mkimage: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -o $@ ./tools/mkimage

# Images, built locally without a registry or a daemon (tools/mkimage), as
# `docker save` archives that `ctr -n k8s.io images import` and `podman load`
# read: the plugin (its static binary on an empty base; docs/kubernetes.md)
# and the example workloads (busybox, bpfworkload with its CO-RE object,
# tokencount, bpftoken-probe).
IMAGE_REPO     ?= localhost
IMAGE_TAG      ?= $(subst +,-,$(VERSION))
IMAGE_SOURCE   ?= https://github.com/nri-bpftoken/nri-bpftoken
IMAGE_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
IMAGE_LABELS    = -label org.opencontainers.image.version=$(VERSION) \
	-label org.opencontainers.image.source=$(IMAGE_SOURCE) \
	-label org.opencontainers.image.revision=$(IMAGE_REVISION) \
	-label org.opencontainers.image.licenses=Apache-2.0

image: bin/images/nri-bpftoken.tar bin/images/bpftoken-workload.tar

# The version the binaries and images carry (the images' tag).
print-version:
	@echo $(IMAGE_TAG)

bin/images/nri-bpftoken.tar: bin/nri-bpftoken bin/mkimage
	@mkdir -p $(dir $@)
	bin/mkimage -o $@ -tag $(IMAGE_REPO)/nri-bpftoken:$(IMAGE_TAG) $(IMAGE_LABELS) \
		-label org.opencontainers.image.title=nri-bpftoken \
		-label "org.opencontainers.image.description=NRI plugin: BPF tokens for user-namespaced pods" \
		-file bin/nri-bpftoken:/nri-bpftoken -entrypoint '["/nri-bpftoken"]'

bin/images/bpftoken-workload.tar: bin/tokencount bin/bpfworkload bin/bpftoken-probe $(CORE_OBJ) bin/mkimage
	@mkdir -p $(dir $@)
	test/images/build-image.sh --tokencount bin/tokencount --bpfworkload bin/bpfworkload \
		--core-obj $(CORE_OBJ) --out bin/images/workload-rootfs.tar >/dev/null
	bin/mkimage -o $@ -tag $(IMAGE_REPO)/bpftoken-workload:$(IMAGE_TAG) $(IMAGE_LABELS) \
		-label org.opencontainers.image.title=bpftoken-workload \
		-label "org.opencontainers.image.description=eBPF workloads through a BPF token (docs/workloads.md)" \
		-layer bin/images/workload-rootfs.tar -file bin/bpftoken-probe:/usr/local/bin/bpftoken-probe \
		-cmd '["/bin/sh"]'

# Static, so that users can copy it into any container.
bin/bpftoken-probe: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(STATIC_LDFLAGS)' -o $@ ./cmd/bpftoken-probe

# The probe the bats suites mount into containers (test/standin -probe).
bin/standin: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -o $@ ./test/standin

FORCE:

vet: lint

# gofmt, go vet and staticcheck.
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Everything: unit tests, privileged tests on the real kernel, a bounded fuzz
# run, and the bats suites on real podman and on a real containerd (built
# from the Go module proxy by test/containerd/install.sh). Run as root.
test: vet test-go test-fuzz test-bats

# The daily loop: the unit tests, without root, without the static builds or
# the stand-in containers that the privileged tests need (-short skips
# them; test/integration is left out). Seconds.
test-unit:
	$(GO) test -short -count=1 ./pkg/... ./cmd/... ./internal/...

test-go:
	$(GO) test -count=1 ./...

# Bounded fuzz runs of the annotation parser, the per-container YAML values
# (cost: no value may take more than 20 MiB), the policy loader, and
# bpftokend's protocol (arbitrary messages to a live service).
test-fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParseAnnotations -fuzztime=$(FUZZ_SPEC_EXECS) ./pkg/spec
	$(GO) test -run='^$$' -fuzz=FuzzForContainer -fuzztime=$(FUZZ_CONTAINER_EXECS) ./pkg/spec
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=$(FUZZ_POLICY_EXECS) ./pkg/policy
	$(GO) test -run='^$$' -fuzz=FuzzServe -fuzztime=$(FUZZ_SERVICE_EXECS) ./cmd/bpftokend

test-bats: build image bin/standin $(CORE_OBJ) deps
	MKIMAGE=$(abspath bin/mkimage) bats $(if $(SUITE),test/bats/$(SUITE).bats,test/bats)

# The Kubernetes suite alone: a single-node cluster built from the Go module
# proxy (test/k8s/install.sh, cached) on the test containerd. Root.
test-k8s: build image bin/standin $(CORE_OBJ) deps
	MKIMAGE=$(abspath bin/mkimage) bats test/bats/k8s.bats

# What the tests need on a Debian 12 machine, installed when missing: podman,
# runc, bats, musl-tools... from Debian, and containerd, CRI-O, runc, crictl
# and the CNI plugins, and the Kubernetes test cluster (etcd, the control
# plane, kubelet, kubectl), built from the Go module proxy (cached in
# /var/cache/nri-bpftoken-test). Root.
deps:
	test/podman/install-deps.sh
	test/containerd/install.sh
	test/k8s/install.sh

# Benchmarks (as root), each reported against its baseline measured in the
# same run; figures and the machine go into docs/performance.md:
# - the hook per container against ../shared/baseline/delegate.c, same target;
# - the plugin's StartContainer work against the same baseline, and its
#   CreateContainer handling (Go benchmarks);
# - one bpftokend request (rootless podman) against the same baseline, on a
#   stand-in container an unprivileged user made;
# - podman run with and without delegation;
# - containerd pod start with and without delegation, plugin resident size.
bench: build bin/standin
	@test -f $(SHARED)/baseline/delegate.c || { echo "bench: $(SHARED)/baseline/delegate.c not found; set SHARED="; exit 1; }
	@mkdir -p bin/baseline
	gcc -O2 -o bin/baseline/delegate $(SHARED)/baseline/delegate.c
	gcc -O2 -o bin/baseline/mkns $(SHARED)/baseline/mkns.c
	$(GO) run ./test/bench -hook bin/oci-hook -delegate bin/baseline/delegate -mkns bin/baseline/mkns -standin bin/standin -bpftokend bin/bpftokend -n $(BENCH_N)
	$(GO) test -run '^$$' -bench . -benchmem ./cmd/nri-bpftoken
	test/podman/install-deps.sh >/dev/null
	test/bench/podman.sh 40
	test/bench/containerd.sh 20 100

# The hook and its hooks.d JSON (rootful and rootless podman, CRI-O), and
# bpftokend with its systemd units (rootless podman; docs/rootless.md):
# enable it with `systemctl enable --now bpftokend.socket`.
install: bin/oci-hook bin/bpftokend
	install -D -m 0755 bin/oci-hook $(DESTDIR)$(HOOKS_LIBEXEC)/bpftoken-oci-hook
	install -d $(DESTDIR)$(HOOKS_JSON)
	sed 's|/usr/libexec/oci/hooks.d/bpftoken-oci-hook|$(HOOKS_LIBEXEC)/bpftoken-oci-hook|' \
		examples/hooks.d/bpftoken.json > $(DESTDIR)$(HOOKS_JSON)/bpftoken.json
	chmod 0644 $(DESTDIR)$(HOOKS_JSON)/bpftoken.json
	install -D -m 0755 bin/bpftokend $(DESTDIR)$(PREFIX)/bin/bpftokend
	install -D -m 0644 examples/systemd/bpftokend.socket $(DESTDIR)$(SYSTEMD_UNITS)/bpftokend.socket
	sed 's|/usr/bin/bpftokend|$(PREFIX)/bin/bpftokend|' examples/systemd/bpftokend.service \
		> $(DESTDIR)$(SYSTEMD_UNITS)/bpftokend.service
	chmod 0644 $(DESTDIR)$(SYSTEMD_UNITS)/bpftokend.service

uninstall:
	rm -f $(DESTDIR)$(HOOKS_LIBEXEC)/bpftoken-oci-hook $(DESTDIR)$(HOOKS_JSON)/bpftoken.json
	rm -f $(DESTDIR)$(PREFIX)/bin/bpftokend $(DESTDIR)$(SYSTEMD_UNITS)/bpftokend.socket $(DESTDIR)$(SYSTEMD_UNITS)/bpftokend.service

demo: build
	test/demo.sh

clean:
	rm -rf bin
