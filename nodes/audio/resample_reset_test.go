package audio

import "testing"

// A resampler reset for a new recording gives what a freshly designed one gives.
func TestResamplerResetMatchesFresh(t *testing.T) {
	x := make([]float32, 5000)
	for i := range x {
		x[i] = float32(i%97)/97 - 0.5
	}
	fresh := NewResampler(44100, 16000, 0.96875, 32, 12)
	want := append(fresh.Process(x, nil), fresh.Drain()...)
	r := NewResampler(44100, 16000, 0.96875, 32, 12)
	r.Process(x[:3000], nil)
	r.Drain()
	r.reset()
	got := append(r.Process(x, nil), r.Drain()...)
	if len(got) != len(want) {
		t.Fatalf("%d samples after a reset, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("sample %d: %v after a reset, want %v", i, got[i], want[i])
		}
	}
	if r.NextTime() != fresh.NextTime() {
		t.Errorf("next time %v after a reset, want %v", r.NextTime(), fresh.NextTime())
	}
}
