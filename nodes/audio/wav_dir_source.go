package audio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
	"github.com/atoll-studio/atoll/nodes/core"
)

var wavDirSourceSpec = engine.Spec{
	ID:       "source.wav_dir",
	Category: "source",
	Summary:  "Streams a folder of WAV recordings, one file after another, as rows of float32 samples.",
	Docs: "Reads every `.wav` file of a directory (or every file a glob such as `Data/*.WAV` " +
		"matches), sorted by name, one after another with the same reader as `source.wav` (the same " +
		"formats and the same checks of every header size; one file open at a time, at most 1 MiB of " +
		"it held at once). Each row carries `file` (the recording's path) and `t_start`/`t_end` as " +
		"offsets within that file; the nodes after it restart at each new file, so no window spans " +
		"two recordings.\n\n" +
		"When a file name says when the recording started, each row also carries `time`, the " +
		"wall-clock time of its first sample, read in `timezone`. The names recognised are:\n\n" +
		"| Recorder | Name | Example |\n|---|---|---|\n" +
		"| AudioMoth | `YYYYMMDD_HHMMSS.WAV` (UTC unless the firmware was set otherwise) | `20240601_053000.WAV` |\n" +
		"| Song Meter (SM4, SM5, Mini) | `PREFIX_YYYYMMDD_HHMMSS.wav` (recorder name, then the recorder's local time) | `WALDEN_20240601_140505.wav` |\n" +
		"| Song Meter variants | a `$` after the time, or a suffix such as `_0+1` after it | `SM4A_20240601_140505$.wav` |\n" +
		"| any recorder | `PREFIX_YYYYMMDD_HHMMSS` with `_` or `-` before the date, and an optional `_uuuuuu` of microseconds | `MIC-3_20240601_140505_250000.wav` |\n\n" +
		"A name that does not match (or names an impossible date) gives rows without `time`. " +
		"A file that cannot be read (not a WAV, a header that does not fit, a channel it lacks) sends " +
		"one row to `errors` naming it (`file`, `byte` where known) and the run goes on with the next " +
		"file; a file that ends early keeps the rows read, as with `source.wav`. The node shows " +
		"`progress` over all files, `file` (k) and `files` (n), and the real-time factor.",
	Headless: true,
	Outputs:  []engine.Port{{Name: "out", Type: PortType, Doc: "audio rows with file (and time)"}},
	Fields: []engine.Field{
		{Name: "path", Type: "string", Doc: "directory of WAV files, or a glob such as Data/*.WAV (relative to the graph's directory)", Required: true, Path: true},
		{Name: "frame", Type: "integer", Doc: "samples per row", Default: 4096, Min: engine.Num(1), Max: engine.Num(1 << 20)},
		{Name: "channel", Type: "integer", Doc: "channel to keep (0-based); -1 mixes all to mono", Default: -1, Min: engine.Num(-1)},
		{Name: "timezone", Type: "string", Doc: "time zone of the times in file names (IANA name, UTC or Local)", Default: "UTC"},
		{Name: "batch_size", Type: "integer", Doc: "rows per batch", Default: 4, Min: engine.Num(1)},
	},
	Examples: []engine.Example{
		{Name: "bird recordings", Config: json.RawMessage(`{"path":"../shared/testdata/audio/birds","frame":4800}`)},
		{Name: "glob", Config: json.RawMessage(`{"path":"../shared/testdata/audio/birds/*.wav","timezone":"Europe/London"}`)},
	},
	Defaults: wavDirSourceDefaults,
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, wavDirSourceDefaults)
		if err != nil {
			return nil, err
		}
		loc, err := time.LoadLocation(cfg.Timezone)
		if err != nil {
			return nil, fmt.Errorf("config: timezone: %w", err)
		}
		// A relative path resolves against the graph's directory, as file paths do.
		if dir, ok := bc.Services[core.BaseDirService].(string); ok && dir != "" && !filepath.IsAbs(cfg.Path) {
			cfg.Path = filepath.Join(dir, cfg.Path)
		}
		return &wavDirSource{cfg: cfg, loc: loc}, nil
	},
}

type wavDirSourceConfig struct {
	Path      string `json:"path"`
	Frame     int    `json:"frame"`
	Channel   int    `json:"channel"`
	Timezone  string `json:"timezone"`
	BatchSize int    `json:"batch_size"`
}

var wavDirSourceDefaults = wavDirSourceConfig{Frame: 4096, Channel: -1, Timezone: "UTC", BatchSize: 4}

func init() { nodes.Register(wavDirSourceSpec) }

type wavDirSource struct {
	cfg wavDirSourceConfig
	loc *time.Location
}

