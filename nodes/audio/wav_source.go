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
	"path/filepath"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
	"github.com/atoll-studio/atoll/nodes/core"
)

var wavSourceSpec = engine.Spec{
	ID:       "source.wav",
	Category: "source",
	Summary:  "Streams a WAV file as rows of float32 samples.",
	Docs: "Reads PCM 8/16/24/32-bit, 32/64-bit float and WAVE_FORMAT_EXTENSIBLE files at any rate and " +
		"channel count, a block at a time (never the whole file): at most 1 MiB of the file is held at " +
		"once, whatever its channel count, and a row holds at most `frame` samples (4 MiB at the largest " +
		"`frame`). Every size in the header is checked against the format and the file before it is used: " +
		"a chunk, channel count or block align that does not fit is refused at validation, naming the " +
		"file and byte offset. A file that ends before its data chunk says (truncated, or a data chunk " +
		"that is not a whole number of frames) keeps the rows read and sends one row to `errors` " +
		"(`path`, `byte`, `frames`) saying where the samples stop. Channels are mixed to mono, or one is " +
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
		file := cfg.Path
		if dir, ok := bc.Services[core.BaseDirService].(string); ok && dir != "" && file != "" && !filepath.IsAbs(file) {
			file = filepath.Join(dir, file)
		}
		return &wavSource{cfg: cfg, assets: bc.Assets, file: file}, nil
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
	// file is the path opened: a relative path made absolute against the graph's directory
	// (core.BaseDirService), as the file nodes do, so that the studio's path
	// policy checks what is opened.
	file string
}

// Limits of the WAV reader. Every size read from a header is checked against what the format
// allows and what the file holds before anything is allocated for it.
const (
	// wavReadBytes bounds the raw bytes read at a time, whatever the channel count: a row is
	// decoded from as many reads as it needs.
	wavReadBytes = 1 << 20
	// wavMaxFmt bounds the fmt chunk: WAVE_FORMAT_EXTENSIBLE needs 40 bytes; longer ones carry
	// codec-specific bytes that a PCM or float file does not use.
	wavMaxFmt = 1 << 16
)

// wavHeader is what the chunks before the samples say, checked.
type wavHeader struct {
	rate     int
	channels int
	bits     int // container bits per sample
	block    int // bytes per frame (all channels)
	float    bool
	dataOff  int64 // byte offset of the first sample
	dataLen  int64 // bytes of samples the data chunk declares
	fileLen  int64 // bytes in the file
}

// held returns the bytes of whole frames the file holds (at most what the header declares).
func (h *wavHeader) held() int64 {
	n := min(h.dataLen, max(0, h.fileLen-h.dataOff))
	return n - n%int64(h.block)
}

// wavStream is an open WAV file positioned at its samples.
type wavStream struct {
	wavHeader
	closer io.Closer
	data   io.Reader
	name   string
	pos    int64 // bytes of samples read so far
	raw    []byte
}

func (s *wavSource) open() (*wavStream, error) {
	var rs io.ReadSeeker
	var closer io.Closer = io.NopCloser(nil)
	if f, err := os.Open(s.file); err == nil {
		rs, closer = f, f
	} else if f := s.assetFile(); f != nil {
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

// assetFile opens the file behind an asset reference when the resolver can name one (the
// studio's store keeps each asset as a file), so that a stored recording streams as a path does
// instead of being read whole; nil otherwise.
func (s *wavSource) assetFile() *os.File {
	pa, ok := s.assets.(interface {
		Path(ref string) (string, error)
	})
	if !ok {
		return nil
	}
	p, err := pa.Path(s.cfg.Path)
	if err != nil {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	return f
}

// openWAV reads and checks the headers and positions rs at the samples.
func openWAV(rs io.ReadSeeker, name string) (*wavStream, error) {
	size, err := rs.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("wav %q: %w", name, err)
	}
	if _, err := rs.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("wav %q: %w", name, err)
	}
	h, err := readWAVHeader(rs, size)
	if err != nil {
		return nil, fmt.Errorf("wav %q: %w", name, err)
	}
	if _, err := rs.Seek(h.dataOff, io.SeekStart); err != nil {
		return nil, fmt.Errorf("wav %q: byte %d: %w", name, h.dataOff, err)
	}
	return &wavStream{wavHeader: h, data: rs, name: name}, nil
}

// readWAVHeader walks the RIFF chunks of a file of size bytes up to the data chunk. It reads
// at most a few dozen bytes of any chunk and seeks past the rest, so a size field cannot make it
// allocate; a chunk before the samples that claims more bytes than the file has is an error.
func readWAVHeader(r io.ReadSeeker, size int64) (wavHeader, error) {
	h := wavHeader{fileLen: size}
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return h, fmt.Errorf("byte 0: truncated RIFF header (%d bytes in the file)", size)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return h, errors.New("byte 0: not a RIFF/WAVE file")
	}
	off := int64(12)
	sawFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if !sawFmt {
				return h, fmt.Errorf("byte %d: no fmt chunk before the end of the file", off)
			}
			return h, fmt.Errorf("byte %d: no data chunk before the end of the file", off)
		}
		id, n := string(ch[0:4]), int64(binary.LittleEndian.Uint32(ch[4:]))
		body := off + 8
		switch id {
		case "fmt ":
			if sawFmt {
				return h, fmt.Errorf("byte %d: a second fmt chunk", off)
			}
			if err := h.readFmt(r, off, n); err != nil {
				return h, err
			}
			sawFmt = true
		case "data":
			if !sawFmt {
				return h, fmt.Errorf("byte %d: data chunk before the fmt chunk", off)
			}
			h.dataOff, h.dataLen = body, n
			return h, nil
		default:
			if n > size-body {
				return h, fmt.Errorf("byte %d: chunk %q declares %d bytes, the file ends %d bytes later", off, printableID(ch[0:4]), n, size-body)
			}
			if _, err := r.Seek(body+n+n%2, io.SeekStart); err != nil {
				return h, fmt.Errorf("byte %d: %w", body, err)
			}
		}
		off = body + n + n%2
	}
}

