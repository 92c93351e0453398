package bench

import "github.com/aigw/aigw/config"

// ConfigJSON is the aigw config both sides of the benchmark load: the ext_proc
// server and the in-process filter route with the same rules. Auth is none so
// the benchmark needs no key files; the router phase never reads keys anyway.
const ConfigJSON = `{
  "backends": [
    {"name": "openai-primary", "models": ["gpt-4o-mini", "gpt-4o"], "schema": "openai", "auth": {"type": "none"}},
    {"name": "azure-east", "models": ["gpt-4o"], "schema": "azure_openai", "api_version": "2024-10-21", "auth": {"type": "none"}},
    {"name": "anthropic", "models": ["claude-3-5-haiku-latest"], "schema": "anthropic", "auth": {"type": "none"}}
  ],
  "client_backend_selection": "configured"
}`

// Config parses ConfigJSON.
func Config() *config.Config {
	c, err := config.Parse([]byte(ConfigJSON))
	if err != nil {
		// ConfigJSON is a constant: a parse error is a bug in this file,
		// caught by every test in the package.
		panic(err)
	}
	return c
}
