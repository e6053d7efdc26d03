// Package audio holds Atoll's audio nodes: a streaming WAV source and the DSP steps (resample,
// frame) that feed classifiers. Audio travels as rows of packed float32 samples:
//
//	samples  float32s  mono samples in [-1, 1]
//	rate     int       sample rate in Hz
//	t_start  float     seconds from the start of the stream to the first sample
//	t_end    float     seconds to the end of the last sample
//
// Rows read from a folder of recordings (source.wav_dir) also carry the recording they came from:
//
//	file     string     path of the recording; t_start and t_end are offsets within it
//	time     timestamp  wall-clock time of the first sample, when the file name says when the
//	                    recording started
//
// Every audio node treats a change of `file` as the end of one stream and the start of another:
// filters, resamplers and framers restart, and no window spans two recordings.
package audio

import (
	"fmt"
	"math"
	"time"

	"github.com/atoll-studio/atoll/engine"

	"github.com/atoll-studio/atoll/engine/rows"
)

// Field names of audio rows.
const (
	FieldSamples = "samples"
	FieldRate    = "rate"
	FieldStart   = "t_start"
	FieldEnd     = "t_end"
	FieldFile    = "file"
	FieldTime    = "time"
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

// recording names the recording audio rows came from: its file (empty for a single-file source)
// and, when known, the wall-clock time of its first sample.
type recording struct {
	file   string
	origin int64 // Unix nanoseconds of t_start = 0
	timed  bool
}

// recordingOf reads the recording fields of an audio (or classifier) row.
func recordingOf(r rows.Row) recording {
	var rec recording
	if v, ok := r.Get(FieldFile); ok {
		rec.file, _ = v.AsString()
	}
	if v, ok := r.Get(FieldTime); ok {
		if ns, ok := v.AsTimestamp(); ok {
			var start float64
			if sv, ok := r.Get(FieldStart); ok {
				start, _ = sv.AsFloat()
			}
			rec.origin, rec.timed = ns-int64(math.Round(start*1e9)), true
		}
	}
	return rec
}

// stamp appends the recording's fields to a row whose first sample is start seconds into it.
func (rec recording) stamp(r rows.Row, start float64) rows.Row {
	if rec.file != "" {
		r = append(r, rows.Field{Name: FieldFile, Value: rows.String(rec.file)})
	}
	if rec.timed {
		r = append(r, rows.Field{Name: FieldTime, Value: rows.TimestampNanos(rec.origin + int64(math.Round(start*1e9)))})
	}
	return r
}

// rtfMeter measures a DSP node's real-time factor: seconds of audio handled per second spent
// handling it, shown on the node as "rtf".
type rtfMeter struct {
	seconds float64
	busy    time.Duration
}

// audio counts n samples at rate Hz as handled.
func (m *rtfMeter) audio(n, rate int) { m.seconds += float64(n) / float64(rate) }

// time starts timing a call; the function it returns stops it and updates the gauge (call it
// before emitting: the time blocked downstream is not the node's).
func (m *rtfMeter) time(out engine.Output) func() {
	t0 := time.Now()
	return func() {
		m.busy += time.Since(t0)
		if m.busy > 0 && m.seconds > 0 {
			out.Gauge("rtf", m.seconds/m.busy.Seconds())
		}
	}
}

// mapAudio replaces the samples of every audio row of b by what f makes of them (f must not
// change the samples it is given) and emits the rows; a row that is not audio, or that f refuses,
// goes to errors. The time f takes counts toward the node's real-time factor.
func mapAudio(b *rows.Batch, out engine.Output, m *rtfMeter, f func(row rows.Row, samples []float32, rate int) ([]float32, error)) error {
	stop := m.time(out)
	outRows := make([]rows.Row, 0, len(b.Rows))
	for _, row := range b.Rows {
		samples, rate, err := readAudio(row)
		if err == nil {
			samples, err = f(row, samples, rate)
		}
		if err != nil {
			out.Reject(row, err)
			continue
		}
		m.audio(len(samples), rate)
		r := row.Clone()
		r.Set(FieldSamples, rows.Float32s(samples))
		outRows = append(outRows, r)
	}
	stop()
	if len(outRows) == 0 {
		return nil
	}
	return out.Emit("out", &rows.Batch{Rows: outRows})
}
