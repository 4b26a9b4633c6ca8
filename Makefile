# Contracted targets: demo, test, deb, boot-test (see DESIGN.md). Each delegates
# to a script so that it can be run and read on its own.
GO ?= go
export CGO_ENABLED ?= 0

.PHONY: all build demo test fuzz deb boot-test bench clean

all: build

build:
	$(GO) build -trimpath -ldflags "-s -w" -o bin/ ./cmd/...

demo:
	./scripts/demo.sh

test:
	CGO_ENABLED=1 $(GO) test -race -timeout 15m $(TESTFLAGS) ./...

fuzz:
	./scripts/fuzz.sh

deb:
	./packaging/deb/build.sh

boot-test: deb
	./packaging/boot-test/run.sh

bench:
	./bench/run.sh

clean:
	rm -rf bin dist
