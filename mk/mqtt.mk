# MQTT connectors (nodes/mqtt). Their tests start a real Mosquitto (Debian's `mosquitto`, listed in
# .ci/packages/mqtt.txt) on a free loopback port and run with `go test ./...`; `test-mqtt` runs
# them alone, the slow ones (broker restart, slow sink, atoll-runner SIGKILL, three runners on a
# shared subscription) included, with the MQTT example graphs.
#
# `bench-mqtt` passes 10,000 messages publisher → Mosquitto → relay → Mosquitto → subscriber on
# loopback, the relay being Atoll (source.mqtt → moment.wasm → sink.mqtt) or a bare paho client
# republishing what it gets, at QoS 0 and 1; then 10,000 at a fixed 5,000 msgs/s for the latency
# from publisher to final subscriber. It prints Atoll's throughput as a ratio of paho's.

BENCHES += bench-mqtt

.PHONY: test-mqtt bench-mqtt

test-mqtt:
	$(GO) test -count=1 ./nodes/mqtt/ ./internal/mosquitto/
	$(GO) test -count=1 -run 'TestMQTT' ./examples/

MQTT_BENCH_CMD := go test ./nodes/mqtt/ -run '^$$' -bench MQTT -benchtime 10000x

bench-mqtt:
	@$(GO) test ./nodes/mqtt/ -run '^$$' -bench MQTT -benchtime 10000x -count 1 \
	| awk -v cmd="$(MQTT_BENCH_CMD)" ' \
		/^BenchmarkMQTTRelay\// { split($$1, p, "/"); q = p[3]; sub(/-[0-9]+$$/, "", q); \
			for (i = 3; i < NF; i++) if ($$(i+1) == "msgs/s") v[p[2] "/" q] = $$i } \
		/^BenchmarkMQTTLatency\// { split($$1, p, "/"); \
			for (i = 3; i < NF; i++) { if ($$(i+1) == "p50_ms") p50[p[2]] = $$i; if ($$(i+1) == "p99_ms") p99[p[2]] = $$i } } \
		END { \
			for (q = 0; q <= 1; q++) { k = "qos" q; \
				printf "| mqtt | MQTT → moment.wasm → MQTT, QoS %d | %.0f | msgs/s | Atoll relay, 10,000 msgs, loopback Mosquitto; `%s` |\n", q, v["atoll/" k], cmd; \
				printf "| mqtt | bare paho relay, QoS %d | %.0f | msgs/s | the same messages republished by a paho client, no processing |\n", q, v["paho/" k]; \
				if (v["paho/" k] > 0) printf "| mqtt | Atoll / bare paho, QoS %d | %.2f | ratio | target >= 0.7 at QoS 1 |\n", q, v["atoll/" k] / v["paho/" k] } \
			printf "| mqtt | latency p50 at 5,000 msgs/s, QoS 1 | %.1f | ms | publisher to final subscriber through Atoll (paho relay: %.1f ms) |\n", p50["atoll"], p50["paho"]; \
			printf "| mqtt | latency p99 at 5,000 msgs/s, QoS 1 | %.1f | ms | publisher to final subscriber through Atoll (paho relay: %.1f ms) |\n", p99["atoll"], p99["paho"] }'
