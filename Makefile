# Atoll. `make run` starts the studio, `make test` runs every test, `make bench` prints the
# benchmark table. Both install what a fresh Debian machine lacks first (see .ci/setup).
SHELL := /bin/bash
GO    ?= go
export PATH := $(HOME)/go/bin:$(PATH)

# Areas append to these in mk/*.mk (see CONTRIBUTING.md).
PREREQS :=
TESTS   :=
BENCHES :=

.DEFAULT_GOAL := help
include $(sort $(wildcard mk/*.mk))

.PHONY: help setup run test test-go bench bench-header runner fuzz vet

help:
	@echo "make run     start the studio (desktop window with a display, else the web UI)"
	@echo "make test    install what is missing, build, run every test"
	@echo "make bench   print the benchmark table"
	@echo "make runner  cross-compile atoll-runner for linux/amd64, arm64, armv7, riscv64"

setup:
	@./.ci/setup

run: setup $(PREREQS) bin/atoll
	@./build/run.sh

vet:
	$(GO) vet ./...

# Go tests run with the race detector on the engine; slow integration tests are included.
test-go: setup $(PREREQS) bin/atoll
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...
	$(GO) test -count=1 -race -timeout 20m ./engine/ ./engine/rows/ ./engine/graph/ ./nodes/...

# Short fuzzing passes over the decoders (the seeds also run in test-go).
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./engine/rows/

test: setup test-go fuzz $(TESTS)
	@echo "make test: all passed"

bench-header:
	@echo "| area | benchmark | figure | unit | note |"
	@echo "|---|---|---|---|---|"

bench: setup $(PREREQS) bench-header $(BENCHES)
