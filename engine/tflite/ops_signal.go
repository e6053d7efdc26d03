package tflite

import (
	"fmt"

	"github.com/atoll-studio/atoll/engine/tflite/internal/flexbuf"
	"github.com/atoll-studio/atoll/engine/tflite/internal/signal"
)

// Custom operators of tflite-micro's Signal library (the audio front end of micro_speech and
// similar models), int16/uint32 fixed point. The DSP lives in internal/signal.

func init() {
	RegisterCustom("SignalWindow", func() Kernel { return &sigWindowKernel{} })
	RegisterCustom("SignalFftAutoScale", func() Kernel { return &sigAutoScaleKernel{} })
	RegisterCustom("SignalRfft", func() Kernel { return &sigRfftKernel{} })
	RegisterCustom("SignalEnergy", func() Kernel { return &sigEnergyKernel{} })
	RegisterCustom("SignalFilterBank", func() Kernel { return &sigFilterBankKernel{} })
	RegisterCustom("SignalFilterBankSquareRoot", func() Kernel { return &sigSqrtKernel{} })
	RegisterCustom("SignalFilterBankSpectralSubtraction", func() Kernel { return &sigSpectralSubtractionKernel{} })
	RegisterCustom("SignalPCAN", func() Kernel { return &sigPCANKernel{} })
	RegisterCustom("SignalFilterBankLog", func() Kernel { return &sigLogKernel{} })
}

// sigCheck validates input/output counts and types of a Signal operator.
func sigCheck(c *OpContext, ins, outs []DType) error {
	if len(c.Inputs) != len(ins) || len(c.Outputs) != len(outs) {
		return fmt.Errorf("want %d inputs and %d outputs, got %d and %d", len(ins), len(outs), len(c.Inputs), len(c.Outputs))
	}
	for i, want := range ins {
		if c.Inputs[i] == nil || c.Inputs[i].Type != want {
			return fmt.Errorf("input %d: want %s", i, want)
		}
	}
	for i, want := range outs {
		if c.Outputs[i].Type != want {
			return fmt.Errorf("output %d: want %s, got %s", i, want, c.Outputs[i].Type)
		}
	}
	return nil
}

// sigOptions parses the operator's FlexBuffer options map.
func sigOptions(c *OpContext) (flexbuf.Map, error) {
	m, err := flexbuf.RootMap(c.Custom)
	if err != nil {
		return m, fmt.Errorf("custom options: %w", err)
	}
	return m, nil
}

func sigInt(m flexbuf.Map, key string) (int, error) {
	v, err := m.Int(key)
	if err != nil {
		return 0, fmt.Errorf("custom options: %w", err)
	}
	return int(v), nil
}

type sigWindowKernel struct{ shift int }

func (k *sigWindowKernel) Prepare(c *OpContext) error {
	if err := sigCheck(c, []DType{Int16, Int16}, []DType{Int16}); err != nil {
		return err
	}
	m, err := sigOptions(c)
	if err != nil {
		return err
	}
	if k.shift, err = sigInt(m, "shift"); err != nil {
		return err
	}
	w := c.Inputs[1].NumElements()
	if w == 0 || c.Inputs[0].NumElements()%w != 0 || k.shift < 0 || k.shift > 31 {
		return fmt.Errorf("input of %d samples, window of %d, shift %d", c.Inputs[0].NumElements(), w, k.shift)
	}
	c.Outputs[0].Shape = append([]int(nil), c.Inputs[0].Shape...)
	return nil
}

func (k *sigWindowKernel) Eval(c *OpContext) error {
	in, w, out := c.Inputs[0].Int16(), c.Inputs[1].Int16(), c.Outputs[0].Int16()
	for i := 0; i < len(in); i += len(w) {
		signal.ApplyWindow(in[i:i+len(w)], w, k.shift, out[i:i+len(w)])
	}
	return nil
}

type sigAutoScaleKernel struct{}

func (k *sigAutoScaleKernel) Prepare(c *OpContext) error {
	if err := sigCheck(c, []DType{Int16}, []DType{Int16, Int32}); err != nil {
		return err
	}
	c.Outputs[0].Shape = append([]int(nil), c.Inputs[0].Shape...)
	c.Outputs[1].Shape = []int{}
	return nil
}

func (k *sigAutoScaleKernel) Eval(c *OpContext) error {
	c.Outputs[1].Int32()[0] = int32(signal.FftAutoScale(c.Inputs[0].Int16(), c.Outputs[0].Int16()))
	return nil
}

type sigRfftKernel struct {
	fft         *signal.RfftInt16
	inLen, outN int
}

