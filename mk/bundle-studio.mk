# The studio side of bundles (app/bundles.go, the export dialog). The browser end-to-end tests
# verify the bundle they download with the runner, so they need bin/atoll-runner besides bin/atoll.
# The studio-API integration test (app: TestIntegrationStudioBundlesRunLikeAtollRun) builds its own
# binaries and needs the example modules that PREREQS build (wasm-examples, classifier-wasm).

test-frontend-e2e: bin/atoll-runner
