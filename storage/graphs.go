package storage

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// GraphInfo describes a graph and its latest version.
type GraphInfo struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// VersionInfo describes one saved version of a graph.
type VersionInfo struct {
	GraphID   string    `json:"graph_id"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	Message   string    `json:"message"`
}

// emptyDoc is the document of a graph created without one (format version 1).
const emptyDoc = `{
  "version": 1,
  "id": "",
  "name": "",
  "nodes": [],
  "edges": []
}
`

// CreateGraph saves doc as version 1 of a new graph and returns it. An empty doc starts an empty
// graph. The store assigns the graph's ID and writes it, with name, into the document's top-level
// "id" and "name" members; when name is empty the document's own name is used.
func (s *Store) CreateGraph(ctx context.Context, name string, doc []byte) (GraphInfo, error) {
	id := newID()
	if len(bytes.TrimSpace(doc)) == 0 {
		doc = []byte(emptyDoc)
	}
	if name == "" {
		n, err := docName(doc)
		if err != nil {
			return GraphInfo{}, fmt.Errorf("create graph: %w", err)
		}
		name = n
	}
	if name == "" {
		return GraphInfo{}, fmt.Errorf("create graph: empty name: %w", ErrInvalid)
	}
	doc, err := withIdentity(doc, id, name)
	if err != nil {
		return GraphInfo{}, fmt.Errorf("create graph %q: %w", name, err)
	}
	g, err := s.insertGraph(ctx, id, name, doc, "created")
	if err != nil {
		return GraphInfo{}, fmt.Errorf("create graph %q: %w", name, err)
	}
	return g, nil
}

// insertGraph inserts a new graph with doc as its version 1.
func (s *Store) insertGraph(ctx context.Context, id, name string, doc []byte, message string) (GraphInfo, error) {
	now := nowNS()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO graphs (id, name, created_at, version) VALUES (?, ?, ?, 1)",
			id, name, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO graph_versions (graph_id, version, created_at, message, doc) VALUES (?, 1, ?, ?, ?)",
			id, now, message, doc)
		return err
	})
	if err != nil {
		return GraphInfo{}, err
	}
	return GraphInfo{ID: id, Name: name, Version: 1, CreatedAt: fromNS(now), UpdatedAt: fromNS(now)}, nil
}

// SaveVersion appends doc as the graph's next version. The document's top-level "id" and "name"
// are set to the graph's (a no-op, byte for byte, when they already match); renaming goes
// through RenameGraph.
func (s *Store) SaveVersion(ctx context.Context, graphID string, doc []byte, message string) (VersionInfo, error) {
	var vi VersionInfo
	err := s.tx(ctx, func(tx *sql.Tx) error {
		g, err := graphRow(ctx, tx, graphID)
		if err != nil {
			return err
		}
		d, err := withIdentity(doc, g.ID, g.Name)
		if err != nil {
			return err
		}
		vi, err = appendVersion(ctx, tx, g, d, message)
		return err
	})
	if err != nil {
		return VersionInfo{}, fmt.Errorf("graph %q: save version: %w", graphID, err)
	}
	return vi, nil
}

// ListGraphs returns every graph, the most recently changed first.
func (s *Store) ListGraphs(ctx context.Context) ([]GraphInfo, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT g.id, g.name, g.version, g.created_at, v.created_at
		FROM graphs g JOIN graph_versions v ON v.graph_id = g.id AND v.version = g.version
		ORDER BY v.created_at DESC, g.id`)
	if err != nil {
		return nil, fmt.Errorf("list graphs: %w", err)
	}
	defer rows.Close()
	gs := []GraphInfo{}
	for rows.Next() {
		var g GraphInfo
		var created, updated int64
		if err := rows.Scan(&g.ID, &g.Name, &g.Version, &created, &updated); err != nil {
			return nil, fmt.Errorf("list graphs: %w", err)
		}
		g.CreatedAt, g.UpdatedAt = fromNS(created), fromNS(updated)
		gs = append(gs, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list graphs: %w", err)
	}
	return gs, nil
}

