package translate

import (
	"errors"
	"fmt"
	"net/url"
)

// Azure OpenAI speaks the OpenAI schema but addresses the model through the
// path: {prefix}/deployments/{deployment}{suffix}?api-version=X, where the
// deployment is the (overridden) model name. The request body's "model" is
// ignored by Azure on deployment paths; it is still rewritten when an
// override applies so the body and the path agree in logs and in Azure's
// v1-style endpoints, which do read it.

// azureStreamOptionsVersion is the first api-version taking stream_options
// (api-versions are dates, so they compare as strings).
const azureStreamOptionsVersion = "2024-09-01"

func init() {
	register(SchemaAzureOpenAI, func(t Target, ep endpoint) (Translator, error) {
		if t.APIVersion == "" {
			return nil, errors.New("translate: azure_openai target needs an api_version")
		}
		prefix := t.PathPrefix
		if prefix == "" {
			prefix = "/openai"
		}
		// Configured names that become deployments are checked at load.
		for from, to := range t.ModelOverride {
			if err := checkPathSegment("model_override", to); err != nil {
				return nil, fmt.Errorf("translate: model_override %q: %s (it names an Azure deployment)", from, err.(*Error).Message)
			}
		}
		if t.DefaultModel != "" {
			if err := checkPathSegment("model_override", t.DefaultModel); err != nil {
				return nil, fmt.Errorf("translate: %s (it names an Azure deployment)", err.(*Error).Message)
			}
		}
		query := "api-version=" + url.QueryEscape(t.APIVersion)
		if ep.kind == endpointMessages {
			// The Anthropic Messages front door (messages_openai.go), to
			// the deployment's chat completions.
			return newMessagesToOpenAI(t, func(model string) string {
				return joinPath(prefix, "/deployments/"+url.PathEscape(model)+"/chat/completions") + "?" + query
			}, true), nil
		}
		needsDeployment := ep.kind == endpointChatCompletions || ep.kind == endpointCompletions || ep.kind == endpointEmbeddings
		// Azure accepts stream_options from api-version 2024-09-01 on (older
		// versions reject the member): only those are asked for usage.
		ask := askUsage(ep) && t.APIVersion >= azureStreamOptionsVersion
		return &passthrough{target: t, usage: openaiUsageScanner{}, askUsage: ask, requireModel: needsDeployment, modelInPath: needsDeployment, path: func(model string) string {
			if !needsDeployment {
				return joinPath(prefix, ep.suffix) + "?" + query
			}
			return joinPath(prefix, "/deployments/"+url.PathEscape(model)+ep.suffix) + "?" + query
		}}, nil
	})
}
