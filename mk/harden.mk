# Hardening. `check-large-files` fails when git tracks a file over 1 MiB outside a testdata/
# directory (a compiled test binary was once committed). `fuzz-harden` runs each fuzz target of
# the input readers for HARDEN_FUZZTIME (30 s in CI): the JSON view parser against
# encoding/json, the WAV header and chunk reader, and the CSV/JSON-lines line reader.

TESTS += check-large-files

# `make fuzz` (part of `make test`) runs these too.
fuzz: fuzz-harden

HARDEN_FUZZTIME ?= 30s

.PHONY: check-large-files fuzz-harden

check-large-files:
	@./tools/check-large-files.sh

fuzz-harden:
	$(GO) test -run '^$$' -fuzz '^FuzzParseJSON$$' -fuzztime $(HARDEN_FUZZTIME) ./engine/rows/
	$(GO) test -run '^$$' -fuzz '^FuzzWAVReader$$' -fuzztime $(HARDEN_FUZZTIME) ./nodes/audio/
	$(GO) test -run '^$$' -fuzz '^FuzzFileLineReader$$' -fuzztime $(HARDEN_FUZZTIME) ./nodes/core/
