package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

// craftedWAV describes a WAV file as an attacker or a broken writer would make it: every header
// field is set by hand, and the data chunk may declare more bytes than it holds.
type craftedWAV struct {
	tag      uint16
	channels uint16
	rate     uint32
	block    uint16 // 0: channels × bits / 8 (truncated to 16 bits, as the field is)
	bits     uint16
	before   []byte // chunks between fmt and data
	declared uint32 // the data chunk's size field
	data     []byte // the samples really in the file
}

func (c craftedWAV) bytes() []byte {
	block := c.block
	if block == 0 {
		block = uint16(int(c.channels) * int(c.bits) / 8)
	}
	le := binary.LittleEndian
	fm := le.AppendUint16(nil, c.tag)
	fm = le.AppendUint16(fm, c.channels)
	fm = le.AppendUint32(fm, c.rate)
	fm = le.AppendUint32(fm, c.rate*uint32(block))
	fm = le.AppendUint16(fm, block)
	fm = le.AppendUint16(fm, c.bits)
	f := []byte("RIFF")
	f = le.AppendUint32(f, uint32(4+8+len(fm)+len(c.before)+8+len(c.data)))
	f = append(f, "WAVEfmt "...)
	f = le.AppendUint32(f, uint32(len(fm)))
	f = append(f, fm...)
	f = append(f, c.before...)
	f = append(f, "data"...)
	f = le.AppendUint32(f, c.declared)
	return append(f, c.data...)
}

