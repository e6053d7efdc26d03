package tflite

import (
	"encoding/binary"
	"fmt"
	"os"
	"testing"

	"github.com/atoll-studio/atoll/internal/testdata"
)

// readPCM16 reads a mono 16-bit PCM WAV file (RIFF chunks parsed directly).
func readPCM16(t testing.TB, rel string) []int16 {
	t.Helper()
	b, err := os.ReadFile(testdata.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Fatalf("%s: not a RIFF/WAVE file", rel)
	}
	var fmtOK bool
	for p := 12; p+8 <= len(b); {
		id, n := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:]))
		body := b[p+8 : min(p+8+n, len(b))]
		switch id {
		case "fmt ":
			if len(body) < 16 || binary.LittleEndian.Uint16(body[0:]) != 1 || binary.LittleEndian.Uint16(body[2:]) != 1 ||
				binary.LittleEndian.Uint32(body[4:]) != 16000 || binary.LittleEndian.Uint16(body[14:]) != 16 {
				t.Fatalf("%s: want mono 16-bit PCM at 16 kHz", rel)
			}
			fmtOK = true
		case "data":
			if !fmtOK {
				t.Fatalf("%s: data before fmt", rel)
			}
			s := make([]int16, len(body)/2)
			for i := range s {
				s[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
			}
			return s
		}
		p += 8 + n + n%2
	}
	t.Fatalf("%s: no data chunk", rel)
	return nil
}

const (
	msWindow   = 480 // 30 ms at 16 kHz
	msStride   = 320 // 20 ms
	msFrames   = 49
	msFeatures = 40
)

// microSpeech holds the two models of tflite-micro's micro_speech example.
type microSpeech struct {
	pre, cls *Model
}

func loadMicroSpeech(t testing.TB) *microSpeech {
	return &microSpeech{
		pre: loadModelFile(t, "tflite/micro_speech/audio_preprocessor_int8.tflite", Options{Threads: 1}),
		cls: loadModelFile(t, "tflite/micro_speech/micro_speech_quantized.tflite", Options{Threads: 1}),
	}
}

// features runs the preprocessor over 30 ms windows with a 20 ms stride, as the example does,
// with a fresh interpreter (so the noise estimate starts at zero).
func (ms *microSpeech) features(audio []int16) ([]int8, error) {
	it, err := ms.pre.NewInterpreter()
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var feats []int8
	for off := 0; len(audio)-off >= msWindow && len(feats) < msFrames*msFeatures; off += msStride {
		copy(it.Input(0).Int16(), audio[off:off+msWindow])
		if err := it.Invoke(); err != nil {
			return nil, err
		}
		feats = append(feats, it.Output(0).Int8()...)
	}
	return feats, nil
}

var msLabels = []string{"silence", "unknown", "yes", "no"}

// classify returns the winning label and the dequantized scores.
func (ms *microSpeech) classify(feats []int8) (string, []float64, error) {
	it, err := ms.cls.NewInterpreter()
	if err != nil {
		return "", nil, err
	}
	defer it.Close()
	in := it.Input(0).Int8()
	if len(feats) != len(in) {
		return "", nil, fmt.Errorf("%d features, model wants %d", len(feats), len(in))
	}
	copy(in, feats)
	if err := it.Invoke(); err != nil {
		return "", nil, err
	}
	out := it.Output(0)
	s, zp, err := quantOf(out)
	if err != nil {
		return "", nil, err
	}
	scores := make([]float64, len(msLabels))
	best := 0
	for i, q := range out.Int8()[:len(msLabels)] {
		scores[i] = float64(s) * float64(int32(q)-zp)
		if scores[i] > scores[best] {
			best = i
		}
	}
	return msLabels[best], scores, nil
}

// TestMicroSpeechFeatures checks the int8 audio preprocessor (tflite-micro Signal ops) against
// the golden features of tflite-micro's micro_speech_test.cc (NoFeatureTest, YesFeatureTest):
// the first 30 ms window of no_30ms.wav and yes_30ms.wav, bit for bit.
func TestMicroSpeechFeatures(t *testing.T) {
	ms := loadMicroSpeech(t)
	golden := map[string][]int8{
		"tflite/micro_speech/no_30ms.wav": {126, 103, 124, 102, 124, 102, 123, 100, 118, 97, 118, 100, 118, 98,
			121, 100, 121, 98, 117, 91, 96, 74, 54, 87, 100, 87, 109, 92,
			91, 80, 64, 55, 83, 74, 74, 78, 114, 95, 101, 81},
		"tflite/micro_speech/yes_30ms.wav": {124, 105, 126, 103, 125, 101, 123, 100, 116, 98, 115, 97, 113, 90,
			91, 82, 104, 96, 117, 97, 121, 103, 126, 101, 125, 104, 126, 104,
			125, 101, 116, 90, 81, 74, 80, 71, 83, 76, 82, 71},
	}
	for wav, want := range golden {
		audio := readPCM16(t, wav)
		f, err := ms.features(audio)
		if err != nil {
			t.Fatalf("%s: %v", wav, err)
		}
		if len(f) < msFeatures {
			t.Fatalf("%s: %d features", wav, len(f))
		}
		for i := range want {
			if f[i] != want[i] {
				t.Errorf("%s: feature %d = %d, want %d\n got %v\nwant %v", wav, i, f[i], want[i], f[:msFeatures], want)
				break
			}
		}
	}
}

// TestMicroSpeech runs the full keyword-spotting pipeline of tflite-micro's micro_speech
// example over its four one-second recordings.
func TestMicroSpeech(t *testing.T) {
	ms := loadMicroSpeech(t)
	for _, tc := range []struct {
		wav  string
		want []string
	}{
		{"yes_1000ms.wav", []string{"yes"}},
		{"no_1000ms.wav", []string{"no"}},
		{"silence_1000ms.wav", []string{"silence"}},
		{"noise_1000ms.wav", []string{"silence", "unknown"}},
	} {
		audio := readPCM16(t, "tflite/micro_speech/"+tc.wav)
		f, err := ms.features(audio)
		if err != nil {
			t.Fatalf("%s: %v", tc.wav, err)
		}
		if len(f) != msFrames*msFeatures {
			t.Fatalf("%s: %d features, want %d", tc.wav, len(f), msFrames*msFeatures)
		}
		got, scores, err := ms.classify(f)
		if err != nil {
			t.Fatalf("%s: %v", tc.wav, err)
		}
		t.Logf("%s: %s %.3f", tc.wav, got, scores)
		ok := false
		for _, w := range tc.want {
			ok = ok || got == w
		}
		if !ok {
			t.Errorf("%s: classified %q (scores %.3f), want one of %v", tc.wav, got, scores, tc.want)
		}
	}
}
