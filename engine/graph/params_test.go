package graph

import (
	"strings"
	"testing"
)

const paramDoc = `{"version":1,"id":"p","name":"p",
 "parameters":[
  {"name":"dir","type":"string","default":"/data","doc":"input directory"},
  {"name":"n","type":"integer","default":5},
  {"name":"thr","type":"number","default":0.5},
  {"name":"on","type":"boolean","default":true},
  {"name":"broker","type":"string"}],
 "nodes":[{"id":"a","type":"t","config":{"path":"${param:dir}/in.jsonl","count":"${param:n}","t":"${param:thr}",
   "flag":"${param:on}","url":"${param:broker}","lit":"$${param:dir}","list":["x-${param:n}"]}}],
 "edges":[]}`

func TestSubstitute(t *testing.T) {
	d, err := Parse([]byte(paramDoc))
	if err != nil {
		t.Fatal(err)
	}
	if refs := d.ParamRefs()["a"]; strings.Join(refs, ",") != "broker,dir,n,on,thr" {
		t.Fatalf("refs %v", refs)
	}
	s, err := d.Substitute(map[string]any{"broker": "tcp://h:1883", "thr": "0.75"})
	if err == nil || !strings.Contains(err.Error(), `parameter "thr"`) || !strings.Contains(err.Error(), "not of type number") {
		t.Fatalf("mistyped value: %v", err)
	}
	if _, err := d.Substitute(nil); err == nil || !strings.Contains(err.Error(), `parameter "broker": no value given and no default`) {
		t.Fatalf("missing value: %v", err)
	}
	s, err = d.Substitute(map[string]any{"broker": "tcp://h:1883", "n": int64(7)})
	if err != nil {
		t.Fatal(err)
	}
	got := string(s.Nodes[0].Config)
	for _, want := range []string{`"path":"/data/in.jsonl"`, `"count":7`, `"t":0.5`, `"flag":true`, `"url":"tcp://h:1883"`, `"lit":"${param:dir}"`, `"list":["x-7"]`} {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %s", got, want)
		}
	}
	if string(d.Nodes[0].Config) == got {
		t.Fatal("Substitute changed the original document")
	}
	bad, _ := Parse([]byte(strings.Replace(paramDoc, "${param:broker}", "${param:nope}", 1)))
	if _, err := bad.Substitute(map[string]any{"broker": "x"}); err == nil || !strings.Contains(err.Error(), `node "a" config url: parameter "nope": not declared`) {
		t.Fatalf("undeclared reference: %v", err)
	}
	env, _ := Parse([]byte(strings.Replace(paramDoc, "${param:broker}", "${env:HOME}", 1)))
	if _, err := env.Substitute(map[string]any{"broker": "x"}); err == nil || !strings.Contains(err.Error(), "the syntax is ${param:NAME}") {
		t.Fatalf("other reference kinds: %v", err)
	}
	v, err := ParseParamValue(Parameter{Name: "n", Type: "integer"}, "12")
	if err != nil || v != int64(12) {
		t.Fatalf("ParseParamValue: %v %v", v, err)
	}
	if _, err := ParseParamValue(Parameter{Name: "on", Type: "boolean"}, "maybe"); err == nil || !strings.Contains(err.Error(), `parameter "on"`) {
		t.Fatalf("ParseParamValue boolean: %v", err)
	}
	dup, _ := Parse([]byte(strings.Replace(paramDoc, `"name":"n"`, `"name":"dir"`, 1)))
	if err := dup.CheckParameters(); err == nil || !strings.Contains(err.Error(), "declared twice") {
		t.Fatalf("duplicate: %v", err)
	}
}
