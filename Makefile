# aigw: one Go shared object for Envoy's Go HTTP filter and dynamic modules.
GO        ?= go
BUILD_DIR ?= build
SO        := $(BUILD_DIR)/libaigw.so

.PHONY: all build test test-short race vet fmt fuzz bench clean

all: build

# cgo + c-shared: the Envoy Go package already passes
# -Wl,-unresolved-symbols=ignore-all so the callbacks Envoy exports resolve at load.
build: $(SO)

$(SO): $(shell find . -name '*.go' -not -path './test/*' -not -path './bench/*' -not -name '*_test.go') go.mod go.sum
	@mkdir -p $(BUILD_DIR)
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -o $(SO) .

vet:
	$(GO) vet ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The whole suite: formatting, vet, the .so build, and every test under -race.
test: fmt vet build
	$(GO) test -race -count=1 -timeout 20m ./...

# Short fuzz runs of every fuzz target (the seed corpora also run in `make test`).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench: build
	bash bench/run.sh

clean:
	rm -rf $(BUILD_DIR)
