// Command aigw-envoygen writes the Envoy bootstrap for one aigw document and
// its deployment section (see internal/envoygen):
//
//	aigw-envoygen -in deploy/demo/deployment.yaml -o envoy.yaml
//	aigw-envoygen -in deploy/demo/deployment.yaml -check envoy.yaml
//	aigw-envoygen -in deploy/production/deployment.yaml -kind istio -o envoyfilter.yaml
//
// -kind is bootstrap (default), envoy-gateway (EnvoyProxy + EnvoyPatchPolicy) or istio
// (EnvoyFilter); the Kubernetes kinds use the targets of envoygen.DefaultEnvoyGatewayTarget
// and DefaultIstioTarget.
//
// -check exits 1 when the file differs from what would be generated.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/aigw/aigw/internal/envoygen"
)

func main() {
	in := flag.String("in", "", "deployment file (YAML) naming its aigw document")
	out := flag.String("o", "-", "output file, - for stdout")
	check := flag.String("check", "", "compare this file with the output instead of writing")
	kind := flag.String("kind", envoygen.OutBootstrap, "bootstrap, envoy-gateway or istio")
	flag.Parse()
	if err := run(*in, *kind, *out, *check); err != nil {
		fmt.Fprintln(os.Stderr, "aigw-envoygen:", err)
		os.Exit(1)
	}
}

func run(in, kind, out, check string) error {
	if in == "" {
		return fmt.Errorf("-in is required")
	}
	b, err := envoygen.FileAs(in, kind)
	if err != nil {
		return err
	}
	switch {
	case check != "":
		cur, err := os.ReadFile(check)
		if err != nil {
			return err
		}
		if !bytes.Equal(cur, b) {
			return fmt.Errorf("%s differs from the output for %s: regenerate it with -o %s", check, in, check)
		}
		return nil
	case out == "-":
		_, err := os.Stdout.Write(b)
		return err
	default:
		return os.WriteFile(out, b, 0o644)
	}
}
