package flowtest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/atoll-studio/atoll/engine/rows"
)

func rowsOf(t *testing.T, lines ...string) []rows.Row {
	t.Helper()
	var out []rows.Row
	for _, l := range lines {
		r, err := typedRow([]byte(l), nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func raws(lines ...string) []json.RawMessage {
	out := []json.RawMessage{}
	for _, l := range lines {
		out = append(out, json.RawMessage(l))
	}
	return out
}

func rule(t *testing.T, s string) Rule {
	t.Helper()
	var r Rule
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCompareRules(t *testing.T) {
	n := func(i int64) *int64 { return &i }
	cases := []struct {
		name   string
		expect Expect
		want   []json.RawMessage
		got    []string
		first  string // "" = no difference
	}{
		{"exact equal", Expect{}, raws(`{"a":1,"b":"x"}`), []string{`{"b":"x","a":1}`}, ""},
		{"exact: an int equals the same float", Expect{}, raws(`{"a":2}`), []string{`{"a":2.0}`}, ""},
		{"exact differs", Expect{}, raws(`{"moment":"night"}`, `{"moment":"night"}`), []string{`{"moment":"night"}`, `{"moment":"day"}`},
			`sink "s" row 2 field "moment": want "night", got "day"`},
		{"missing field", Expect{}, raws(`{"a":1,"b":2}`), []string{`{"a":1}`}, `sink "s" row 1 field "b": missing, want 2`},
		{"extra field", Expect{}, raws(`{"a":1}`), []string{`{"a":1,"z":true}`}, `sink "s" row 1 field "z": not expected, got true`},
		{"tolerance within", Expect{Fields: map[string]Rule{"v": {Kind: "tolerance", Tolerance: 0.01}}},
			raws(`{"v":1.0}`), []string{`{"v":1.005}`}, ""},
		{"tolerance outside", Expect{Fields: map[string]Rule{"v": {Kind: "tolerance", Tolerance: 0.01}}},
			raws(`{"v":1.0}`), []string{`{"v":1.02}`}, `sink "s" row 1 field "v": want 1.0 ± 0.01, got 1.02`},
		{"tolerance over an array", Expect{Fields: map[string]Rule{"v": {Kind: "tolerance", Tolerance: 0.1}}},
			raws(`{"v":[1,2,3]}`), []string{`{"v":[1.05,1.95,3]}`}, ""},
		{"ignore: any value, or none", Expect{Fields: map[string]Rule{"t": {Kind: "ignore"}}},
			raws(`{"a":1,"t":"then"}`, `{"a":2}`), []string{`{"a":1,"t":"now"}`, `{"a":2,"t":"now"}`}, ""},
		{"present", Expect{Fields: map[string]Rule{"id": {Kind: "present"}}}, raws(`{"id":null}`), []string{`{"id":"x7"}`}, ""},
		{"present but absent", Expect{Fields: map[string]Rule{"id": {Kind: "present"}}}, raws(`{"id":null}`), []string{`{}`},
			`sink "s" row 1 field "id": missing, want null`},
		{"regex", Expect{Fields: map[string]Rule{"e": {Kind: "regex", Regex: "^temp_c"}}}, raws(`{"e":""}`), []string{`{"e":"temp_c: missing"}`}, ""},
		{"regex fails", Expect{Fields: map[string]Rule{"e": {Kind: "regex", Regex: "^temp_c"}}}, raws(`{"e":""}`), []string{`{"e":"other"}`},
			`sink "s" row 1 field "e": want a match of /^temp_c/, got "other"`},
		{"ordered: order matters", Expect{}, raws(`{"a":1}`, `{"a":2}`), []string{`{"a":2}`, `{"a":1}`},
			`sink "s" row 1 field "a": want 1, got 2`},
		{"any: an escaped string equals the plain one", Expect{Order: "any"}, raws(`{"s":"\u0041/"}`, `{"s":"b\/"}`), []string{`{"s":"b/"}`, `{"s":"A/"}`}, ""},
		{"any: a multiset", Expect{Order: "any"}, raws(`{"a":1}`, `{"a":2}`, `{"a":2}`), []string{`{"a":2}`, `{"a":1}`, `{"a":2}`}, ""},
		{"any: multiplicity counts", Expect{Order: "any"}, raws(`{"a":1}`, `{"a":1}`), []string{`{"a":1}`, `{"a":2}`},
			`sink "s" row 2 (nearest actual row 2) field "a": want 1, got 2`},
		{"any with tolerance", Expect{Order: "any", Fields: map[string]Rule{"v": {Kind: "tolerance", Tolerance: 0.5}}},
			raws(`{"k":"a","v":1}`, `{"k":"b","v":5}`), []string{`{"k":"b","v":5.2}`, `{"k":"a","v":0.8}`}, ""},
		{"missing row", Expect{}, raws(`{"a":1}`, `{"a":2}`), []string{`{"a":1}`}, `sink "s" row 2: missing, want {"a":2}`},
		{"extra row", Expect{}, raws(`{"a":1}`), []string{`{"a":1}`, `{"a":9}`}, `sink "s" row 2: not expected, got {"a":9}`},
		{"count", Expect{Count: n(3)}, nil, []string{`{}`, `{}`}, `sink "s": 2 rows, want 3`},
		{"tally", Expect{Tally: map[string]map[string]int64{"m": {"day": 2, "night": 1}}}, nil,
			[]string{`{"m":"day"}`, `{"m":"night"}`, `{"m":"day"}`}, ""},
		{"tally differs", Expect{Tally: map[string]map[string]int64{"m": {"day": 2, "night": 1}}}, nil,
			[]string{`{"m":"day"}`, `{"m":"night"}`, `{"m":"night"}`}, `sink "s" field "m": 1 rows with "day", want 2`},
		{"no rows expected", Expect{}, raws(), []string{`{"a":1}`}, `sink "s" row 1: not expected, got {"a":1}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			diffs, err := Compare(`sink "s"`, &c.expect, c.want, rowsOf(t, c.got...))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case c.first == "" && len(diffs) > 0:
				t.Fatalf("unexpected difference: %s", diffs[0].Message)
			case c.first != "" && len(diffs) == 0:
				t.Fatalf("no difference, want %s", c.first)
			case c.first != "" && diffs[0].Message != c.first:
				t.Fatalf("first difference:\n got %s\nwant %s", diffs[0].Message, c.first)
			}
		})
	}
}

func TestRulesReadAndWrite(t *testing.T) {
	for _, s := range []string{`"exact"`, `"ignore"`, `"present"`, `{"tolerance":0.5}`, `{"regex":"^a$"}`} {
		b, err := json.Marshal(rule(t, s))
		if err != nil || string(b) != s {
			t.Errorf("%s: round trip %s %v", s, b, err)
		}
	}
	for _, bad := range []string{`"fuzzy"`, `{"tolerance":-1}`, `{"tolerance":1,"regex":"a"}`, `{"other":1}`, `3`} {
		var r Rule
		if err := json.Unmarshal([]byte(bad), &r); err == nil {
			t.Errorf("%s: accepted as %+v", bad, r)
		}
	}
}

func TestParseRefusesMalformedFiles(t *testing.T) {
	for _, c := range []struct{ doc, err string }{
		{`{"tests":[]}`, `missing "version"`},
		{`{"version":2,"tests":[]}`, "newer"},
		{`{"version":1,"tests":[{"name":"a","sources":{"s":{}}}]}`, `source "s": give exactly one of rows, file, sequence or keep`},
		{`{"version":1,"tests":[{"name":"a","sources":{"s":{"keep":true,"rows":[]}}}]}`, "exactly one"},
		{`{"version":1,"tests":[{"name":"a"},{"name":"a"}]}`, `name "a" used twice`},
		{`{"version":1,"tests":[{"name":""}]}`, "needs a name"},
		{`{"version":1,"tests":[{"name":"a","expect":{"x":{"order":"sorted"}}}]}`, `order "sorted"`},
		{`{"version":1,"tests":[{"name":"a","typo":1}]}`, `unknown field "typo"`},
		{"{\"version\":1,\n\"tests\":[}", "line 2"},
		{`{"version":1,"tests":[{"name":"a","expect":{"x":{"fields":{"f":{"regex":"("}}}}}]}`, "missing closing )"},
	} {
		_, err := Parse([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error %v, want one containing %q", c.doc, err, c.err)
		}
	}
}

func TestMultisetOfManyRows(t *testing.T) {
	var want []json.RawMessage
	var got []rows.Row
	for i := int64(0); i < 20000; i++ {
		want = append(want, json.RawMessage(`{"n":`+itoa(i)+`}`))
		got = append(got, rows.Row{{Name: "n", Value: rows.Int(19999 - i)}})
	}
	diffs, err := Compare("s", &Expect{Order: "any"}, want, got)
	if err != nil || len(diffs) != 0 {
		t.Fatalf("%v %v", diffs, err)
	}
}

func itoa(i int64) string { b, _ := json.Marshal(i); return string(b) }
