package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// loadLabels reads the labels config: a JSON list of names, or a path to a label file.
func loadLabels(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '[' {
		var l []string
		err := json.Unmarshal(raw, &l)
		return l, err
	}
	var path string
	if err := json.Unmarshal(raw, &path); err != nil {
		return nil, fmt.Errorf("want a list of names or a file path: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w (grant the node a directory holding it)", err)
	}
	l, err := parseLabels(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// parseLabels reads a class map CSV with a header naming an index and a display_name column
// (YAMNet's yamnet_class_map.csv: index,mid,display_name), or one label per line.
func parseLabels(data []byte) ([]string, error) {
	first, _, _ := bytes.Cut(data, []byte("\n"))
	header := strings.Split(strings.TrimSpace(string(first)), ",")
	idxCol, nameCol := -1, -1
	for i, h := range header {
		switch strings.TrimSpace(strings.ToLower(h)) {
		case "index":
			idxCol = i
		case "display_name", "name", "label":
			nameCol = i
		}
	}
	if nameCol < 0 {
		var l []string
		for _, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				l = append(l, line)
			}
		}
		return l, nil
	}
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		return nil, err
	}
	var l []string
	for k, rec := range recs[1:] {
		if nameCol >= len(rec) {
			return nil, fmt.Errorf("line %d: no column %d", k+2, nameCol+1)
		}
		i := k
		if idxCol >= 0 && idxCol < len(rec) {
			if i, err = strconv.Atoi(strings.TrimSpace(rec[idxCol])); err != nil || i < 0 || i > 1<<20 {
				return nil, fmt.Errorf("line %d: bad index %q", k+2, rec[idxCol])
			}
		}
		for len(l) <= i {
			l = append(l, "")
		}
		l[i] = rec[nameCol]
	}
	return l, nil
}
