package audio

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/go-audio/wav"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

var wavSourceSpec = engine.Spec{
	ID:       "source.wav",
	Category: "source",
	Summary:  "Streams a WAV file as rows of float32 samples.",
	Docs: "Reads PCM 8/16/24/32-bit, 32/64-bit float and WAVE_FORMAT_EXTENSIBLE files at any rate and " +
		"channel count, a block at a time (never the whole file). Channels are mixed to mono, or one is " +
		"picked with `channel`. Each row holds `frame` samples: `samples` (float32 in [-1, 1]), `rate`, " +
		"`t_start` and `t_end` in seconds. `realtime` paces the rows at the recording's speed, as a " +
		"microphone would. Progress and the real-time factor show on the node.",
	Headless: true,
	Outputs:  []engine.Port{{Name: "out", Type: PortType, Doc: "audio rows"}},
	Fields: []engine.Field{
		{Name: "path", Type: "string", Doc: "WAV asset (SHA-256) or file path", Required: true, Format: "asset", AssetKind: "wav", Path: true},
		{Name: "frame", Type: "integer", Doc: "samples per row", Default: 4096, Min: engine.Num(1), Max: engine.Num(1 << 20)},
		{Name: "channel", Type: "integer", Doc: "channel to keep (0-based); -1 mixes all to mono", Default: -1, Min: engine.Num(-1)},
		{Name: "realtime", Type: "boolean", Doc: "pace rows at the recording's speed", Default: false},
		{Name: "batch_size", Type: "integer", Doc: "rows per batch", Default: 4, Min: engine.Num(1)},
	},
	Examples: []engine.Example{
		{Name: "owl", Config: json.RawMessage(`{"path":"../shared/testdata/audio/birds/tawnyowl.wav","frame":4800}`)},
	},
	Defaults: wavSourceDefaults,
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, wavSourceDefaults)
		if err != nil {
			return nil, err
		}
		return &wavSource{cfg: cfg, assets: bc.Assets}, nil
	},
}

type wavSourceConfig struct {
	Path      string `json:"path"`
	Frame     int    `json:"frame"`
	Channel   int    `json:"channel"`
	Realtime  bool   `json:"realtime"`
	BatchSize int    `json:"batch_size"`
}

var wavSourceDefaults = wavSourceConfig{Frame: 4096, Channel: -1, BatchSize: 4}

func init() { nodes.Register(wavSourceSpec) }

type wavSource struct {
	cfg    wavSourceConfig
	assets engine.AssetResolver
}

// wavStream is an open WAV file positioned at its samples.
type wavStream struct {
	closer   io.Closer
	data     io.Reader
	rate     int
	channels int
	bits     int
	float    bool
	total    int64 // frames (samples per channel), -1 if unknown
	name     string
}

func (s *wavSource) open() (*wavStream, error) {
	var rs io.ReadSeeker
	var closer io.Closer = io.NopCloser(nil)
	if f, err := os.Open(s.cfg.Path); err == nil {
		rs, closer = f, f
	} else if s.assets != nil {
		data, aerr := s.assets.Asset(s.cfg.Path)
		if aerr != nil {
			return nil, fmt.Errorf("wav %q: %w", s.cfg.Path, errors.Join(err, aerr))
		}
		rs = bytes.NewReader(data)
	} else {
		return nil, fmt.Errorf("wav %q: %w", s.cfg.Path, err)
	}
	st, err := openWAV(rs, s.cfg.Path)
	if err != nil {
		closer.Close()
		return nil, err
	}
	st.closer = closer
	return st, nil
}

// openWAV reads the headers with go-audio/wav and positions the reader at the samples.
func openWAV(rs io.ReadSeeker, name string) (*wavStream, error) {
	isFloat, err := sniffFloat(rs)
	if err != nil {
		return nil, fmt.Errorf("wav %q: %w", name, err)
	}
	if _, err := rs.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	d := wav.NewDecoder(rs)
	d.ReadInfo()
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("wav %q: header: %w", name, err)
	}
	if d.NumChans < 1 || d.SampleRate < 1 {
		return nil, fmt.Errorf("wav %q: not a WAV file or no fmt chunk (channels %d, rate %d)", name, d.NumChans, d.SampleRate)
	}
	bits := int(d.BitDepth)
	switch {
	case isFloat && (bits == 32 || bits == 64):
	case !isFloat && (bits == 8 || bits == 16 || bits == 24 || bits == 32):
	default:
		return nil, fmt.Errorf("wav %q: unsupported sample format: %d-bit %s", name, bits, map[bool]string{true: "float", false: "PCM"}[isFloat])
	}
	if err := d.FwdToPCM(); err != nil {
		return nil, fmt.Errorf("wav %q: no data chunk: %w", name, err)
	}
	st := &wavStream{data: d.PCMChunk, rate: int(d.SampleRate), channels: int(d.NumChans), bits: bits, float: isFloat, name: name, total: -1}
	if d.PCMChunk.Size > 0 {
		st.total = int64(d.PCMChunk.Size) / int64(st.channels*bits/8)
	}
	st.data = io.LimitReader(d.PCMChunk, int64(d.PCMChunk.Size))
	return st, nil
}

