package storage

import (
	"path/filepath"
	"testing"
)

const benchNodes = 500

// BenchmarkSaveVersion saves a 500-node document as a new version, with the durability the
// store uses (FULL: fsync on every commit) and, for comparison, WAL's NORMAL.
func BenchmarkSaveVersion(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run("synchronous="+sync, func(b *testing.B) {
			s, err := open(filepath.Join(b.TempDir(), "atoll.db"), options{synchronous: sync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			g, err := s.CreateGraph(b.Context(), "bench", nil)
			if err != nil {
				b.Fatal(err)
			}
			docs := [][]byte{testDoc(g.ID, "bench", benchNodes, 1), testDoc(g.ID, "bench", benchNodes, 2)}
			b.SetBytes(int64(len(docs[0])))
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := s.SaveVersion(b.Context(), g.ID, docs[i%2], "bench"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(docs[0]))/1024, "KiB/doc") // after the loop: Loop resets metrics
		})
	}
}

// BenchmarkLoadGraph loads the latest version of a 500-node graph with some history.
func BenchmarkLoadGraph(b *testing.B) {
	s := openTest(b)
	g, err := s.CreateGraph(b.Context(), "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	doc := testDoc(g.ID, "bench", benchNodes, 1)
	for range 20 {
		if _, err := s.SaveVersion(b.Context(), g.ID, doc, "history"); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, _, err := s.LoadGraph(b.Context(), g.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(doc))/1024, "KiB/doc")
}

// BenchmarkDiffVersions diffs two 500-node versions in which every node changed.
func BenchmarkDiffVersions(b *testing.B) {
	s := openTest(b)
	g, err := s.CreateGraph(b.Context(), "bench", testDoc("", "bench", benchNodes, 1))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.SaveVersion(b.Context(), g.ID, testDoc(g.ID, "bench", benchNodes, 2), ""); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.DiffVersions(b.Context(), g.ID, 1, 2); err != nil {
			b.Fatal(err)
		}
	}
}
