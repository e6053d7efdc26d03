package graph

import (
	"strings"
	"testing"
)

const messy = `{"edges":[{"to":{"port":"in","node":"b"},"from":{"port":"out","node":"a"}}],
"nodes":[{"type":"source.generator","id":"a","ui":{"y":2,"x":1.5},
  "config":{"rate":0,"count":9007199254740993,"mode":"counter","nested":{"z":1,"a":[{"y":1,"b":2}]}}},
 {"id":"b","type":"transform.filter","config":{"condition":"n < 3 && n > 0 & 1"},"supervision":{"policy":"skip"}}],
"name":"messy","id":"g1","version":1}`

func TestMarshalStable(t *testing.T) {
	d, err := Parse([]byte(messy))
	if err != nil {
		t.Fatal(err)
	}
	first, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Parse(first)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, first)
	}
	second, err := d2.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(first) != string(second) {
		t.Fatalf("marshal -> parse -> marshal changed the document:\n%s\n%s", first, second)
	}
	want := `{
  "version": 1,
  "id": "g1",
  "name": "messy",
  "nodes": [
    {
      "id": "a",
      "type": "source.generator",
      "config": {
        "count": 9007199254740993,
        "mode": "counter",
        "nested": {
          "a": [
            {
              "b": 2,
              "y": 1
            }
          ],
          "z": 1
        },
        "rate": 0
      },
      "ui": {
        "x": 1.5,
        "y": 2
      }
    },
    {
      "id": "b",
      "type": "transform.filter",
      "config": {
        "condition": "n < 3 && n > 0 & 1"
      },
      "supervision": {
        "policy": "skip"
      }
    }
  ],
  "edges": [
    {
      "from": {
        "node": "a",
        "port": "out"
      },
      "to": {
        "node": "b",
        "port": "in"
      }
    }
  ]
}
`
	if string(first) != want {
		t.Fatalf("pretty form (sorted config keys, exact numbers, no HTML escapes):\n%s", first)
	}
}

func TestMarshalEmpty(t *testing.T) {
	d := &Document{Version: FormatVersion, ID: "e", Name: "empty"}
	out, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"nodes": [],`) || !strings.Contains(string(out), `"edges": []`) {
		t.Fatalf("empty lists must be written as []:\n%s", out)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"version":1,"nodes":[],"edges":[]} {}`, "trailing data"},
		{`{"nodes":[]}`, `missing "version"`},
		{`{"version":3}`, "newer than this build"},
		{"{\"version\":1,\n\"nodes\":[{\"id\":1}]}", "line 2, column"},
		{"{\"version\":1,\n \"nodes\":[],\n  \"colour\":1}", `line 3, column 3: json: unknown field "colour"`},
		{`{"version":1,`, "unexpected EOF"},
	} {
		_, err := Parse([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}
