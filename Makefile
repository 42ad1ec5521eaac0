# iamgate — see README.md. Everything a fresh machine needs is installed by
# the targets themselves (Go modules, MinIO and Hydra via scripts/install-tools.sh).

GO        ?= go
TOOLS     ?= $(HOME)/.cache/iamgate-tools
export IAMGATE_TOOLS := $(TOOLS)
FUZZTIME  ?= 20000x
PKGS      := ./...

IMAGE     ?= iamgate
export GO IMAGE

.PHONY: all build image test unit integration fuzz-short fuzz lint demo demo-cluster bench bench-full peers tools clean

all: build

# A static binary with the version, commit and build time stamped in
# (VERSION, COMMIT and BUILD_DATE override them; see scripts/version.sh).
build:
	bash scripts/build.sh bin/iamgate

# The container image $(IMAGE):<version> and $(IMAGE):latest, FROM scratch:
# the binary is built here and copied in; nothing is pulled (docs/deploy.md).
image:
	bash scripts/image.sh

tools:
	bash scripts/install-tools.sh minio hydra clients

# The whole suite: unit tests, integration tests against a real MinIO and
# a real Ory Hydra, a short run of every fuzz target, and the tests of
# deploy/ (the Helm chart, the alerting rules and the dashboard), a module
# of its own so that Helm, Kubernetes and Prometheus stay out of iamgate's.
test: tools
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 20m $(PKGS)
	cd deploy && $(GO) vet ./... && $(GO) test -count=1 ./...
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
	cd deploy && $(GO) vet ./... && $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	cd bench/fastfloor && $(GO) vet ./... && $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

demo: build
	bash scripts/demo.sh

# Three replicas behind HAProxy, with MinIO, Hydra and the shared state,
# until Ctrl-C (internal/cluster; docs/operations.md).
demo-cluster: tools build
	IAMGATE_DEMO_CLUSTER=1 IAMGATE_BIN=$(CURDIR)/bin/iamgate $(GO) test -count=1 -timeout 0 -v -run '^TestDemoCluster$$' ./internal/cluster

peers:
	bash bench/install-peers.sh nginx oauth2-proxy

# A short comparison (about 10 minutes) against direct MinIO, nginx,
# oauth2-proxy and a bare httputil.ReverseProxy; writes bench/RESULTS.md and
# bench/charts/*.png.
bench: tools build peers
	$(GO) test -run '^$$' -bench . -benchtime 200ms ./authz ./identity ./s3req ./sigv4 ./proxy ./audit ./sts
	$(GO) run ./bench -short -results bench/RESULTS.md

bench-full: tools build peers
	$(GO) test -run '^$$' -bench . -benchtime 2s ./authz ./identity ./s3req ./sigv4 ./proxy ./audit ./sts
	$(GO) run ./bench -full -results bench/RESULTS.md

clean:
	rm -rf bin .demo