// LoadGraph returns the graph and the document of its latest version.
func (s *Store) LoadGraph(ctx context.Context, id string) (GraphInfo, json.RawMessage, error) {
	var g GraphInfo
	var created, updated int64
	var doc []byte
	err := s.db.QueryRowContext(ctx, `
		SELECT g.id, g.name, g.version, g.created_at, v.created_at, v.doc
		FROM graphs g JOIN graph_versions v ON v.graph_id = g.id AND v.version = g.version
		WHERE g.id = ?`, id).Scan(&g.ID, &g.Name, &g.Version, &created, &updated, &doc)
	if errors.Is(err, sql.ErrNoRows) {
		return GraphInfo{}, nil, fmt.Errorf("graph %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return GraphInfo{}, nil, fmt.Errorf("graph %q: load: %w", id, err)
	}
	g.CreatedAt, g.UpdatedAt = fromNS(created), fromNS(updated)
	return g, doc, nil
}

// LoadVersion returns version v of the graph, exactly as it was saved.
func (s *Store) LoadVersion(ctx context.Context, id string, v int) (VersionInfo, json.RawMessage, error) {
	vi := VersionInfo{GraphID: id, Version: v}
	var created int64
	var doc []byte
	err := s.db.QueryRowContext(ctx, "SELECT created_at, message, doc FROM graph_versions WHERE graph_id = ? AND version = ?",
		id, v).Scan(&created, &vi.Message, &doc)
	if errors.Is(err, sql.ErrNoRows) {
		return VersionInfo{}, nil, fmt.Errorf("graph %q version %d: %w", id, v, ErrNotFound)
	}
	if err != nil {
		return VersionInfo{}, nil, fmt.Errorf("graph %q version %d: load: %w", id, v, err)
	}
	vi.CreatedAt = fromNS(created)
	return vi, doc, nil
}

// ListVersions returns the graph's versions, the newest first.
func (s *Store) ListVersions(ctx context.Context, id string) ([]VersionInfo, error) {
	rows, err := s.db.QueryContext(ctx,
		"SELECT version, created_at, message FROM graph_versions WHERE graph_id = ? ORDER BY version DESC", id)
	if err != nil {
		return nil, fmt.Errorf("graph %q: list versions: %w", id, err)
	}
	defer rows.Close()
	vs := []VersionInfo{}
	for rows.Next() {
		vi := VersionInfo{GraphID: id}
		var created int64
		if err := rows.Scan(&vi.Version, &created, &vi.Message); err != nil {
			return nil, fmt.Errorf("graph %q: list versions: %w", id, err)
		}
		vi.CreatedAt = fromNS(created)
		vs = append(vs, vi)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("graph %q: list versions: %w", id, err)
	}
	if len(vs) == 0 { // a graph always has version 1
		return nil, fmt.Errorf("graph %q: %w", id, ErrNotFound)
	}
	return vs, nil
}

// RestoreVersion appends a copy of version v as the graph's newest version. The copy keeps the
// graph's current name.
func (s *Store) RestoreVersion(ctx context.Context, id string, v int) (VersionInfo, error) {
	var vi VersionInfo
	err := s.tx(ctx, func(tx *sql.Tx) error {
		g, err := graphRow(ctx, tx, id)
		if err != nil {
			return err
		}
		doc, err := versionDoc(ctx, tx, id, v)
		if err != nil {
			return err
		}
		if doc, err = withIdentity(doc, g.ID, g.Name); err != nil {
			return err
		}
		vi, err = appendVersion(ctx, tx, g, doc, fmt.Sprintf("restored version %d", v))
		return err
	})
	if err != nil {
		return VersionInfo{}, fmt.Errorf("graph %q: restore version %d: %w", id, v, err)
	}
	return vi, nil
}

// RenameGraph renames the graph. The name lives in the document too, so a rename appends a
// version whose document carries the new name; renaming to the current name changes nothing.
func (s *Store) RenameGraph(ctx context.Context, id, name string) (GraphInfo, error) {
	if name == "" {
		return GraphInfo{}, fmt.Errorf("graph %q: rename: empty name: %w", id, ErrInvalid)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		g, err := graphRow(ctx, tx, id)
		if err != nil {
			return err
		}
		if g.Name == name {
			return nil
		}
		doc, err := versionDoc(ctx, tx, id, g.Version)
		if err != nil {
			return err
		}
		if doc, err = withIdentity(doc, g.ID, name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE graphs SET name = ? WHERE id = ?", name, id); err != nil {
			return err
		}
		msg := fmt.Sprintf("renamed from %q", g.Name)
		g.Name = name
		_, err = appendVersion(ctx, tx, g, doc, msg)
		return err
	})
	if err != nil {
		return GraphInfo{}, fmt.Errorf("graph %q: rename: %w", id, err)
	}
	g, _, err := s.LoadGraph(ctx, id)
	return g, err
}

