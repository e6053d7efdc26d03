package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/atoll-studio/atoll/engine/flowtest"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/flowtest/golden/*.txt from the actual output")

// normalise replaces what changes from run to run (times) with placeholders.
func normalise(s string) string {
	s = regexp.MustCompile(`\(\d+ ms\)`).ReplaceAllString(s, "(T ms)")
	s = regexp.MustCompile(` in [0-9.]+(µs|ms|s|m[0-9.]+s)\n`).ReplaceAllString(s, " in T\n")
	return regexp.MustCompile(`"elapsed_ms": [0-9.e+-]+`).ReplaceAllString(s, `"elapsed_ms": T`)
}

// TestTestCommandGolden runs `atoll test` on the cases in testdata/flowtest/golden: each file
// is the arguments, a line "----", the expected output (stdout, then "stderr:" and stderr when
// there is any), a line "----" and "exit N".
func TestTestCommandGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/flowtest/golden/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.SplitN(string(data), "\n----\n", 3)
			if len(parts) != 3 {
				t.Fatalf("%s: want args, ----, output, ----, exit", f)
			}
			args := strings.Fields(parts[0])
			var stdout, stderr bytes.Buffer
			t.Chdir("testdata/flowtest")
			code := run(args, &stdout, &stderr)
			got := normalise(stdout.String())
			if stderr.Len() > 0 {
				got += "stderr:\n" + stderr.String()
			}
			gotExit := "exit " + itoa(code) + "\n"
			if *updateGolden {
				t.Chdir("../..")
				if err := os.WriteFile(f, []byte(parts[0]+"\n----\n"+got+"\n----\n"+gotExit), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got+"\n" != parts[1]+"\n" || gotExit != parts[2] {
				t.Fatalf("atoll %s:\n--- got (%s)\n%s\n--- want (%s)\n%s", parts[0], strings.TrimSpace(gotExit), got, strings.TrimSpace(parts[2]), parts[1])
			}
		})
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestTestCommandUpdate rewrites a failing test's expectations with --update, after printing
// its differences, and the test passes afterwards.
func TestTestCommandUpdate(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"moments.json", "failing.test.json"} {
		data, err := os.ReadFile(filepath.Join("testdata/flowtest", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "failing.test.json")
	var out bytes.Buffer
	if code := run([]string{"test", "--update", file}, &out, &out); code != 0 {
		t.Fatalf("--update: exit %d\n%s", code, out.String())
	}
	for _, want := range []string{
		`sink "file" row 17 field "moment": want "night", got "day"`,
		`sink "file" field "moment": 92 rows with "day", want 91`,
		"updated " + file,
		"0 passed, 0 failed, 2 updated",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--update output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"test", file}, &out, &out); code != 0 {
		t.Fatalf("after --update: exit %d\n%s", code, out.String())
	}
	tf, err := flowtest.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if tf.Graph != "moments.json" || tf.Tests[1].Expect["file"].Tally["moment"]["day"] != 92 {
		t.Fatalf("rewritten file: %+v", tf)
	}
}
