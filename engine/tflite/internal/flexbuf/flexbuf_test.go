package flexbuf

import (
	"encoding/hex"
	"testing"
)

// Custom options copied from the Signal operators of tflite-micro's
// audio_preprocessor_int8.tflite (micro_speech example).
var modelOptions = []struct {
	name string
	hex  string
	want map[string]int64
}{
	{"SignalWindow", "73686966740001070101010c04022401", map[string]int64{"shift": 12}},
	{"SignalFftAutoScale", "00000100002401", map[string]int64{}},
	{"SignalRfft", "54006666745f6c656e67746800020e0d020001000200070000020505062501", map[string]int64{"T": 7, "fft_length": 512}},
	{"SignalEnergy", "656e645f696e6465780073746172745f696e6465780002170e00030001000200f10005000505062501", map[string]int64{"end_index": 241, "start_index": 5}},
	{"SignalFilterBank", "6e756d5f6368616e6e656c7300010e0101012804022401", map[string]int64{"num_channels": 40}},
	{"SignalPCAN", "736e725f736869667400010b0101010604022401", map[string]int64{"snr_shift": 6}},
	{"SignalFilterBankLog", "696e7075745f636f7272656374696f6e5f62697473006f75747075745f7363616c650002240f02010203400404042401", map[string]int64{"input_correction_bits": 3, "output_scale": 64}},
	{"SignalFilterBankSpectralSubtraction", "616c7465726e6174655f6f6e655f6d696e75735f736d6f6f7468696e6700616c7465726e6174655f736d6f6f7468696e6700636c616d70696e67006d696e5f7369676e616c5f72656d61696e696e67006e756d5f6368616e6e656c73006f6e655f6d696e75735f736d6f6f7468696e6700736d6f6f7468696e6700736d6f6f7468696e675f6269747300737065637472616c5f7375627472616374696f6e5f626974730009a588756d594d3a3123090001000900293cd703000033032800673e99010a000e000505690505050505051b2501",
		map[string]int64{"alternate_one_minus_smoothing": 15401, "alternate_smoothing": 983, "clamping": 0, "min_signal_remaining": 819, "num_channels": 40, "one_minus_smoothing": 15975, "smoothing": 409, "smoothing_bits": 10, "spectral_subtraction_bits": 14}},
}

func TestModelOptions(t *testing.T) {
	for _, tc := range modelOptions {
		t.Run(tc.name, func(t *testing.T) {
			b, err := hex.DecodeString(tc.hex)
			if err != nil {
				t.Fatal(err)
			}
			m, err := RootMap(b)
			if err != nil {
				t.Fatal(err)
			}
			if m.Len() != len(tc.want) {
				t.Errorf("map has %d keys, want %d", m.Len(), len(tc.want))
			}
			for i := 0; i < m.Len(); i++ {
				k, err := m.Key(i)
				if err != nil {
					t.Fatal(err)
				}
				want, ok := tc.want[k]
				if !ok {
					t.Errorf("unexpected key %q", k)
					continue
				}
				got, err := m.Int(k)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("%s = %d, want %d", k, got, want)
				}
			}
		})
	}
}

func TestTypedValues(t *testing.T) {
	// Hand-built: map {"b": true, "f": 1.5 (float32), "v": [1, -2, 300] (typed int16 vector)}.
	// Layout (byte width 1 for the map):
	var b []byte
	b = append(b, 'b', 0, 'f', 0, 'v', 0) // keys at 0, 2, 4
	// float 1.5 as float32 stored out of line is not needed: store inline in a width-4 map.
	// Typed int16 vector [1,-2,300]: length (2 bytes) then elements.
	vecLen := len(b)
	b = append(b, 3, 0, 1, 0, 0xfe, 0xff, 0x2c, 0x01)
	vecAt := vecLen + 2
	// keys vector (width 1): length then offsets.
	b = append(b, 3)
	keysAt := len(b)
	b = append(b, byte(keysAt-0), byte(keysAt+1-2), byte(keysAt+2-4))
	// map (width 4): keys offset, keys width, length, then values, then types.
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	hdr := len(b)
	put32 := func(v uint32) { b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }
	put32(uint32(hdr - keysAt))
	put32(1)
	put32(3)
	mapAt := len(b)
	put32(1)          // true
	put32(0x3fc00000) // 1.5f
	put32(uint32(mapAt + 8 - vecAt))
	b = append(b, byte(TypeBool)<<2|2, byte(TypeFloat)<<2|2, byte(TypeVectorInt)<<2|1)
	rootAt := len(b)
	b = append(b, byte(rootAt-mapAt), byte(TypeMap)<<2|2, 1)

	m, err := RootMap(b)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := m.Bool("b"); err != nil || !v {
		t.Errorf("b = %v, %v", v, err)
	}
	if v, err := m.Float("f"); err != nil || v != 1.5 {
		t.Errorf("f = %v, %v", v, err)
	}
	r, ok, err := m.Get("v")
	if !ok || err != nil {
		t.Fatalf("v: %v %v", ok, err)
	}
	vec, err := r.Vector()
	if err != nil {
		t.Fatal(err)
	}
	ints, err := vec.Ints()
	if err != nil {
		t.Fatal(err)
	}
	if len(ints) != 3 || ints[0] != 1 || ints[1] != -2 || ints[2] != 300 {
		t.Errorf("v = %v", ints)
	}
	if _, err := m.Int("missing"); err == nil {
		t.Error("missing key: no error")
	}
}

func TestMalformed(t *testing.T) {
	for _, h := range []string{"", "00", "0001", "ff2401", "00002408", "05052401", "0102030405062401"} {
		b, _ := hex.DecodeString(h)
		if m, err := RootMap(b); err == nil {
			// Some short inputs decode to an empty map; reading it must still not panic.
			_, _, _ = m.Get("x")
		}
	}
}

func FuzzRootMap(f *testing.F) {
	for _, tc := range modelOptions {
		b, _ := hex.DecodeString(tc.hex)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := RootMap(b)
		if err != nil {
			return
		}
		for i := 0; i < m.Len() && i < 64; i++ {
			k, _ := m.Key(i)
			_, _ = m.Int(k)
			_, _ = m.Float(k)
			_, _ = m.Bool(k)
			if r, err := m.Value(i); err == nil {
				_, _ = r.String()
				if v, err := r.Vector(); err == nil {
					_, _ = v.Ints()
					_, _ = v.Floats()
				}
				if mm, err := r.Map(); err == nil {
					_, _, _ = mm.Get("a")
				}
			}
		}
	})
}
