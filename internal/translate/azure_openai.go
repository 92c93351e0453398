package translate

import (
	"errors"
	"net/url"
)

// Azure OpenAI speaks the OpenAI schema but addresses the model through the
// path: {prefix}/deployments/{deployment}{suffix}?api-version=X, where the
// deployment is the (overridden) model name. The request body's "model" is
// ignored by Azure on deployment paths; it is still rewritten when an
// override applies so the body and the path agree in logs and in Azure's
// v1-style endpoints, which do read it.

func init() {
	register(SchemaAzureOpenAI, func(t Target, ep endpoint) (Translator, error) {
		if t.APIVersion == "" {
			return nil, errors.New("translate: azure_openai target needs an api_version")
		}
		prefix := t.PathPrefix
		if prefix == "" {
			prefix = "/openai"
		}
		query := "api-version=" + url.QueryEscape(t.APIVersion)
		needsDeployment := ep.kind == endpointChatCompletions || ep.kind == endpointCompletions || ep.kind == endpointEmbeddings
		return &passthrough{target: t, usage: openaiUsageScanner{}, requireModel: needsDeployment, path: func(model string) string {
			if !needsDeployment {
				return joinPath(prefix, ep.suffix) + "?" + query
			}
			return joinPath(prefix, "/deployments/"+url.PathEscape(model)+ep.suffix) + "?" + query
		}}, nil
	})
}
