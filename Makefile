# iamgate — see README.md. Everything a fresh machine needs is installed by
# the targets themselves (Go modules, MinIO and Hydra via scripts/install-tools.sh).

GO        ?= go
TOOLS     ?= $(HOME)/.cache/iamgate-tools
export IAMGATE_TOOLS := $(TOOLS)
FUZZTIME  ?= 20000x
PKGS      := ./...

.PHONY: all build test unit integration fuzz-short fuzz lint demo demo-cluster bench bench-full peers tools clean

all: build

build:
	$(GO) build -o bin/iamgate ./cmd/iamgate

tools:
	bash scripts/install-tools.sh minio hydra clients

# The whole suite: unit tests, integration tests against a real MinIO and
# a real Ory Hydra, and a short run of every fuzz target.
test: tools
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 20m $(PKGS)
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

unit:
	$(GO) test -count=1 -short $(PKGS)

fuzz-short:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

fuzz:
	FUZZTIME=2000000x bash scripts/fuzz.sh

lint:
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

demo: build
	bash scripts/demo.sh

# Three replicas behind HAProxy, with MinIO, Hydra and the shared state,
# until Ctrl-C (internal/cluster; docs/operations.md).
demo-cluster: tools build
	IAMGATE_DEMO_CLUSTER=1 IAMGATE_BIN=$(CURDIR)/bin/iamgate $(GO) test -count=1 -timeout 0 -v -run '^TestDemoCluster$$' ./internal/cluster

peers:
	bash bench/install-peers.sh nginx oauth2-proxy

# A short comparison (under 10 minutes) against direct MinIO, nginx and
# oauth2-proxy; writes bench/RESULTS.md and bench/charts/*.png.
bench: tools build peers
	$(GO) test -run '^$$' -bench . -benchtime 200ms ./authz ./identity ./s3req ./sigv4 ./proxy ./audit ./sts
	$(GO) run ./bench -short -results bench/RESULTS.md

bench-full: tools build peers
	$(GO) test -run '^$$' -bench . -benchtime 2s ./authz ./identity ./s3req ./sigv4 ./proxy ./audit ./sts
	$(GO) run ./bench -full -results bench/RESULTS.md

clean:
	rm -rf bin .demo
