# Contracted targets: demo, test, deb, boot-test (see DESIGN.md). Each delegates
# to a script so that it can be run and read on its own.
GO ?= go
export CGO_ENABLED ?= 0

.PHONY: all build demo test lint fuzz deb repo boot-test bench clean attest-hook-zip

all: build

build:
	$(GO) build -trimpath -ldflags "-s -w" -o bin/ ./cmd/...

demo:
	./scripts/demo.sh

# The race detector needs cgo and so a C compiler; without one the tests
# still run, without it, and say so.
RACE := $(shell command -v $${CC:-gcc} >/dev/null 2>&1 && echo -race)

test:
ifeq ($(RACE),)
	@echo "make test: no C compiler found, running without the race detector (apt-get install gcc)" >&2
endif
	CGO_ENABLED=$(if $(RACE),1,0) $(GO) test $(RACE) -timeout 15m $(TESTFLAGS) ./...

# gofmt, go vet and staticcheck (a pinned version, fetched through the Go
# module proxy on first use; it is a tool, not a dependency in go.mod).
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fuzz:
	./scripts/fuzz.sh

deb:
	./packaging/deb/build.sh

# repo: a signed apt repository in dist/apt/ from dist/*.deb;
# APT_SIGNING_KEY names the key (APT_SIGNING_KEY=throwaway for a test key).
repo:
	./packaging/deb/repo.sh

boot-test: deb
	./packaging/boot-test/run.sh

bench:
	./bench/run.sh

clean:
	rm -rf bin dist

# attest-hook-zip: the attestation hook as an AWS Lambda function for the
# provided.al2023 runtime (docs/ATTESTATION.md): the binary named bootstrap,
# in dist/attest-hook.zip. LAMBDA_ARCH=arm64 for a Graviton function;
# OEM_ROOTS=FILE adds the OEM roots as oem-roots.pem (ATTEST_HOOK_ROOTS=oem-roots.pem).
LAMBDA_ARCH ?= amd64
attest-hook-zip:
	rm -rf dist/attest-hook dist/attest-hook.zip
	mkdir -p dist/attest-hook
	GOOS=linux GOARCH=$(LAMBDA_ARCH) $(GO) build -trimpath -tags lambda.norpc -ldflags "-s -w" -o dist/attest-hook/bootstrap ./cmd/attest-hook
	$(if $(OEM_ROOTS),cp $(OEM_ROOTS) dist/attest-hook/oem-roots.pem)
	cd dist/attest-hook && zip -q -X ../attest-hook.zip *
	@echo "dist/attest-hook.zip ($(LAMBDA_ARCH))"

# crash-states: every state a power cut can leave while the real provisiond
# provisions against the real fleetsim, each checked to recover
# (docs/RELIABILITY.md). Needs strace. CRASHFLAGS narrows it, e.g.
# CRASHFLAGS="-sample 200 -seed 1" (CI) or CRASHFLAGS="-flows csr".
.PHONY: crash-states
crash-states:
	$(GO) build -o bin/crash/ ./cmd/provisiond ./cmd/fleetsim ./cmd/crashstates ./cmd/attest-hook
	./bin/crash/crashstates -provisiond bin/crash/provisiond -fleetsim bin/crash/fleetsim -attest-hook bin/crash/attest-hook $(CRASHFLAGS)

# adversarial: the hostile-input suite (docs/RELIABILITY.md, "Hostile inputs"):
# the attacks that were fixed (tests named TestHostile...) and those that held,
# against the real binaries where it can be (an endless proxy answer,
# descriptor exhaustion under prlimit, a session takeover, oversized files).
# -short: 10 runs of the template race instead of 100. .ci/run runs it;
# about a minute here.
ADVERSARIAL_PKGS := ./cmd/provisiond ./cmd/fleetsim ./internal/proxy ./internal/fleet ./internal/fleetsim \
	./internal/config ./internal/store ./internal/statemachine ./internal/smallfile
ADVERSARIAL_HELD := TestParseEndpoints|TestTopicParsing|TestReprovisionIfRefused|TestLoadStateCorrupt|TestCorruptStateIsNotOverwritten|TestUnwritableStoreIsAnError|TestStatusExitCodeForUnreadableState|TestResponsesGoOnlyToTheConnectionThatAsked|TestWillsCannotForgeServiceAnswers|TestClaimPolicyDocumentIsEnforcedForSubscriptions|TestQoS2PublishIsRefused|TestRequestsInFlightPerConnectionAreCapped|TestNoSecretInCheckStatusOrDebugLog|TestDebugLogHoldsNoSecrets|TestSecretsNeverLogged
adversarial:
	$(GO) test -short -count=1 -timeout 5m -run '^(TestHostile.*|$(ADVERSARIAL_HELD))$$' $(ADVERSARIAL_PKGS)

# soak: the real daemon against fleetsim for DURATION with certificates
# rotating every few seconds, verify_every 2s, link loss and fleetsim killed
# at random moments (SOAKFLAGS="-seed N" replays one); fails on growth of
# RSS, descriptors, goroutines or the state folder, an unusable handoff,
# orphans or unexpected errors (docs/RELIABILITY.md).
DURATION ?= 10m
.PHONY: soak
soak:
	$(GO) build -o bin/soak/ ./cmd/provisiond ./cmd/fleetsim ./bench/soak
	./bin/soak/soak -provisiond bin/soak/provisiond -fleetsim bin/soak/fleetsim -duration $(DURATION) $(SOAKFLAGS)