// readFmt reads and checks a fmt chunk of n bytes whose header starts at byte off.
func (h *wavHeader) readFmt(r io.ReadSeeker, off, n int64) error {
	body := off + 8
	if n < 16 || n > wavMaxFmt {
		return fmt.Errorf("byte %d: fmt chunk of %d bytes (16 to %d)", off, n, wavMaxFmt)
	}
	if n > h.fileLen-body {
		return fmt.Errorf("byte %d: fmt chunk declares %d bytes, the file ends %d bytes later", off, n, h.fileLen-body)
	}
	buf := make([]byte, min(n, 40))
	if _, err := io.ReadFull(r, buf); err != nil {
		return fmt.Errorf("byte %d: truncated fmt chunk", body)
	}
	if _, err := r.Seek(body+n+n%2, io.SeekStart); err != nil {
		return fmt.Errorf("byte %d: %w", body, err)
	}
	le := binary.LittleEndian
	tag := le.Uint16(buf)
	h.channels = int(le.Uint16(buf[2:]))
	rate := le.Uint32(buf[4:])
	h.block = int(le.Uint16(buf[12:]))
	h.bits = int(le.Uint16(buf[14:]))
	if tag == 0xFFFE { // WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the real tag
		if len(buf) < 40 {
			return fmt.Errorf("byte %d: WAVE_FORMAT_EXTENSIBLE fmt chunk of %d bytes (needs 40)", off, n)
		}
		tag = le.Uint16(buf[24:])
	}
	switch tag {
	case 1:
	case 3:
		h.float = true
	default:
		return fmt.Errorf("byte %d: unsupported WAV format tag %#x (PCM and IEEE float only)", body, tag)
	}
	switch {
	case h.channels < 1:
		return fmt.Errorf("byte %d: %d channels", body+2, h.channels)
	case rate < 1 || rate > math.MaxInt32:
		return fmt.Errorf("byte %d: sample rate %d", body+4, rate)
	case h.float && h.bits != 32 && h.bits != 64, !h.float && h.bits != 8 && h.bits != 16 && h.bits != 24 && h.bits != 32:
		return fmt.Errorf("byte %d: unsupported sample format: %d-bit %s", body+14, h.bits, map[bool]string{true: "float", false: "PCM"}[h.float])
	case h.block != h.channels*h.bits/8:
		// Block align is 16 bits wide: this also bounds channels × bytes per sample to 65,535.
		return fmt.Errorf("byte %d: block align %d does not match %d channels of %d bits (%d bytes)", body+12, h.block, h.channels, h.bits, h.channels*h.bits/8)
	}
	h.rate = int(rate)
	return nil
}

func printableID(id []byte) string {
	for _, c := range id {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("%x", id)
		}
	}
	return string(id)
}

// errWAVShort ends a stream whose samples stop before the header said they would.
type errWAVShort struct {
	name           string
	at             int64 // byte offset where the samples stop
	declared, from int64
	partial        int // bytes of an incomplete last frame
}

func (e *errWAVShort) Error() string {
	if e.partial > 0 && e.declared == 0 {
		return fmt.Sprintf("wav %q: byte %d: the samples end inside a frame (%d bytes left over)", e.name, e.at, e.partial)
	}
	return fmt.Sprintf("wav %q: byte %d: the file ends %d bytes into a data chunk that declares %d bytes from byte %d", e.name, e.at, e.at-e.from, e.declared, e.from)
}

