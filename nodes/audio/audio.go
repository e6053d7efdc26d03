// Package audio holds Atoll's audio nodes: a streaming WAV source and the DSP steps (resample,
// frame) that feed classifiers. Audio travels as rows of packed float32 samples:
//
//	samples  float32s  mono samples in [-1, 1]
//	rate     int       sample rate in Hz
//	t_start  float     seconds from the start of the stream to the first sample
//	t_end    float     seconds to the end of the last sample
package audio

import (
	"fmt"

	"github.com/atoll-studio/atoll/engine/rows"
)

// Field names of audio rows.
const (
	FieldSamples = "samples"
	FieldRate    = "rate"
	FieldStart   = "t_start"
	FieldEnd     = "t_end"
)

// PortType is the port type of audio rows.
const PortType = "audio"

func audioRow(samples []float32, rate int, start float64) rows.Row {
	return rows.Row{
		{Name: FieldSamples, Value: rows.Float32s(samples)},
		{Name: FieldRate, Value: rows.Int(int64(rate))},
		{Name: FieldStart, Value: rows.Float(start)},
		{Name: FieldEnd, Value: rows.Float(start + float64(len(samples))/float64(rate))},
	}
}

// readAudio extracts samples and rate from an audio row.
func readAudio(r rows.Row) ([]float32, int, error) {
	sv, ok := r.Get(FieldSamples)
	if !ok {
		return nil, 0, fmt.Errorf("row has no %q field", FieldSamples)
	}
	s, ok := sv.AsFloat32s()
	if !ok {
		return nil, 0, fmt.Errorf("field %q is %s, not float32s", FieldSamples, sv.Kind())
	}
	rv, ok := r.Get(FieldRate)
	if !ok {
		return nil, 0, fmt.Errorf("row has no %q field", FieldRate)
	}
	rate, ok := rv.AsInt()
	if !ok || rate <= 0 {
		return nil, 0, fmt.Errorf("field %q is %v, not a positive int", FieldRate, rv)
	}
	return s, int(rate), nil
}
