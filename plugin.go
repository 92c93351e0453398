// Command libaigw is the aigw shared object (go build -buildmode=c-shared).
// One file serves both Envoy ABIs: the Go HTTP filter for the router phase
// and, through the blank import below, the dynamic-modules ABI for the
// upstream phase. Envoy's loaders open the same file, glibc hands back the
// same handle, and so one Go runtime serves both (golang/go#65050 forbids
// two). All registration happens in init(), because either ABI may load the
// file first and the dynamic-modules loader skips on_program_init when it
// finds the file already loaded.
package main

import (
	"github.com/envoyproxy/envoy/contrib/golang/filters/http/source/go/pkg/http"

	"github.com/aigw/aigw/filter"
	_ "github.com/aigw/aigw/internal/dynmod"
)

func init() {
	http.RegisterHttpFilterFactoryAndConfigParser(filter.Name, filter.Factory, filter.Parser{})
}

// main is required by -buildmode=c-shared and never runs.
func main() {}
