// Package tflite is a pure-Go TensorFlow Lite interpreter: it reads .tflite flatbuffers
// (subgraph 0), plans tensor memory once at load, and runs float32, hybrid (float32
// activations with int8 weights) and, through kernels registered in files of this package,
// integer models.
//
//	m, err := tflite.Load(modelBytes, tflite.Options{Threads: 1})
//	it, err := m.NewInterpreter() // one per execution context
//	err = it.SetInput(0, raw)     // little-endian element bytes
//	err = it.Invoke()
//	scores := it.Output(0).Float32()
//
// Kernels plug in with RegisterBuiltin and RegisterCustom; see Kernel and OpContext for the
// contract and RATIONALE.md for the design.
package tflite