// sniffFloat reports whether the fmt chunk says IEEE float, looking through
// WAVE_FORMAT_EXTENSIBLE's sub-format (go-audio/wav reports only the outer format tag).
func sniffFloat(rs io.ReadSeeker) (bool, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(rs, hdr[:]); err != nil {
		return false, fmt.Errorf("byte 0: truncated RIFF header: %w", err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return false, fmt.Errorf("byte 0: not a RIFF/WAVE file")
	}
	off := int64(12)
	for {
		var ch [8]byte
		if _, err := io.ReadFull(rs, ch[:]); err != nil {
			return false, fmt.Errorf("byte %d: no fmt chunk", off)
		}
		size := int64(binary.LittleEndian.Uint32(ch[4:]))
		if string(ch[0:4]) == "fmt " {
			if size < 16 {
				return false, fmt.Errorf("byte %d: fmt chunk of %d bytes", off, size)
			}
			buf := make([]byte, min(size, 40))
			if _, err := io.ReadFull(rs, buf); err != nil {
				return false, fmt.Errorf("byte %d: truncated fmt chunk", off)
			}
			tag := binary.LittleEndian.Uint16(buf)
			if tag == 0xFFFE && len(buf) >= 26 {
				tag = binary.LittleEndian.Uint16(buf[24:])
			}
			switch tag {
			case 1:
				return false, nil
			case 3:
				return true, nil
			}
			return false, fmt.Errorf("byte %d: unsupported WAV format tag %#x (PCM and IEEE float only)", off, tag)
		}
		if _, err := rs.Seek(size+size%2, io.SeekCurrent); err != nil {
			return false, err
		}
		off += 8 + size + size%2
	}
}

// read fills out with up to len(out) mono frames; it returns how many it wrote.
func (st *wavStream) read(raw []byte, out []float32, channel int) (int, error) {
	bps := st.bits / 8
	frameBytes := bps * st.channels
	need := len(out) * frameBytes
	if cap(raw) < need {
		raw = make([]byte, need)
	}
	n, err := io.ReadFull(st.data, raw[:need])
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = io.EOF
	}
	frames := n / frameBytes
	for i := 0; i < frames; i++ {
		fb := raw[i*frameBytes : (i+1)*frameBytes]
		if channel >= 0 {
			out[i] = st.sample(fb[channel*bps:])
			continue
		}
		var sum float32
		for c := 0; c < st.channels; c++ {
			sum += st.sample(fb[c*bps:])
		}
		out[i] = sum / float32(st.channels)
	}
	return frames, err
}

func (st *wavStream) sample(b []byte) float32 {
	switch {
	case st.float && st.bits == 32:
		return math.Float32frombits(binary.LittleEndian.Uint32(b))
	case st.float:
		return float32(math.Float64frombits(binary.LittleEndian.Uint64(b)))
	case st.bits == 8:
		return (float32(b[0]) - 128) / 128
	case st.bits == 16:
		return float32(int16(binary.LittleEndian.Uint16(b))) / 32768
	case st.bits == 24:
		v := int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24) >> 8
		return float32(v) / 8388608
	default:
		return float32(float64(int32(binary.LittleEndian.Uint32(b))) / 2147483648)
	}
}

func (s *wavSource) Validate() error {
	st, err := s.open()
	if err != nil {
		return err
	}
	defer st.closer.Close()
	if s.cfg.Channel >= st.channels {
		return fmt.Errorf("config: channel %d, but %q has %d channels", s.cfg.Channel, s.cfg.Path, st.channels)
	}
	return nil
}

func (s *wavSource) Run(ctx context.Context, out engine.Output) error {
	st, err := s.open()
	if err != nil {
		return err
	}
	defer st.closer.Close()
	start := time.Now()
	var done int64
	raw := make([]byte, s.cfg.Frame*st.channels*st.bits/8)
	for {
		b := &rows.Batch{}
		var eof bool
		for len(b.Rows) < s.cfg.BatchSize && !eof {
			samples := make([]float32, s.cfg.Frame)
			n, err := st.read(raw, samples, s.cfg.Channel)
			if err == io.EOF {
				eof = true
			} else if err != nil {
				return fmt.Errorf("wav %q: frame %d: %w", st.name, done, err)
			}
			if n == 0 {
				break
			}
			b.Rows = append(b.Rows, audioRow(samples[:n], st.rate, float64(done)/float64(st.rate)))
			done += int64(n)
		}
		if len(b.Rows) > 0 {
			if s.cfg.Realtime {
				due := start.Add(time.Duration(float64(done) / float64(st.rate) * float64(time.Second)))
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(time.Until(due)):
				}
			}
			if err := out.Emit("out", b); err != nil {
				return nil
			}
			if st.total > 0 {
				out.Gauge("progress", float64(done)/float64(st.total))
			}
			if el := time.Since(start).Seconds(); el > 0 {
				out.Gauge("rtf", float64(done)/float64(st.rate)/el)
			}
		}
		if eof || ctx.Err() != nil {
			return nil
		}
	}
}

var (
	_ engine.Source    = (*wavSource)(nil)
	_ engine.Validator = (*wavSource)(nil)
)
