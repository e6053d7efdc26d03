// Package http holds the HTTP connectors: source.http_poll (polls a URL), source.http_listen (a
// webhook endpoint) and sink.http (posts batches). Rows travel as their JSON view: a JSON object
// per row, in a JSON array or one per line (JSON lines).
package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	nethttp "net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/atoll-studio/atoll/engine/rows"
)

// parseRows reads a body of rows: "json" is one object (one row) or an array of objects;
// "jsonl" is one object per line, blank lines skipped. Errors name the element or line.
func parseRows(data []byte, format string) ([]rows.Row, error) {
	if format == "jsonl" {
		var out []rows.Row
		line := 0
		for len(data) > 0 {
			line++
			l := data
			if i := bytes.IndexByte(data, '\n'); i >= 0 {
				l, data = data[:i], data[i+1:]
			} else {
				data = nil
			}
			l = bytes.TrimSpace(l)
			if len(l) == 0 {
				continue
			}
			r, err := rows.ParseJSON(l)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			out = append(out, r)
		}
		return out, nil
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("empty body (want a JSON object or an array of objects)")
	}
	switch data[0] {
	case '{':
		r, err := rows.ParseJSON(data)
		if err != nil {
			return nil, err
		}
		return []rows.Row{r}, nil
	case '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(data, &elems); err != nil {
			return nil, fmt.Errorf("json array: %w", err)
		}
		out := make([]rows.Row, 0, len(elems))
		for i, e := range elems {
			r, err := rows.ParseJSON(e)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			out = append(out, r)
		}
		return out, nil
	}
	return nil, fmt.Errorf("a JSON object or an array of objects expected, got %s", excerpt(data, 40))
}

// selectPath returns the JSON value at path in data: keys separated by dots, array elements by
// their index ("data", "data.items", "results.0.rows"). An empty path selects the whole body.
func selectPath(data []byte, path string) ([]byte, error) {
	if path == "" {
		return data, nil
	}
	cur := json.RawMessage(data)
	done := ""
	for _, key := range strings.Split(path, ".") {
		trimmed := bytes.TrimSpace(cur)
		where := "the body"
		if done != "" {
			where = strconv.Quote(done)
		}
		if len(trimmed) > 0 && trimmed[0] == '[' {
			i, err := strconv.Atoi(key)
			if err != nil {
				return nil, fmt.Errorf("path %q: %s is an array, and %q is not an index", path, where, key)
			}
			var elems []json.RawMessage
			if err := json.Unmarshal(trimmed, &elems); err != nil {
				return nil, fmt.Errorf("path %q: %s: %w", path, where, err)
			}
			if i < 0 || i >= len(elems) {
				return nil, fmt.Errorf("path %q: %s has %d elements, no index %d", path, where, len(elems), i)
			}
			cur = elems[i]
		} else {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(trimmed, &obj); err != nil {
				return nil, fmt.Errorf("path %q: %s is not an object: %w", path, where, err)
			}
			v, ok := obj[key]
			if !ok {
				return nil, fmt.Errorf("path %q: %s has no key %q", path, where, key)
			}
			cur = v
		}
		if done != "" {
			done += "."
		}
		done += key
	}
	return cur, nil
}

// excerpt returns at most n bytes of b as text, cut on a rune boundary, with an ellipsis when cut.
func excerpt(b []byte, n int) string {
	if len(b) <= n {
		return strings.ToValidUTF8(string(b), "?")
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return strings.ToValidUTF8(string(b[:cut]), "?") + "…"
}

// appendRows appends rows as a JSON array ("json") or JSON lines ("jsonl").
func appendRows(dst []byte, rs []rows.Row, format string) []byte {
	if format == "jsonl" {
		for _, r := range rs {
			dst = append(r.AppendJSON(dst), '\n')
		}
		return dst
	}
	dst = append(dst, '[')
	for i, r := range rs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = r.AppendJSON(dst)
	}
	return append(dst, ']')
}

// headersSchema is the JSON Schema of a headers field: header name → value.
var headersSchema = map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}}

// checkRequest checks the URL, method (one of methods) and body format of a request config.
func checkRequest(rawURL, method, format string, methods ...string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("config: url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("config: url %q is not an http or https URL", rawURL)
	}
	if !slices.Contains(methods, method) {
		return fmt.Errorf("config: method %q is not one of %s", method, strings.Join(methods, ", "))
	}
	if format != "json" && format != "jsonl" {
		return fmt.Errorf("config: format %q is not json or jsonl", format)
	}
	return nil
}

// checkHeaders refuses header names and values that net/http would refuse or mangle.
func checkHeaders(h map[string]string) error {
	for k, v := range h {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			return fmt.Errorf("config: headers: %q is not a header name", k)
		}
		if strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("config: headers.%s: a value may not hold a line break", k)
		}
	}
	return nil
}

// statusText is the lower-case reason phrase of an HTTP status.
func statusText(code int) string {
	if t := nethttp.StatusText(code); t != "" {
		return strings.ToLower(t)
	}
	return "unknown status"
}