func (c craftedWAV) write(t *testing.T) string {
	t.Helper()
	path := t.TempDir() + "/crafted.wav"
	if err := os.WriteFile(path, c.bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// pcm16 returns n mono 16-bit samples of a ramp.
func pcm16(n int) []byte {
	var b []byte
	for i := 0; i < n; i++ {
		b = binary.LittleEndian.AppendUint16(b, uint16(int16(i*7)))
	}
	return b
}

// runWAV runs source.wav over path with out and errors captured, and returns both.
func runWAV(t *testing.T, path string, config string) (out, errs []rows.Row) {
	t.Helper()
	out, errs, _ = runGraph(t, fmt.Sprintf(`{"id":"wav","type":"source.wav","config":{"path":%q%s}}`, path, config),
		edge("wav", "out")+","+errEdge("wav", "errs"))
	return out, errs
}

func samplesIn(t *testing.T, rs []rows.Row) int {
	t.Helper()
	n := 0
	for _, r := range rs {
		s, _, err := readAudio(r)
		if err != nil {
			t.Fatal(err)
		}
		n += len(s)
	}
	return n
}

// A WAV whose samples stop before the data chunk says keeps the rows read and ends with one
// error row naming the file and the byte where the samples stop (it used to end silently).
func TestWAVTruncatedKeepsRowsAndSaysWhere(t *testing.T) {
	for _, tc := range []struct {
		name     string
		declared uint32
		held     int // samples in the file
	}{
		{"1 s declared over 0.5 s", 16000, 4000},
		{"4 GB declared", 0xFFFFFFF0, 4000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := craftedWAV{tag: 1, channels: 1, rate: 8000, bits: 16, declared: tc.declared, data: pcm16(tc.held)}.write(t)
			out, errs := runWAV(t, path, `,"frame":800`)
			if got := samplesIn(t, out); got != tc.held {
				t.Errorf("%d samples out, want the %d the file holds", got, tc.held)
			}
			if len(out) != 5 {
				t.Errorf("%d rows, want 5", len(out))
			}
			if len(errs) != 1 {
				t.Fatalf("%d error rows, want 1: %v", len(errs), errs)
			}
			msg, _ := errs[0].Get(engine.ErrorField)
			s, _ := msg.AsString()
			end := 44 + 2*tc.held
			if !strings.Contains(s, "crafted.wav") || !strings.Contains(s, fmt.Sprintf("byte %d", end)) {
				t.Errorf("error %q does not name the file and byte %d", s, end)
			}
			if b, _ := errs[0].Get("byte"); !b.Equal(rows.Int(int64(end))) {
				t.Errorf("error row byte = %v, want %d", b, end)
			}
		})
	}
}

// A data chunk that is not a whole number of frames ends with an error at the leftover bytes.
func TestWAVPartialLastFrame(t *testing.T) {
	data := append(pcm16(2*100), 1, 2) // stereo: 100 frames and 2 bytes of a 101st
	path := craftedWAV{tag: 1, channels: 2, rate: 8000, bits: 16, declared: uint32(len(data)), data: data}.write(t)
	out, errs := runWAV(t, path, `,"frame":64`)
	if got := samplesIn(t, out); got != 100 {
		t.Errorf("%d frames, want 100", got)
	}
	if len(errs) != 1 {
		t.Fatalf("%d error rows, want 1", len(errs))
	}
	if b, _ := errs[0].Get("byte"); !b.Equal(rows.Int(44 + 400)) {
		t.Errorf("error at %v, want byte 444", b)
	}
}

// Headers that do not fit the format or the file are refused at validation, naming the file
// and the byte offset of the field, before anything is allocated for them.
func TestWAVImplausibleHeadersRefused(t *testing.T) {
	list := func(n uint32) []byte { return binary.LittleEndian.AppendUint32([]byte("LIST"), n) }
	for _, tc := range []struct {
		name string
		wav  []byte
		want string
	}{
		{"65535 channels of 64-bit float", craftedWAV{tag: 3, channels: 65535, rate: 8000, bits: 64, declared: 4000, data: make([]byte, 4000)}.bytes(),
			"byte 32: block align 65528 does not match 65535 channels of 64 bits (524280 bytes)"},
		{"block align lies", craftedWAV{tag: 1, channels: 2, rate: 8000, bits: 16, block: 2, declared: 4, data: make([]byte, 4)}.bytes(), "byte 32: block align 2"},
		{"no channels", craftedWAV{tag: 1, channels: 0, rate: 8000, bits: 16, declared: 4, data: make([]byte, 4)}.bytes(), "byte 22: 0 channels"},
		{"rate 0", craftedWAV{tag: 1, channels: 1, rate: 0, bits: 16, declared: 4, data: make([]byte, 4)}.bytes(), "byte 24: sample rate 0"},
		{"12-bit", craftedWAV{tag: 1, channels: 1, rate: 8000, bits: 12, declared: 4, data: make([]byte, 4)}.bytes(), "byte 34: unsupported sample format: 12-bit PCM"},
		{"4 GB chunk before the data", craftedWAV{tag: 1, channels: 1, rate: 8000, bits: 16, before: list(0xFFFFFFFF), declared: 4, data: make([]byte, 4)}.bytes(),
			`byte 36: chunk "LIST" declares 4294967295 bytes`},
		{"4 GB fmt chunk", append([]byte("RIFF\x00\x00\x00\x00WAVEfmt \xf0\xff\xff\xff"), make([]byte, 64)...), "byte 12: fmt chunk of 4294967280 bytes"},
		{"fmt past the end", append([]byte("RIFF\x00\x00\x00\x00WAVEfmt \x00\x01\x00\x00"), make([]byte, 64)...), "byte 12: fmt chunk declares 256 bytes, the file ends 64 bytes later"},
		{"data before fmt", []byte("RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00"), "byte 12: data chunk before the fmt chunk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := t.TempDir() + "/bad.wav"
			if err := os.WriteFile(path, tc.wav, 0o644); err != nil {
				t.Fatal(err)
			}
			doc, _ := graph.Parse(fmt.Appendf(nil, `{"version":1,"id":"a","name":"a","nodes":[{"id":"mic","type":"source.wav","config":{"path":%q,"frame":1048576}}],"edges":[]}`, path))
			_, err := engine.Build(doc, engine.Options{Catalog: nodes.Default})
			if err == nil {
				t.Fatal("build succeeded")
			}
			if msg := err.Error(); !strings.Contains(msg, "bad.wav") || !strings.Contains(msg, tc.want) {
				t.Fatalf("error %q does not name the file and say %q", msg, tc.want)
			}
		})
	}
}

// The widest frame the format allows (65,535 channels of 8 bits) with the largest row size
// streams within a few MiB; it used to size its buffer from the header (frame × channels ×
// bytes: 64 GiB here, 550 GB with 64-bit samples) and die. The file holds two frames and
// declares three: both are read, then the error row.
func TestWAVWideFramesStayBounded(t *testing.T) {
	data := make([]byte, 2*65535)
	for i := range data {
		data[i] = 128 + byte(i%2) // mixes to 0.5/128 per frame
	}
	path := craftedWAV{tag: 1, channels: 65535, rate: 8000, bits: 8, declared: 3 * 65535, data: data}.write(t)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	out, errs := runWAV(t, path, `,"frame":1048576`)
	runtime.ReadMemStats(&after)
	if got := samplesIn(t, out); got != 2 {
		t.Errorf("%d frames, want 2", got)
	}
	if len(errs) != 1 {
		t.Errorf("%d error rows, want 1", len(errs))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("reading a 128 KiB file allocated %d MiB (want < 16)", alloc>>20)
	}
}

