package tflite

import (
	"fmt"
	"math"
)

func init() {
	for _, t := range AllDTypes {
		RegisterBuiltin(OpResizeNearestNeighbor, t, func() Kernel { return &resizeNearestKernel{} })
	}
}

// resizeNearestKernel serves RESIZE_NEAREST_NEIGHBOR (SEANet's decoder shortcuts upsample with
// it) on any element type: it copies elements, so quantized tensors keep their values and the
// output shares the input's quantization. Input 1 is the constant int32 [height, width];
// ResizeNearestNeighborOptions: 0 align_corners, 1 half_pixel_centers.
type resizeNearestKernel struct {
	n, inH, inW, c, outH, outW int
	align, half                bool
}

// nearestSource is TFLite's GetNearestNeighbor: the input index for output index i, computed in
// float32 like the reference.
func nearestSource(i, in, out int, alignCorners, halfPixel bool) int {
	scale := float32(in) / float32(out)
	if alignCorners && out > 1 {
		scale = float32(in-1) / float32(out-1)
	}
	var offset float32
	if halfPixel {
		offset = 0.5
	}
	v := (float32(i) + offset) * scale
	var s int
	if alignCorners {
		s = int(math.Round(float64(v))) // std::round: half away from zero
	} else {
		s = int(math.Floor(float64(v)))
	}
	s = min(s, in-1)
	if halfPixel {
		s = max(s, 0)
	}
	return s
}

func (k *resizeNearestKernel) Prepare(c *OpContext) error {
	if err := needInputs(c, 2); err != nil {
		return err
	}
	in, out := c.Inputs[0], c.Outputs[0]
	size, err := intsOf(c.Inputs[1])
	if err != nil {
		return fmt.Errorf("size: %w", err)
	}
	if len(in.Shape) != 4 || len(size) != 2 || size[0] < 1 || size[1] < 1 {
		return fmt.Errorf("want a 4-D input and a size of 2 positive values, got %v and %v", in.Shape, size)
	}
	if in.Shape[1] < 1 || in.Shape[2] < 1 {
		return fmt.Errorf("input %v has no pixel to resize", in.Shape)
	}
	if out.Type != in.Type {
		return fmt.Errorf("output type %s differs from input type %s", out.Type, in.Type)
	}
	if in.Type.Size() == 0 {
		return fmt.Errorf("type %s has no fixed size", in.Type)
	}
	k.n, k.inH, k.inW, k.c = in.Shape[0], in.Shape[1], in.Shape[2], in.Shape[3]
	k.outH, k.outW = size[0], size[1]
	k.align, k.half = c.Builtin.Bool(0, false), c.Builtin.Bool(1, false)
	out.Shape = []int{k.n, k.outH, k.outW, k.c}
	return nil
}

func (k *resizeNearestKernel) Eval(c *OpContext) error {
	in, out := c.Inputs[0].Data, c.Outputs[0].Data
	px := k.c * c.Inputs[0].Type.Size() // bytes per pixel
	o := 0
	for b := range k.n {
		for y := range k.outH {
			sy := nearestSource(y, k.inH, k.outH, k.align, k.half)
			row := in[((b*k.inH+sy)*k.inW)*px:]
			for x := range k.outW {
				sx := nearestSource(x, k.inW, k.outW, k.align, k.half)
				copy(out[o:o+px], row[sx*px:])
				o += px
			}
		}
	}
	return nil
}
