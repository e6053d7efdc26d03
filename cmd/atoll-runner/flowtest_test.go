package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRunnerRunsFlowTests runs the flow tests of a graph file headless; a failing test exits 1.
func TestRunnerRunsFlowTests(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runMain([]string{"test", "../../testdata/flowtest/moments.json"}, &out, &errb, nil); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "2 passed, 0 failed") {
		t.Fatalf("output:\n%s", out.String())
	}
	out.Reset()
	if code := runMain([]string{"test", "../../testdata/flowtest/failing.test.json"}, &out, &errb, nil); code != 1 {
		t.Fatalf("a failing test: exit %d\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), `FAIL ../../testdata/flowtest/failing.test.json: labels: sink "file" row 17 field "moment": want "night", got "day"`) {
		t.Fatalf("output:\n%s", out.String())
	}
}
