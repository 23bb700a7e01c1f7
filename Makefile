# vaxbook — see README.md. `make test` is what CI runs.
GO ?= go
PKGS ?= ./...
TEST_TIMEOUT ?= 30m

.PHONY: test test-deps vet lint bench build run clean

test: test-deps vet
	$(GO) test -race -timeout $(TEST_TIMEOUT) $(PKGS)

test-deps:
	@bash scripts/test-deps.sh

vet:
	$(GO) vet $(PKGS)

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

# Benchmarks: ratios against baselines measured in the same run; see docs/PERFORMANCE.md.
bench: test-deps
	bash scripts/bench.sh

build:
	$(GO) build -o bin/vaxbook ./cmd/vaxbook

run:
	$(GO) run ./cmd/vaxbook serve

clean:
	rm -rf bin vaxbook-data
