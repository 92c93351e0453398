// Command sotest is the smallest c-shared library holding the dynmod hooks:
// the package tests build it to check the exported and referenced symbols
// and to load it from a C program the way Envoy does.
package main

import _ "github.com/aigw/aigw/internal/dynmod"

func main() {}