// read fills out with up to len(out) mono frames and returns how many it wrote. At the end of
// the samples it returns io.EOF, or an *errWAVShort when the file held fewer than the header
// declared (the frames returned are good).
func (st *wavStream) read(out []float32, channel int) (int, error) {
	bps := st.bits / 8
	want := st.dataLen - st.pos
	want -= want % int64(st.block)
	framesPer := max(1, wavReadBytes/st.block)
	done := 0
	for done < len(out) {
		k := min(len(out)-done, framesPer)
		need := int64(k * st.block)
		if need > want-int64(done*st.block) {
			need = want - int64(done*st.block)
		}
		if need <= 0 {
			break
		}
		if cap(st.raw) < int(need) {
			st.raw = make([]byte, int(min(need, int64(framesPer*st.block))))
		}
		raw := st.raw[:need]
		n, err := io.ReadFull(st.data, raw)
		frames := n / st.block
		for i := 0; i < frames; i++ {
			fb := raw[i*st.block : (i+1)*st.block]
			if channel >= 0 {
				out[done+i] = st.sample(fb[channel*bps:])
				continue
			}
			var sum float32
			for c := 0; c < st.channels; c++ {
				sum += st.sample(fb[c*bps:])
			}
			out[done+i] = sum / float32(st.channels)
		}
		done += frames
		st.pos += int64(frames * st.block)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return done, &errWAVShort{name: st.name, at: st.dataOff + st.pos + int64(n%st.block), declared: st.dataLen, from: st.dataOff}
		} else if err != nil {
			return done, fmt.Errorf("wav %q: byte %d: %w", st.name, st.dataOff+st.pos, err)
		}
	}
	if rest := st.dataLen - st.pos; rest < int64(st.block) {
		if rest > 0 {
			// The data chunk's size is not a whole number of frames.
			return done, &errWAVShort{name: st.name, at: st.dataOff + st.pos, partial: int(rest)}
		}
		return done, io.EOF
	}
	return done, nil
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
	p := wavRows{frame: s.cfg.Frame, channel: s.cfg.Channel, batch: s.cfg.BatchSize, realtime: s.cfg.Realtime}
	done, stopped, end := p.stream(ctx, st, recording{}, out, start, func(done, total int64) {
		if total > 0 {
			out.Gauge("progress", float64(done)/float64(total))
		}
		if el := time.Since(start).Seconds(); el > 0 {
			out.Gauge("rtf", float64(done)/float64(st.rate)/el)
		}
	})
	var short *errWAVShort
	switch {
	case stopped, end == nil:
		return nil
	case errors.As(end, &short):
		// The rows read are kept; the broken end goes to errors, located (a source's error
		// would restart it and read the file again).
		out.Reject(rows.Row{
			{Name: "path", Value: rows.String(s.cfg.Path)},
			{Name: "byte", Value: rows.Int(short.at)},
			{Name: "frames", Value: rows.Int(done)},
		}, short)
		return nil
	default:
		return fmt.Errorf("frame %d: %w", done, end)
	}
}

// wavRows is how a WAV source cuts a file into rows.
type wavRows struct {
	frame, channel, batch int
	realtime              bool
}

// stream emits the samples of st as batches of audio rows stamped with rec, calling tick after
// every batch with the frames sent and the frames the file holds. It returns the frames sent,
// whether the run stopped, and how the samples ended: nil at the end of the file, an
// *errWAVShort when the file holds less than its header says, or a read error. With realtime
// set, rows are paced at the recording's speed from paceFrom.
func (p wavRows) stream(ctx context.Context, st *wavStream, rec recording, out engine.Output, paceFrom time.Time, tick func(done, total int64)) (int64, bool, error) {
	var done int64
	total := st.held() / int64(st.block) // frames the file really holds
	for {
		b := &rows.Batch{}
		var end error
		for len(b.Rows) < p.batch && end == nil {
			// A row never asks for more samples than the file holds.
			samples := make([]float32, max(1, min(int64(p.frame), total-done)))
			n, err := st.read(samples, p.channel)
			if err != nil {
				end = err
			}
			if n == 0 {
				break
			}
			t := float64(done) / float64(st.rate)
			b.Rows = append(b.Rows, rec.stamp(audioRow(samples[:n], st.rate, t), t))
			done += int64(n)
		}
		if len(b.Rows) > 0 {
			if p.realtime {
				due := paceFrom.Add(time.Duration(float64(done) / float64(st.rate) * float64(time.Second)))
				select {
				case <-ctx.Done():
					return done, true, nil
				case <-time.After(time.Until(due)):
				}
			}
			if err := out.Emit("out", b); err != nil {
				return done, true, nil
			}
			tick(done, total)
		}
		switch {
		case end == io.EOF:
			return done, false, nil
		case end != nil:
			return done, false, end
		case ctx.Err() != nil:
			return done, true, nil
		}
	}
}

var (
	_ engine.Source    = (*wavSource)(nil)
	_ engine.Validator = (*wavSource)(nil)
)
