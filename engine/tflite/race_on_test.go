//go:build race

package tflite

// raceEnabled reports a -race build, whose instrumentation allocates on its own.
const raceEnabled = true
