# aigw: one Go shared object for Envoy's Go HTTP filter and dynamic modules.
GO        ?= go
BUILD_DIR ?= build
SO        := $(BUILD_DIR)/libaigw.so

.PHONY: all build test test-short race vet fmt fuzz bench clean generate k8s-test

all: build

# cgo + c-shared: the Envoy Go package already passes
# -Wl,-unresolved-symbols=ignore-all so the callbacks Envoy exports resolve at load.
build: $(SO)

$(SO): $(shell find . \( -name '*.go' -o -name '*.s' -o -name '*.h' \) -not -path './test/*' -not -path './bench/*' -not -path './build/*' -not -name '*_test.go') go.mod go.sum
	@mkdir -p $(BUILD_DIR)
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -o $(SO) .

vet:
	$(GO) vet ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The whole suite: formatting, vet, the .so build, every test under -race, and the
# Kubernetes manifest validation (its own module: Helm and client-go stay out of the main one).
test: fmt vet build
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) k8s-test
	# Allocation bounds and pool reuse again without -race (its sync.Pool
	# drops items, so pooled decoders allocate and pooled converters are not
	# reused there); the tests skip themselves under -race.
	$(GO) test -count=1 -run 'Allocs|AllocateNothing|ReleasedAfterUse' ./internal/translate/
	$(GO) test -count=1 -run 'Pooled|MemoryReused' ./internal/dynmod/


# The Helm chart, Envoy Gateway and Istio manifests against the Kubernetes and CRD schemas.
# Without -race: the module only renders and validates YAML (no goroutines of ours), and the
# race build of its dependency tree (Helm, client-go) costs minutes on a 2-core machine.
k8s-test:
	cd deploy/k8stest && $(GO) vet ./... && $(GO) test -count=1 -timeout 10m ./...

# Rewrite every file cmd/aigw-envoygen generates (envoy.yaml, the examples, the chart's config).
generate:
	$(GO) test -count=1 ./internal/envoygen/ -run TestGeneratedFilesUpToDate -update

# Short fuzz runs of every fuzz target (the seed corpora also run in `make test`);
# see test/fuzz.sh for how a Go fuzz-coordinator flake is told from a finding.
FUZZTIME ?= 20s
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) bash test/fuzz.sh

bench: build
	bash bench/run.sh

clean:
	rm -rf $(BUILD_DIR)
