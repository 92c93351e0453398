// Command libaigw is the aigw shared object (go build -buildmode=c-shared).
// One file serves both Envoy ABIs: the Go HTTP filter for the router phase
// (internal/golangabi) and the dynamic-modules ABI for the upstream phase
// (internal/dynmod). Envoy's loaders open the same file, glibc hands back the
// same handle, and so one Go runtime serves both (golang/go#65050 forbids
// two). Each adapter sets itself up in init(), because either ABI may load
// the file first and the dynamic-modules loader skips on_program_init when it
// finds the file already loaded.
package main

import (
	_ "github.com/aigw/aigw/internal/dynmod"
	_ "github.com/aigw/aigw/internal/golangabi"
)

// main is required by -buildmode=c-shared and never runs.
func main() {}
