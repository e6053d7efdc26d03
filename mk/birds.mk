# Bird-song preview (nodes/audio: the folder source, DSP nodes, spectrogram, detect; app/audio.go).
# `test-birds` runs the audio node tests, the audio endpoints and the bird folder example
# headless (in-process, and through `atoll run` and `atoll-runner run`, which must agree); `bench-birds` times the whole bird graph (tools/birdbench) on a 10-minute 48 kHz WAV
# and on a folder of 100 ten-second files, both made from the shared recordings in a temporary
# directory, on one core (GOMAXPROCS=1, one classifier instance) and on two; each run is its own
# process so that its peak RSS is its own.

GO ?= go

TESTS   += test-birds
BENCHES += bench-birds

.PHONY: test-birds bench-birds

test-birds: classifier-wasm
	$(GO) test -count=1 ./nodes/audio/
	$(GO) test -count=1 -run 'TestAudio' ./app/
	$(GO) test -count=1 -run 'TestIntegrationBirdsFolder' ./examples/ .

bench-birds: classifier-wasm
	@$(GO) build -o bin/birdbench ./tools/birdbench
	@for s in long folder; do \
		GOMAXPROCS=1 bin/birdbench -scenario $$s -instances 1 -testdata ../shared/testdata || exit 1; \
		GOMAXPROCS=2 bin/birdbench -scenario $$s -instances 2 -testdata ../shared/testdata || exit 1; \
	done
