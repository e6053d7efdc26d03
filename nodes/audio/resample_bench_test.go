package audio

import "testing"

// BenchmarkResample48to16 resamples one second of 48 kHz audio to 16 kHz with the default
// design (1200 taps at this ratio), in rows of 4800 samples as the bird graph feeds it.
func BenchmarkResample48to16(b *testing.B) {
	x := sine(1000, 0.5, 48000, 48000)
	r := NewResampler(48000, 16000, resampleDefaults.Cutoff, resampleDefaults.HalfTaps, resampleDefaults.Beta)
	var out []float32
	b.SetBytes(48000 * 4)
	for b.Loop() {
		for at := 0; at < len(x); at += 4800 {
			out = r.Process(x[at:at+4800], out[:0])
		}
	}
}
