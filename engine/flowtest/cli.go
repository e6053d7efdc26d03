package flowtest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"time"

	"github.com/atoll-studio/atoll/engine/graph"
)

// CommandUsage is the usage line of the test command, shared by atoll and atoll-runner.
const CommandUsage = `test [--json] [--update] [--run REGEX] [--verbose] [GRAPH|TESTFILE|DIR]...
                                 run the flow tests beside graphs (NAME.test.json; a directory: every
                                 test file under it): one line per test, a summary; exit 0 all passed,
                                 1 a test failed, 2 a test file or graph could not be read`

// FileReport is the outcome of one test file.
type FileReport struct {
	File    string    `json:"file"`
	Graph   string    `json:"graph"`
	Error   string    `json:"error,omitempty"`
	Results []*Result `json:"results"`
	Updated bool      `json:"updated,omitempty"`
}

// Report is what `test --json` prints.
type Report struct {
	Files   []FileReport `json:"files"`
	Passed  int          `json:"passed"`
	Failed  int          `json:"failed"`
	Updated int          `json:"updated"`
}

// Command runs `NAME test ...`: name is the program ("atoll"), envFor returns the environment
// a graph file's tests run in (its catalog, assets and the base directory of relative paths).
func Command(ctx context.Context, name string, args []string, stdout, stderr io.Writer, envFor func(graphFile string) Env) int {
	fs := flag.NewFlagSet(name+" test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the results as JSON")
	update := fs.Bool("update", false, "rewrite the expectations of failing tests from their actual output (after printing the differences)")
	filter := fs.String("run", "", "run only the tests whose name matches this regular expression")
	verbose := fs.Bool("verbose", false, "print every difference of a failing test, not only the first")
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) == 0 {
		pos = []string{"."}
	}
	var re *regexp.Regexp
	if *filter != "" {
		var err error
		if re, err = regexp.Compile(*filter); err != nil {
			fmt.Fprintf(stderr, "%s test: --run: %v\n", name, err)
			return 2
		}
	}
	files, err := Find(pos)
	if err != nil {
		fmt.Fprintf(stderr, "%s test: %v\n", name, err)
		return 2
	}
	var rep Report
	broken := false
	start := time.Now()
	for _, file := range files {
		fr := FileReport{File: file, Results: []*Result{}}
		tf, err := Load(file)
		if err != nil {
			fr.Error = err.Error()
			broken = true
			rep.Files = append(rep.Files, fr)
			if !*asJSON {
				fmt.Fprintf(stdout, "FAIL %v\n", err) // the error names the file
			}
			continue
		}
		gp := tf.GraphPath(file)
		fr.Graph = gp
		doc, err := graph.ReadFile(gp)
		if err != nil {
			fr.Error = err.Error()
			broken = true
			rep.Files = append(rep.Files, fr)
			if !*asJSON {
				fmt.Fprintf(stdout, "FAIL %s: %v\n", file, err)
			}
			continue
		}
		env := envFor(gp)
		env.Dir = filepath.Dir(file)
		changed := false
		for i := range tf.Tests {
			t := &tf.Tests[i]
			if re != nil && !re.MatchString(t.Name) {
				continue
			}
			res, err := Run(ctx, doc, t, env)
			if err != nil {
				fmt.Fprintf(stderr, "%s test: %v\n", name, err)
				return 2
			}
			fr.Results = append(fr.Results, res)
			if !*asJSON {
				printResult(stdout, file, res, *verbose || *update)
			}
			switch {
			case res.Passed:
				rep.Passed++
			case *update && res.Error == "":
				if err := res.Update(t, env.Dir); err != nil {
					fmt.Fprintf(stderr, "%s test: %s: update %q: %v\n", name, file, t.Name, err)
					return 2
				}
				rep.Updated++
				changed = true
			default:
				rep.Failed++
			}
		}
		if changed {
			b, err := tf.Marshal()
			if err == nil {
				err = writeFile(file, b)
			}
			if err != nil {
				fmt.Fprintf(stderr, "%s test: %s: %v\n", name, file, err)
				return 2
			}
			fr.Updated = true
			if !*asJSON {
				fmt.Fprintf(stdout, "updated %s\n", file)
			}
		}
		rep.Files = append(rep.Files, fr)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		updated := ""
		if *update {
			updated = fmt.Sprintf(", %d updated", rep.Updated)
		}
		plural := "s"
		if len(files) == 1 {
			plural = ""
		}
		fmt.Fprintf(stdout, "%d passed, %d failed%s (%d test file%s) in %s\n", rep.Passed, rep.Failed, updated, len(files), plural,
			time.Since(start).Round(10*time.Millisecond))
	}
	switch {
	case broken:
		return 2
	case rep.Failed > 0:
		return 1
	}
	return 0
}

func printResult(w io.Writer, file string, r *Result, all bool) {
	if r.Passed {
		fmt.Fprintf(w, "ok   %s: %s (%.0f ms)\n", file, r.Name, r.ElapsedMS)
		return
	}
	fmt.Fprintf(w, "FAIL %s: %s: %s\n", file, r.Name, r.First())
	if all {
		for _, d := range r.Diffs[min(1, len(r.Diffs)):] {
			fmt.Fprintf(w, "     %s\n", d.Message)
		}
	}
}