// files lists the recordings: the .wav files of a directory, or the files a glob matches,
// sorted by name.
func (s *wavDirSource) files() ([]string, error) {
	var out []string
	if fi, err := os.Stat(s.cfg.Path); err == nil && fi.IsDir() {
		ents, err := os.ReadDir(s.cfg.Path)
		if err != nil {
			return nil, fmt.Errorf("wav folder %q: %w", s.cfg.Path, err)
		}
		for _, e := range ents {
			if !e.IsDir() && strings.EqualFold(filepath.Ext(e.Name()), ".wav") {
				out = append(out, filepath.Join(s.cfg.Path, e.Name()))
			}
		}
	} else {
		matches, gerr := filepath.Glob(s.cfg.Path)
		if gerr != nil {
			return nil, fmt.Errorf("wav folder %q: %w", s.cfg.Path, gerr)
		}
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && !fi.IsDir() {
				out = append(out, m)
			}
		}
		if len(out) == 0 && err != nil && !strings.ContainsAny(s.cfg.Path, "*?[") {
			return nil, fmt.Errorf("wav folder %q: %w", s.cfg.Path, err)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("wav folder %q: no WAV files", s.cfg.Path)
	}
	slices.SortFunc(out, func(a, b string) int {
		if c := strings.Compare(filepath.Base(a), filepath.Base(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return out, nil
}

func (s *wavDirSource) Validate() error {
	_, err := s.files()
	return err
}

func (s *wavDirSource) Run(ctx context.Context, out engine.Output) error {
	files, err := s.files()
	if err != nil {
		return err
	}
	start := time.Now()
	p := wavRows{frame: s.cfg.Frame, channel: s.cfg.Channel, batch: s.cfg.BatchSize}
	var seconds float64 // audio sent from the files before this one
	out.Gauge("files", float64(len(files)))
	for k, path := range files {
		if ctx.Err() != nil {
			return nil
		}
		out.Gauge("file", float64(k+1))
		rec := recording{file: path}
		if t, ok := RecorderTime(filepath.Base(path), s.loc); ok {
			rec.origin, rec.timed = t.UnixNano(), true
		}
		st, err := s.open(path)
		if err != nil {
			s.reject(out, path, err)
			continue
		}
		done, stopped, end := p.stream(ctx, st, rec, out, start, func(done, total int64) {
			if total > 0 {
				out.Gauge("progress", (float64(k)+float64(done)/float64(total))/float64(len(files)))
			}
			if el := time.Since(start).Seconds(); el > 0 {
				out.Gauge("rtf", (seconds+float64(done)/float64(st.rate))/el)
			}
		})
		st.closer.Close()
		seconds += float64(done) / float64(st.rate)
		if stopped {
			return nil
		}
		if end != nil {
			s.reject(out, path, fmt.Errorf("frame %d: %w", done, end))
		}
		out.Gauge("progress", float64(k+1)/float64(len(files)))
	}
	return nil
}

// open opens one recording and checks that it has the channel wanted.
func (s *wavDirSource) open(path string) (*wavStream, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := openWAV(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	st.closer = f
	if s.cfg.Channel >= st.channels {
		f.Close()
		return nil, fmt.Errorf("wav %q: channel %d, but the file has %d channels", path, s.cfg.Channel, st.channels)
	}
	return st, nil
}

// reject sends one error row naming the file (and the byte where its samples stop, if known).
func (s *wavDirSource) reject(out engine.Output, path string, err error) {
	r := rows.Row{{Name: FieldFile, Value: rows.String(path)}}
	var short *errWAVShort
	if errors.As(err, &short) {
		r = append(r, rows.Field{Name: "byte", Value: rows.Int(short.at)})
	}
	out.Reject(r, err)
}

// recorderName matches the timestamped names recorders give their files: an optional prefix
// ending in "_" or "-", YYYYMMDD_HHMMSS, optional microseconds, an optional "$" and an optional
// suffix after "_".
var recorderName = regexp.MustCompile(`(?i)^(?:.*[_-])?(\d{8})_(\d{6})(?:_(\d{6}))?\$?(?:_[^.]*)?\.wav$`)

// RecorderTime returns when the recording named name (a base name) started, read in loc, if the
// name follows a recorder's convention (AudioMoth, Song Meter, PREFIX_YYYYMMDD_HHMMSS.wav).
func RecorderTime(name string, loc *time.Location) (time.Time, bool) {
	m := recorderName.FindStringSubmatch(name)
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation("20060102150405", m[1]+m[2], loc)
	if err != nil {
		return time.Time{}, false
	}
	if m[3] != "" {
		var us int64
		fmt.Sscanf(m[3], "%d", &us)
		t = t.Add(time.Duration(us) * time.Microsecond)
	}
	return t, true
}

var (
	_ engine.Source    = (*wavDirSource)(nil)
	_ engine.Validator = (*wavDirSource)(nil)
)