func (k *sigRfftKernel) Prepare(c *OpContext) error {
	if err := sigCheck(c, []DType{Int16}, []DType{Int16}); err != nil {
		return fmt.Errorf("%w (only the int16 RFFT is supported)", err)
	}
	m, err := sigOptions(c)
	if err != nil {
		return err
	}
	n, err := sigInt(m, "fft_length")
	if err != nil {
		return err
	}
	var ok bool
	if k.fft, ok = signal.NewRfftInt16(n); !ok {
		return fmt.Errorf("fft_length %d must be even and >= 2", n)
	}
	in := c.Inputs[0]
	if len(in.Shape) == 0 {
		return fmt.Errorf("scalar input")
	}
	k.inLen = in.Shape[len(in.Shape)-1]
	if k.inLen > n {
		return fmt.Errorf("frame of %d samples exceeds fft_length %d", k.inLen, n)
	}
	k.outN = n + 2
	shape := append([]int(nil), in.Shape...)
	shape[len(shape)-1] = k.outN
	c.Outputs[0].Shape = shape
	c.AddScratch(2 * n) // one zero-padded frame
	return nil
}

func (k *sigRfftKernel) Eval(c *OpContext) error {
	in, out := c.Inputs[0].Int16(), c.Outputs[0].Int16()
	frame := view[int16](c.Scratch(0))[:k.fft.Len()]
	for i, o := 0, 0; i < len(in); i, o = i+k.inLen, o+k.outN {
		copy(frame, in[i:i+k.inLen])
		clear(frame[k.inLen:])
		k.fft.Apply(frame, out[o:o+k.outN])
	}
	return nil
}

type sigEnergyKernel struct{ start, end int }

func (k *sigEnergyKernel) Prepare(c *OpContext) error {
	if err := sigCheck(c, []DType{Int16}, []DType{UInt32}); err != nil {
		return err
	}
	m, err := sigOptions(c)
	if err != nil {
		return err
	}
	if k.start, err = sigInt(m, "start_index"); err != nil {
		return err
	}
	if k.end, err = sigInt(m, "end_index"); err != nil {
		return err
	}
	bins := c.Inputs[0].NumElements() / 2
	if k.start < 0 || k.end > bins || k.start > k.end {
		return fmt.Errorf("bins [%d, %d) outside a spectrum of %d", k.start, k.end, bins)
	}
	c.Outputs[0].Shape = []int{bins}
	return nil
}

func (k *sigEnergyKernel) Eval(c *OpContext) error {
	out := c.Outputs[0].UInt32()
	clear(out) // bins outside [start, end) are left unwritten by tflite-micro; zero them
	signal.SpectrumToEnergy(c.Inputs[0].Int16(), k.start, k.end, out)
	return nil
}

type sigFilterBankKernel struct{ channels int }

func (k *sigFilterBankKernel) Prepare(c *OpContext) error {
	if err := sigCheck(c, []DType{UInt32, Int16, Int16, Int16, Int16, Int16}, []DType{UInt64}); err != nil {
		return err
	}
	m, err := sigOptions(c)
	if err != nil {
		return err
	}
	if k.channels, err = sigInt(m, "num_channels"); err != nil {
		return err
	}
	for i := 3; i <= 5; i++ {
		if c.Inputs[i].NumElements() < k.channels+1 || !c.Inputs[i].Const {
			return fmt.Errorf("input %d: want %d constant entries", i, k.channels+1)
		}
	}
	// Every index the bank touches must be in range.
	fs, ws, wd := c.Inputs[3].Int16(), c.Inputs[4].Int16(), c.Inputs[5].Int16()
	nIn, nW := c.Inputs[0].NumElements(), min(c.Inputs[1].NumElements(), c.Inputs[2].NumElements())
	for i := 0; i <= k.channels; i++ {
		if fs[i] < 0 || ws[i] < 0 || wd[i] < 0 || int(fs[i])+int(wd[i]) > nIn || int(ws[i])+int(wd[i]) > nW {
			return fmt.Errorf("channel %d reads outside its inputs", i)
		}
	}
	c.Outputs[0].Shape = []int{k.channels}
	c.AddScratch(8 * (k.channels + 1))
	return nil
}

func (k *sigFilterBankKernel) Eval(c *OpContext) error {
	cfg := signal.FilterbankConfig{NumChannels: k.channels, Weights: c.Inputs[1].Int16(), Unweights: c.Inputs[2].Int16(),
		FrequencyStarts: c.Inputs[3].Int16(), WeightStarts: c.Inputs[4].Int16(), Widths: c.Inputs[5].Int16()}
	work := view[uint64](c.Scratch(0))[:k.channels+1]
	signal.FilterbankAccumulate(&cfg, c.Inputs[0].UInt32(), work)
	copy(c.Outputs[0].UInt64(), work[1:])
	return nil
}

type sigSqrtKernel struct{}

func (k *sigSqrtKernel) Prepare(c *OpContext) error {
	if err := sigCheck(c, []DType{UInt64, Int32}, []DType{UInt32}); err != nil {
		return err
	}
	c.Outputs[0].Shape = append([]int(nil), c.Inputs[0].Shape...)
	return nil
}

func (k *sigSqrtKernel) Eval(c *OpContext) error {
	shift := int(c.Inputs[1].Int32()[0])
	if shift < 0 || shift > 31 {
		return fmt.Errorf("scale bits %d out of range", shift)
	}
	signal.FilterbankSqrt(c.Inputs[0].UInt64(), shift, c.Outputs[0].UInt32())
	return nil
}

