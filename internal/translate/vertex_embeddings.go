package translate

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
)

// OpenAI embeddings -> Vertex AI text-embedding models ({model}:predict):
//
//	{"input": "a" | ["a","b"], "dimensions": N}
//	-> {"instances":[{"content":"a"},...], "parameters":{"outputDimensionality":N}}
//
// and back: predictions[i].embeddings.values become data[i].embedding;
// usage is the sum of predictions[i].embeddings.statistics.token_count.

type vertexEmbeddings struct {
	target Target
	base   vertexBase

	model     string
	mode      ResponseMode
	coding    contentCoding
	gz        *gzipDecoder
	acc       accumulator
	tokens    Usage
	errStatus int
}

type embeddingsRequest struct {
	Model          string  `json:"model"`
	Input          rawJSON `json:"input"`
	Dimensions     *int64  `json:"dimensions"`
	EncodingFormat string  `json:"encoding_format"`
	User           string  `json:"user"`
}

type vertexEmbedRequest struct {
	Instances  []vertexEmbedInstance `json:"instances"`
	Parameters *vertexEmbedParams    `json:"parameters,omitempty"`
}

type vertexEmbedInstance struct {
	Content string `json:"content"`
}

type vertexEmbedParams struct {
	OutputDimensionality *int64 `json:"outputDimensionality,omitempty"`
}

type vertexEmbedResponse struct {
	Predictions []struct {
		Embeddings struct {
			Values     rawJSON `json:"values"`
			Statistics struct {
				TokenCount float64 `json:"token_count"`
			} `json:"statistics"`
		} `json:"embeddings"`
	} `json:"predictions"`
}

func (v *vertexEmbeddings) RequestBody(body []byte) (RequestResult, error) {
	var req embeddingsRequest
	if err := forEachMember(body, func(key string, vs, ve int) error {
		switch key {
		case "model", "input", "dimensions", "user":
			return nil
		case "encoding_format":
			if s, _ := rawString(body[vs:ve]); s == "float" || isNull(body[vs:ve]) {
				return nil
			}
		default:
			if isNull(body[vs:ve]) {
				return nil
			}
		}
		return unsupported(key, "parameter %s is not supported by a gcp_vertex_gemini embeddings backend (value %s)", key, abbreviate(body[vs:ve]))
	}); err != nil {
		if err == errBadJSON {
			return RequestResult{}, invalid("", "%s", err.Error())
		}
		return RequestResult{}, err
	}
	if err := jsonAPI.UnmarshalFromString(aliasString(body), &req); err != nil {
		return RequestResult{}, invalid("", "request body does not match the embeddings schema: %s", firstLine(err.Error()))
	}
	model := v.target.ResolveModel(req.Model)
	if model == "" {
		return RequestResult{}, invalid("model", "model is required")
	}
	path, err := v.base.modelURL(model, "predict")
	if err != nil {
		return RequestResult{}, err
	}
	var inputs []string
	raw := bytes.TrimSpace(req.Input)
	switch {
	case len(raw) > 0 && raw[0] == '"':
		s, _ := rawString(raw)
		inputs = []string{s}
	case len(raw) > 0 && raw[0] == '[':
		if err := jsonAPI.Unmarshal(raw, &inputs); err != nil {
			return RequestResult{}, unsupported("input", "input must be a string or an array of strings for a gcp_vertex_gemini backend (token arrays are not supported)")
		}
	default:
		return RequestResult{}, invalid("input", "input must be a string or an array of strings")
	}
	if len(inputs) == 0 {
		return RequestResult{}, invalid("input", "input must not be empty")
	}
	out := vertexEmbedRequest{Instances: make([]vertexEmbedInstance, len(inputs))}
	for i, s := range inputs {
		out.Instances[i].Content = s
	}
	if d := req.Dimensions; d != nil {
		if *d < 1 {
			return RequestResult{}, invalid("dimensions", "dimensions must be at least 1")
		}
		out.Parameters = &vertexEmbedParams{OutputDimensionality: d}
	}
	buf, encoded, err := encodeBody(&out, len(body)+64*len(inputs))
	if err != nil {
		return RequestResult{}, invalid("", "cannot encode the embeddings request: %s", firstLine(err.Error()))
	}
	v.model = strings.Clone(model)
	res := RequestResult{
		Path:          path,
		Headers:       []Header{{Key: "content-type", Value: "application/json"}},
		RemoveHeaders: []string{"accept-encoding"},
		Model:         v.model,
		RequestModel:  strings.Clone(req.Model), // may alias body
	}
	res.setBody(buf, encoded)
	return res, nil
}

func (v *vertexEmbeddings) ResponseHeaders(status int, contentType, contentEncoding string) (ResponseMode, error) {
	v.coding = parseContentEncoding(contentEncoding)
	if v.coding == codingOther {
		return ResponseMode{}, &Error{Kind: KindProvider, Status: http.StatusBadGateway, Code: "unsupported_content_encoding",
			Message: "the gcp_vertex_gemini backend answered with a content-encoding the gateway cannot decode"}
	}
	v.mode = ResponseMode{ModifiesBody: true, BufferBody: true, ContentType: "application/json", RemoveContentEncoding: v.coding == codingGzip, Error: !isSuccess(status)}
	if v.coding == codingGzip {
		v.gz = newGzipDecoder(v.target.Limits.decodedBytes())
	}
	v.errStatus = status
	return v.mode, nil
}

func (v *vertexEmbeddings) ResponseBody(chunk []byte, eos bool) ([]byte, Usage, error) {
	if v.coding == codingGzip {
		plain, err := v.gz.decode(chunk, eos)
		if err != nil {
			return nil, v.tokens, err
		}
		chunk = plain
	}
	whole, ok := v.acc.add(chunk, eos)
	if !ok {
		return nil, v.tokens, nil
	}
	if v.mode.Error {
		return googleErrorJSON(v.errStatus, whole), v.tokens, nil
	}
	var r vertexEmbedResponse
	if err := jsonAPI.UnmarshalFromString(aliasString(whole), &r); err != nil {
		return nil, v.tokens, badResponse("the gcp_vertex_gemini backend returned a malformed embeddings response" + decodeErrorAt(err))
	}
	var tokens int64
	out := make([]byte, 0, len(whole)+128)
	out = append(out, `{"object":"list","data":[`...)
	for i := range r.Predictions {
		p := &r.Predictions[i].Embeddings
		values := bytes.TrimSpace(p.Values)
		if len(values) == 0 || values[0] != '[' {
			return nil, v.tokens, badResponse("the gcp_vertex_gemini backend returned an embedding without values")
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"object":"embedding","index":`...)
		out = strconv.AppendInt(out, int64(i), 10)
		out = append(out, `,"embedding":`...)
		out = append(out, values...)
		out = append(out, '}')
		tokens = addTokens(tokens, plausible(int64(p.Statistics.TokenCount)))
	}
	v.tokens = Usage{InputTokens: tokens}.sane()
	out = append(out, `],"model":`...)
	out = appendJSONString(out, v.model)
	out = append(out, `,"usage":{"prompt_tokens":`...)
	out = appendInt(out, v.tokens.InputTokens)
	out = append(out, `,"total_tokens":`...)
	out = appendInt(out, v.tokens.TotalTokens)
	out = append(out, "}}"...)
	return out, v.tokens, nil
}
