package translate

import (
	"errors"
	"fmt"
	"net/url"
)

// Google Vertex AI: every model is addressed under
//
//	{prefix}/projects/{project}/locations/{region}/publishers/{publisher}/models/{model}:{method}
//
// (prefix "/v1"). Gemini (publisher google) is translated from OpenAI's
// chat completions and embeddings (gemini*.go, vertex_embeddings.go);
// Claude (publisher anthropic) takes Anthropic's body with the model in the
// path (vertex_anthropic.go). Credentials are an OAuth2 bearer from the
// upstream phase's token cache (auth gcp_service_account / gcp_adc).

// vertexBase is the part of a Vertex URL up to the model.
type vertexBase struct{ prefix string }

// newVertexBase checks the target's project and region (each exactly one
// path segment) and returns the URL base of publisher's models.
func newVertexBase(t Target, publisher string) (vertexBase, error) {
	if t.Project == "" || t.Region == "" {
		return vertexBase{}, errors.New("translate: a " + t.Schema + " target needs project and region")
	}
	for _, f := range [...]struct{ name, v string }{{"project", t.Project}, {"region", t.Region}} {
		if err := checkPathSegment(f.name, f.v); err != nil {
			return vertexBase{}, fmt.Errorf("translate: %s", err.(*Error).Message)
		}
	}
	if err := checkModelNames(t, "a Vertex AI model"); err != nil {
		return vertexBase{}, err
	}
	prefix := t.PathPrefix
	if prefix == "" {
		prefix = "/v1"
	}
	return vertexBase{prefix: joinPath(prefix, "/projects/"+url.PathEscape(t.Project)+"/locations/"+url.PathEscape(t.Region)+"/publishers/"+publisher+"/models/")}, nil
}

// modelURL is the path of one method of model; the model must be one path
// segment (a 400 naming "model" otherwise).
func (v vertexBase) modelURL(model, method string) (string, error) {
	if err := checkPathSegment("model", model); err != nil {
		return "", err
	}
	return v.prefix + url.PathEscape(model) + ":" + method, nil
}

// checkModelNames checks the configured names that become a path segment
// (model_override), so a config is rejected at load; what names them is
// in the message.
func checkModelNames(t Target, what string) error {
	for from, to := range t.ModelOverride {
		if err := checkPathSegment("model_override", to); err != nil {
			return fmt.Errorf("translate: model_override %q: %s (it names %s)", from, err.(*Error).Message, what)
		}
	}
	if t.DefaultModel != "" {
		if err := checkPathSegment("model_override", t.DefaultModel); err != nil {
			return fmt.Errorf("translate: %s (it names %s)", err.(*Error).Message, what)
		}
	}
	return nil
}
