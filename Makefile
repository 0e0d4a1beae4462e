# bakery's Makefile. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/bakery
BUILDKIT_ADDR ?= unix://$(CURDIR)/.bakery/buildkit/buildkitd.sock
# The demo key's password: a demo value, never a production one.
DEMO_PASSWORD ?= bakery-demo
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: help
help: ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

.PHONY: build
build: ## build bin/bakery, bin/bakery-core and bin/packer-plugin-bakery (each finds the next beside itself)
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/ ./cmd/bakery ./cmd/bakery-core
	$(GO) build -o bin/packer-plugin-bakery ./cmd/packer-plugin-bakery

.PHONY: up
up: ## install and start the registry and buildkitd, push the Debian base image
	bash hack/setup.sh

.PHONY: down
down: ## stop what `make up` started
	bash hack/stop.sh

# The demo's AWS side is the local EC2 endpoint `make up` starts; the
# credentials are placeholders it accepts, never real ones.
DEMO_AWS := AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=demo \
  AWS_SECRET_ACCESS_KEY=demo AWS_EC2_METADATA_DISABLED=true
DEMO_ENV := BAKERY_SIGNING_PASSWORD=$(DEMO_PASSWORD) BAKERY_BUILDER_ADDRESS=$(BUILDKIT_ADDR) \
  BAKERY_BUILDER_PACKER_BINARY=$(CURDIR)/.bakery/packer $(DEMO_AWS)

.PHONY: demo
demo: up build ## set everything up; bake, attest, verify and promote the bundled example (containers and a golden AMI) to prod
	@test -f examples/keys/bakery.key || BAKERY_SIGNING_PASSWORD=$(DEMO_PASSWORD) $(BIN) keys generate --output-prefix examples/keys/bakery
	$(DEMO_ENV) $(BIN) build --config examples/bakery.yaml --progress plain --metadata-file .bakery/demo.json
	$(BIN) verify --config examples/bakery.yaml 127.0.0.1:5000/dev/golden-base:dev
	$(BIN) verify --config examples/bakery.yaml 127.0.0.1:5000/dev/golden-ami:dev
	.bakery/cosign verify --key examples/keys/bakery.pub --insecure-ignore-tlog 127.0.0.1:5000/dev/golden-base:dev > /dev/null
	.bakery/cosign verify --key examples/keys/bakery.pub --insecure-ignore-tlog 127.0.0.1:5000/dev/golden-ami:dev > /dev/null
	# staging, then the smoke suite against staging's digest (prod's tested_in
	# requires it), then prod. The AMI's smoke is external: examples/ci/ami-smoke.sh.
	for target in golden-base golden-ami; do \
	  $(DEMO_ENV) $(BIN) promote $$target --to staging --config examples/bakery.yaml || exit 1; \
	  if [ $$target = golden-ami ]; then \
	    $(DEMO_ENV) BAKERY=$(BIN) bash examples/ci/ami-smoke.sh golden-ami staging .bakery/ami-smoke.xml --config examples/bakery.yaml && \
	    $(DEMO_ENV) $(BIN) test golden-ami --env staging --suite smoke --junit .bakery/ami-smoke.xml --config examples/bakery.yaml || exit 1; \
	  else $(DEMO_ENV) $(BIN) test $$target --env staging --suite smoke --progress plain --config examples/bakery.yaml || exit 1; fi; \
	  $(DEMO_ENV) $(BIN) promote $$target --to prod --config examples/bakery.yaml || exit 1; done
	$(BIN) status --config examples/bakery.yaml
	# retention: what bakery gc would delete, and why (a plan: nothing changes without --yes)
	$(BIN) gc --config examples/bakery.yaml
	# the cluster's side: prod's admission policies, and policy-controller's
	# own tester admitting prod's digest of the golden base by them
	$(BIN) admission --env prod --out .bakery/admission --config examples/bakery.yaml
	.bakery/policy-tester -log-level error -policy .bakery/admission/prod-policy-controller.yaml \
	  -image 127.0.0.1:5000/prod/golden-base@$$(.bakery/crane digest --insecure 127.0.0.1:5000/prod/golden-base:prod) && echo "policy-tester: admitted"

.PHONY: env
env: ## print the demo's environment for your shell: eval "$$(make -s env)"
	@echo 'export PATH="$(CURDIR)/bin:$(CURDIR)/.bakery:$$PATH"'
	@echo 'export BAKERY_BUILDER_ADDRESS=$(BUILDKIT_ADDR)'
	@echo 'export BAKERY_SIGNING_PASSWORD=$(DEMO_PASSWORD)'
	@echo 'export BAKERY_BUILDER_PACKER_BINARY=$(CURDIR)/.bakery/packer'
	@echo 'export $(DEMO_AWS)'

.PHONY: test
test: up lint ## set everything up, lint, then run unit tests (fuzz seed corpora included) and end-to-end tests
	$(GO) test ./...
	$(GO) test -tags e2e -count=1 -timeout 30m ./e2e/...

.PHONY: test-unit
test-unit: ## unit tests only (in-process registries, no daemons)
	$(GO) test ./...

.PHONY: fuzz
fuzz: ## fuzz every fuzz target (parsers of untrusted input) for FUZZTIME each (default 30s); not part of make test
	bash hack/fuzz.sh

.PHONY: generate
generate: up ## regenerate the Packer plugin's HCL2 specs (*.hcl2spec.go) with packer-sdc
	PATH=$(CURDIR)/.bakery:$$PATH $(GO) generate ./packer/...

.PHONY: bench
bench: ## bakery vs the stock tools (buildctl, syft, cosign) in one run; see BENCHMARKS.md
	bash hack/bench.sh

.PHONY: lint
lint: ## gofmt, go vet and golangci-lint (.golangci.yml; the import rule is the internal/layout test)
	bash hack/lint.sh

.PHONY: release-check
release-check: ## validate .goreleaser.yml (installs goreleaser from the Go module proxy)
	$(GO) install github.com/goreleaser/goreleaser/v2@v2.12.0
	$$($(GO) env GOPATH)/bin/goreleaser check
