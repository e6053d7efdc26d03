# Studio frontend (React + TypeScript + Vite). `frontend` builds frontend/dist, which the Go
# side embeds; `test-frontend` runs Vitest and the browser end-to-end tests against bin/atoll;
# `bench-frontend` prints the studio's browser benchmarks as table rows.

FRONTEND_DIR := frontend
FRONTEND_SRC := $(shell find $(FRONTEND_DIR)/src $(FRONTEND_DIR)/index.html $(FRONTEND_DIR)/vite.config.ts $(FRONTEND_DIR)/tsconfig.json -type f 2>/dev/null)

PREREQS += frontend
TESTS += test-frontend
BENCHES += bench-frontend

.PHONY: frontend test-frontend test-frontend-unit test-frontend-e2e bench-frontend

$(FRONTEND_DIR)/node_modules/.package-lock.json: $(FRONTEND_DIR)/package.json $(FRONTEND_DIR)/package-lock.json
	cd $(FRONTEND_DIR) && npm ci --no-audit --no-fund

$(FRONTEND_DIR)/dist/index.html: $(FRONTEND_DIR)/node_modules/.package-lock.json $(FRONTEND_SRC)
	cd $(FRONTEND_DIR) && npm run build

frontend: $(FRONTEND_DIR)/dist/index.html

test-frontend-unit: $(FRONTEND_DIR)/node_modules/.package-lock.json
	cd $(FRONTEND_DIR) && npx vitest run

# The end-to-end tests need the studio binary with the frontend embedded.
test-frontend-e2e: frontend bin/atoll
	cd $(FRONTEND_DIR) && ATOLL_BIN=$(abspath bin/atoll) node e2e/run.mjs

test-frontend: test-frontend-unit test-frontend-e2e

bench-frontend: frontend bin/atoll
	@cd $(FRONTEND_DIR) && ATOLL_BIN=$(abspath bin/atoll) node bench/run.mjs