// DuplicateGraph creates a new graph whose version 1 is a copy of the graph's latest version
// (history is not copied). An empty name means "<name> (copy)".
func (s *Store) DuplicateGraph(ctx context.Context, id, name string) (GraphInfo, error) {
	src, doc, err := s.LoadGraph(ctx, id)
	if err != nil {
		return GraphInfo{}, fmt.Errorf("duplicate: %w", err)
	}
	if name == "" {
		name = src.Name + " (copy)"
	}
	newID := newID()
	if doc, err = withIdentity(doc, newID, name); err != nil {
		return GraphInfo{}, fmt.Errorf("graph %q: duplicate: %w", id, err)
	}
	g, err := s.insertGraph(ctx, newID, name, doc, fmt.Sprintf("duplicated from %q version %d", src.Name, src.Version))
	if err != nil {
		return GraphInfo{}, fmt.Errorf("graph %q: duplicate: %w", id, err)
	}
	return g, nil
}

// DeleteGraph deletes the graph and its whole history. Runs of the graph are kept, detached.
func (s *Store) DeleteGraph(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM graphs WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("graph %q: delete: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("graph %q: %w", id, ErrNotFound)
	}
	return nil
}

// graphRow reads the graph row inside a transaction.
func graphRow(ctx context.Context, tx *sql.Tx, id string) (GraphInfo, error) {
	g := GraphInfo{ID: id}
	var created int64
	err := tx.QueryRowContext(ctx, "SELECT name, version, created_at FROM graphs WHERE id = ?", id).
		Scan(&g.Name, &g.Version, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return GraphInfo{}, fmt.Errorf("graph %q: %w", id, ErrNotFound)
	}
	g.CreatedAt = fromNS(created)
	return g, err
}

func versionDoc(ctx context.Context, tx *sql.Tx, id string, v int) ([]byte, error) {
	var doc []byte
	err := tx.QueryRowContext(ctx, "SELECT doc FROM graph_versions WHERE graph_id = ? AND version = ?", id, v).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("version %d: %w", v, ErrNotFound)
	}
	return doc, err
}

// appendVersion inserts doc as version g.Version+1 and moves the graph's latest pointer to it.
func appendVersion(ctx context.Context, tx *sql.Tx, g GraphInfo, doc []byte, message string) (VersionInfo, error) {
	vi := VersionInfo{GraphID: g.ID, Version: g.Version + 1, Message: message}
	now := nowNS()
	if _, err := tx.ExecContext(ctx, "INSERT INTO graph_versions (graph_id, version, created_at, message, doc) VALUES (?, ?, ?, ?, ?)",
		g.ID, vi.Version, now, message, doc); err != nil {
		return VersionInfo{}, err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE graphs SET version = ? WHERE id = ?", vi.Version, g.ID); err != nil {
		return VersionInfo{}, err
	}
	vi.CreatedAt = fromNS(now)
	return vi, nil
}

// docName returns the document's top-level "name" ("" when absent).
func docName(doc []byte) (string, error) {
	var d struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return "", fmt.Errorf("document: %v: %w", err, ErrInvalid)
	}
	return d.Name, nil
}