// readAllWAV opens data as a WAV and reads it to the end in rows of frame samples, checking what
// any input must satisfy: header fields within the format, never more frames than the file
// holds, and an error (not a silent end) when it holds fewer than declared.
func readAllWAV(t *testing.T, data []byte, frame, channel int) {
	st, err := openWAV(bytes.NewReader(data), "fuzz.wav")
	if err != nil {
		if !strings.HasPrefix(err.Error(), `wav "fuzz.wav": `) {
			t.Fatalf("error %q does not name the file", err)
		}
		return
	}
	if st.channels < 1 || st.channels > 65535 || st.block != st.channels*st.bits/8 || st.block > 65535 || st.rate < 1 {
		t.Fatalf("accepted header: %+v", st.wavHeader)
	}
	if st.dataOff > int64(len(data)) || st.dataOff < 12 {
		t.Fatalf("data offset %d in a file of %d bytes", st.dataOff, len(data))
	}
	if channel >= st.channels {
		channel = -1
	}
	held := st.held() / int64(st.block)
	out := make([]float32, frame)
	var got int64
	for {
		n, err := st.read(out, channel)
		got += int64(n)
		if got > held {
			t.Fatalf("read %d frames, the file holds %d", got, held)
		}
		if cap(st.raw) > wavReadBytes+65535 {
			t.Fatalf("read buffer of %d bytes", cap(st.raw))
		}
		var short *errWAVShort
		switch {
		case err == nil:
			if n == 0 {
				t.Fatalf("read made no progress at frame %d", got)
			}
			continue
		case err == io.EOF:
			if got != held || st.dataLen-st.pos >= int64(st.block) || st.dataLen%int64(st.block) != 0 {
				t.Fatalf("clean end after %d of %d frames (declared %d bytes)", got, held, st.dataLen)
			}
		case errors.As(err, &short):
			if got != held {
				t.Fatalf("short end after %d of %d frames", got, held)
			}
			if short.at < st.dataOff || short.at > int64(len(data)) {
				t.Fatalf("short end located at byte %d, outside the samples", short.at)
			}
		default:
			t.Fatalf("read: %v", err)
		}
		return
	}
}

// FuzzWAVReader throws arbitrary bytes at the WAV header and chunk parser and the sample reader.
func FuzzWAVReader(f *testing.F) {
	f.Add(craftedWAV{tag: 1, channels: 1, rate: 8000, bits: 16, declared: 200, data: pcm16(100)}.bytes(), 7, 0)
	f.Add(craftedWAV{tag: 1, channels: 2, rate: 8000, bits: 24, declared: 600, data: make([]byte, 300)}.bytes(), 64, 1)
	f.Add(craftedWAV{tag: 3, channels: 3, rate: 44100, bits: 64, declared: 0xFFFFFFFF, data: make([]byte, 100)}.bytes(), 1, -1)
	f.Add(craftedWAV{tag: 1, channels: 1, rate: 8000, bits: 8, before: []byte("LIST\x03\x00\x00\x00abc\x00"), declared: 5, data: []byte{1, 2, 3, 4, 5, 0}}.bytes(), 2, 0)
	var ext bytes.Buffer
	ext.Write([]byte("RIFF\x00\x00\x00\x00WAVEfmt \x28\x00\x00\x00\xfe\xff\x02\x00\x40\x1f\x00\x00\x00\xfa\x00\x00\x08\x00\x20\x00\x16\x00\x20\x00\x03\x00\x00\x00"))
	ext.Write([]byte{3, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71})
	ext.Write([]byte("data\x10\x00\x00\x00"))
	ext.Write(make([]byte, 16))
	f.Add(ext.Bytes(), 3, -1)
	f.Fuzz(func(t *testing.T, data []byte, frame, channel int) {
		frame = 1 + abs(frame)%4096
		readAllWAV(t, data, frame, channel)
	})
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
