# Integer (int8/int16x8) TFLite kernels and tflite-micro Signal ops. `bench-tflite-int` prints
# table rows: micro_speech end to end per second of audio, and the int8 conv/depthwise kernels
# on MobileNet-v1 0.25 layer shapes (96x96x1 input; the person-detection model itself is not in
# the test data), and the int16x8 TRANSPOSE_CONV on a SEANet decoder shape. Figures are medians
# of per-iteration times.

BENCHES += bench-tflite-int

.PHONY: bench-tflite-int

bench-tflite-int:
	@go test ./engine/tflite/ -run '^$$' -bench 'MicroSpeechPerSecond|Int8MobileNet025|TransposeConvInt16x8' -benchtime 2s \
	| awk '/^Benchmark/ { \
		name = $$1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$$/, "", name); \
		for (i = 3; i < NF; i++) { \
			u = $$(i+1); \
			if (u == "ms/s-audio") printf "| tflite-int | micro_speech (preprocessor x49 + classifier) | %s | ms per 1 s audio | %s; median, %s |\n", $$i, name, "int8, 1 thread"; \
			if (u == "x-realtime") printf "| tflite-int | micro_speech real-time factor | %s | x real time | %s; median |\n", $$i, name; \
			if (u == "ms/inference") printf "| tflite-int | int8 MobileNet-v1 0.25 96x96x1 conv+dw layers | %s | ms/inference | %s; random weights, median |\n", $$i, name; \
			if (u == "GMAC/s" && name ~ /MobileNet/) printf "| tflite-int | int8 MobileNet-v1 0.25 conv+dw throughput | %s | GMAC/s | %s |\n", $$i, name; \
			if (u == "us/invoke") printf "| tflite-int | int16x8 TRANSPOSE_CONV, SEANet decoder shape [1,3,6,64] to [1,3,12,64], 3x4 filter | %s | us/invoke | %s; random weights, median, 1 thread |\n", $$i, name; \
			if (u == "GMAC/s" && name ~ /TransposeConv/) printf "| tflite-int | int16x8 TRANSPOSE_CONV throughput | %s | GMAC/s | %s; all input pixels x taps x channels |\n", $$i, name; \
		} }'