// withIdentity returns doc with its top-level "id" and "name" members set to id and name. It
// edits the bytes in place rather than re-encoding, so the document keeps its formatting and key
// order, and a member that already has the right value is left byte for byte. A missing member is
// inserted at the start of the object.
func withIdentity(doc []byte, id, name string) ([]byte, error) {
	if !json.Valid(doc) {
		return nil, fmt.Errorf("document is not valid JSON: %w", ErrInvalid)
	}
	open := skipSpace(doc, 0)
	if doc[open] != '{' {
		return nil, fmt.Errorf("document is not a JSON object: %w", ErrInvalid)
	}
	open++
	type member struct {
		want       string
		start, end int // value span; end == 0 when absent, -1 when already right
	}
	members := []*member{{want: id}, {want: name}}
	// One pass over the top-level members of the (valid) object, skipping values unparsed: this
	// runs on every save and documents run to hundreds of kilobytes.
	for i := skipSpace(doc, open); doc[i] == '"'; {
		keyEnd := skipValue(doc, i)
		var key string
		if err := json.Unmarshal(doc[i:keyEnd], &key); err != nil {
			return nil, fmt.Errorf("document: %v: %w", err, ErrInvalid)
		}
		start := skipSpace(doc, skipSpace(doc, keyEnd)+1) // past ':'
		end := skipValue(doc, start)
		i = skipSpace(doc, end)
		if doc[i] == ',' {
			i = skipSpace(doc, i+1)
		}
		var m *member
		switch key {
		case "id":
			m = members[0]
		case "name":
			m = members[1]
		default:
			continue
		}
		if m.end != 0 {
			return nil, fmt.Errorf("document has %q twice: %w", key, ErrInvalid)
		}
		var got string
		if err := json.Unmarshal(doc[start:end], &got); err != nil {
			return nil, fmt.Errorf("document %q must be a string: %w", key, ErrInvalid)
		}
		m.start, m.end = start, end
		if got == m.want {
			m.start, m.end = -1, -1
		}
	}

	// Missing members go right after '{' and its whitespace, laid out like the first member.
	ws := open
	for ws < len(doc) && isSpace(doc[ws]) {
		ws++
	}
	sep, colon := []byte(","), []byte(":")
	if ws > open {
		sep, colon = append([]byte(","), doc[open:ws]...), []byte(": ")
	}
	var insert []byte
	for i, key := range []string{"id", "name"} {
		if members[i].end != 0 {
			continue
		}
		if len(insert) > 0 {
			insert = append(insert, sep...)
		}
		insert = append(insert, quote(key)...)
		insert = append(insert, colon...)
		insert = append(insert, quote(members[i].want)...)
	}
	if len(insert) > 0 && doc[ws] != '}' {
		insert = append(insert, sep...)
	}

	out := make([]byte, 0, len(doc)+len(insert)+len(id)+len(name))
	out = append(out, doc[:ws]...)
	out = append(out, insert...)
	pos := ws
	// Replace present members in document order.
	if members[0].start > members[1].start {
		members[0], members[1] = members[1], members[0]
	}
	for _, m := range members {
		if m.end <= 0 {
			continue
		}
		out = append(out, doc[pos:m.start]...)
		out = append(out, quote(m.want)...)
		pos = m.end
	}
	out = append(out, doc[pos:]...)
	if bytes.Equal(out, doc) {
		return doc, nil
	}
	return out, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the index of the first non-space byte of doc at or after i.
func skipSpace(doc []byte, i int) int {
	for i < len(doc) && isSpace(doc[i]) {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value starting at doc[i]. doc must be valid.
func skipValue(doc []byte, i int) int {
	if c := doc[i]; c != '"' && c != '{' && c != '[' { // number, true, false, null
		for i < len(doc) && !isSpace(doc[i]) && doc[i] != ',' && doc[i] != '}' && doc[i] != ']' {
			i++
		}
		return i
	}
	depth := 0
	for ; i < len(doc); i++ {
		switch doc[i] {
		case '"':
			for i++; doc[i] != '"'; i++ {
				if doc[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
			continue
		case '}', ']':
			depth--
		default:
			continue
		}
		if depth == 0 {
			return i + 1
		}
	}
	return i
}

// quote encodes s as a JSON string without HTML escaping.
func quote(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
