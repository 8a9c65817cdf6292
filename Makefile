# boxlitefs — see README.md.
SHELL      := /bin/sh
export PATH := /usr/local/go/bin:$(PATH)
GO         ?= go
BIN        := bin/boxlitefs
RUN_HOME   ?= $(CURDIR)/.home
MOUNTPOINT ?= /mnt/boxlite
FUZZTIME   ?= 10s
TESTFLAGS  ?=

.PHONY: all deps guest build run test unit fuzz bench clean

all: build

deps:
	@scripts/deps.sh

# The kernel and initramfs (agent as /init) that boxes boot; cached.
guest: deps
	scripts/guest.sh bin/guest

build: guest
	$(GO) build -o $(BIN) ./cmd/boxlitefs

# Mounts an embedded default home in the foreground (Ctrl-C unmounts).
run: deps build
	mkdir -p $(MOUNTPOINT)
	$(BIN) mount --home $(RUN_HOME) --demo -f $(MOUNTPOINT)

# Every test: unit, crash, concurrency, end-to-end through a real mount, then
# each fuzz target briefly.
test: deps build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 60m $(TESTFLAGS) ./...
	scripts/fuzz.sh $(FUZZTIME)

fuzz: deps
	scripts/fuzz.sh 2m

# Prints a table of this project against qemu-img, tar and zstd; the output
# is kept in BENCHMARKS.md.
bench: deps build
	$(GO) run ./bench

clean:
	rm -rf bin
	$(GO) clean -testcache