// sigSpectralSubtractionKernel keeps a running noise estimate per interpreter in persistent
// memory (tflite-micro's AllocatePersistentBuffer): it starts at zero in a new interpreter and
// after Interpreter.Reset, as tflite-micro's Reset zeroes it.
type sigSpectralSubtractionKernel struct {
	cfg   signal.SpectralSubtractionConfig
	noise int // persistent buffer id: NumChannels uint32
}

func (k *sigSpectralSubtractionKernel) Prepare(c *OpContext) error {
	if err := sigCheck(c, []DType{UInt32}, []DType{UInt32, UInt32}); err != nil {
		return err
	}
	m, err := sigOptions(c)
	if err != nil {
		return err
	}
	cfg := &k.cfg
	for _, f := range []struct {
		key string
		dst *uint32
	}{{"smoothing", &cfg.Smoothing}, {"one_minus_smoothing", &cfg.OneMinusSmoothing},
		{"alternate_smoothing", &cfg.AlternateSmoothing}, {"alternate_one_minus_smoothing", &cfg.AlternateOneMinusSmoothing},
		{"smoothing_bits", &cfg.SmoothingBits}, {"spectral_subtraction_bits", &cfg.SpectralSubtractionBits},
		{"min_signal_remaining", &cfg.MinSignalRemaining}} {
		v, err := sigInt(m, f.key)
		if err != nil {
			return err
		}
		*f.dst = uint32(v)
	}
	if cfg.SmoothingBits > 31 || cfg.SpectralSubtractionBits > 63 {
		return fmt.Errorf("shift options out of range")
	}
	if cfg.NumChannels, err = sigInt(m, "num_channels"); err != nil {
		return err
	}
	if cfg.Clamping, err = m.Bool("clamping"); err != nil {
		return fmt.Errorf("custom options: %w", err)
	}
	if c.Inputs[0].NumElements() < cfg.NumChannels {
		return fmt.Errorf("input has %d channels, options say %d", c.Inputs[0].NumElements(), cfg.NumChannels)
	}
	c.Outputs[0].Shape = []int{cfg.NumChannels}
	c.Outputs[1].Shape = []int{cfg.NumChannels}
	k.noise = c.AddPersistent(4 * cfg.NumChannels)
	return nil
}

func (k *sigSpectralSubtractionKernel) Eval(c *OpContext) error {
	noise := view[uint32](c.Persistent(k.noise))[:k.cfg.NumChannels]
	signal.SpectralSubtraction(&k.cfg, c.Inputs[0].UInt32(), c.Outputs[0].UInt32(), noise)
	copy(c.Outputs[1].UInt32(), noise)
	return nil
}

type sigPCANKernel struct{ snrShift int }

func (k *sigPCANKernel) Prepare(c *OpContext) error {
	if err := sigCheck(c, []DType{UInt32, UInt32, Int16}, []DType{UInt32}); err != nil {
		return err
	}
	m, err := sigOptions(c)
	if err != nil {
		return err
	}
	if k.snrShift, err = sigInt(m, "snr_shift"); err != nil {
		return err
	}
	n := c.Inputs[0].NumElements()
	if c.Inputs[1].NumElements() != n || k.snrShift < 0 || k.snrShift > 63 {
		return fmt.Errorf("input %d and noise %d channels, snr_shift %d", n, c.Inputs[1].NumElements(), k.snrShift)
	}
	// The gain table is indexed up to 4·32−6+2.
	if c.Inputs[2].NumElements() < 4*32-3 {
		return fmt.Errorf("gain table has %d entries, want at least %d", c.Inputs[2].NumElements(), 4*32-3)
	}
	c.Outputs[0].Shape = []int{n}
	return nil
}

func (k *sigPCANKernel) Eval(c *OpContext) error {
	out := c.Outputs[0].UInt32()
	copy(out, c.Inputs[0].UInt32())
	signal.PcanAutoGainControl(c.Inputs[2].Int16(), k.snrShift, c.Inputs[1].UInt32(), out)
	return nil
}

type sigLogKernel struct {
	scale      int32
	correction uint32
}

func (k *sigLogKernel) Prepare(c *OpContext) error {
	if err := sigCheck(c, []DType{UInt32}, []DType{Int16}); err != nil {
		return err
	}
	m, err := sigOptions(c)
	if err != nil {
		return err
	}
	s, err := sigInt(m, "output_scale")
	if err != nil {
		return err
	}
	cb, err := sigInt(m, "input_correction_bits")
	if err != nil {
		return err
	}
	if cb < 0 || cb > 31 {
		return fmt.Errorf("input_correction_bits %d out of range", cb)
	}
	k.scale, k.correction = int32(s), uint32(cb)
	c.Outputs[0].Shape = append([]int(nil), c.Inputs[0].Shape...)
	return nil
}

func (k *sigLogKernel) Eval(c *OpContext) error {
	signal.FilterbankLog(c.Inputs[0].UInt32(), k.scale, k.correction, c.Outputs[0].Int16())
	return nil
}
