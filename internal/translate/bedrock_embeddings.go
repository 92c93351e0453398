package translate

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/aigw/aigw/internal/bufpool"
)

// OpenAI embeddings -> Amazon Bedrock InvokeModel for the embedding models:
// POST {prefix}/model/{model}/invoke, the body in the model family's format:
//
//	Titan  (amazon.titan-embed-*):  {"inputText": "...", "dimensions"?: n}
//	        -> {"embedding": [...], "inputTextTokenCount": n}
//	Cohere (cohere.embed-*):        {"texts": [...], "input_type": "search_document"}
//	        -> {"embeddings": [[...], ...], ...}
//
// The answer is OpenAI's list ({"object":"list","data":[{"object":
// "embedding","index":i,"embedding":[...]}],"model","usage"}), the vectors
// copied as they are. Titan embeds one text per call: an input array of more
// than one is a 400 naming input. Cohere on Bedrock reports no token counts
// in the body: its usage is the x-amzn-bedrock-input-token-count response
// header Bedrock's InvokeModel sends (the AWS SDKs expose it as raw response
// metadata; it is not in the API reference's response syntax), which is
// also Titan's count when its body has none. Token-array inputs and
// encoding_format=base64 have no Bedrock equivalent: 400 naming them.

// SchemaAWSBedrock is Amazon Bedrock's own model APIs: Converse for chat
// (bedrock_converse.go), InvokeModel for embeddings (here).
const SchemaAWSBedrock = "aws_bedrock"

func init() {
	register(SchemaAWSBedrock, newBedrock)
}

func newBedrock(t Target, ep endpoint) (Translator, error) {
	for _, m := range t.ModelOverride {
		if _, err := escapedPathSegment("model_override", m); err != nil {
			return nil, err
		}
	}
	if t.DefaultModel != "" {
		if _, err := escapedPathSegment("model_override", t.DefaultModel); err != nil {
			return nil, err
		}
	}
	if ep.kind == endpointChatCompletions {
		return &bedrockConverse{anthropicTranslator: anthropicTranslator{target: t}}, nil
	}
	if ep.kind != endpointEmbeddings {
		return nil, &Error{
			Kind:    KindUnsupported,
			Status:  http.StatusBadRequest,
			Code:    "unsupported_endpoint",
			Message: "endpoint " + ep.suffix + " is not supported by an aws_bedrock backend; use /v1/chat/completions or /v1/embeddings",
		}
	}
	return &bedrockEmbeddings{target: t}, nil
}

type embeddingFamily int

const (
	familyTitan embeddingFamily = iota + 1
	familyCohere
)

type bedrockEmbeddings struct {
	target Target
	family embeddingFamily
	model  string
	inputs int

	status int
	mode   ResponseMode
	acc    accumulator
	// headerTokens is x-amzn-bedrock-input-token-count (-1: absent or not
	// a count).
	headerTokens int64
}

// ReadResponseHeaders reads Bedrock's input token count header.
func (b *bedrockEmbeddings) ReadResponseHeaders(h HeaderGetter) {
	b.headerTokens = -1
	if v, ok := h.Get("x-amzn-bedrock-input-token-count"); ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 {
			b.headerTokens = n
		}
	}
}

// embeddingsRequest: vertex_embeddings.go.

func (b *bedrockEmbeddings) RequestBody(body []byte) (RequestResult, error) {
	var req embeddingsRequest
	if err := forEachMember(body, func(key string, vs, ve int) error {
		switch key {
		case "model", "input", "encoding_format", "dimensions", "user":
			return nil
		}
		return unsupported(key, "%s is not supported by an aws_bedrock backend", key)
	}); err != nil {
		if err == errBadJSON {
			return RequestResult{}, invalid("", "%s", err.Error())
		}
		return RequestResult{}, err
	}
	if err := jsonAPI.UnmarshalFromString(aliasString(body), &req); err != nil {
		return RequestResult{}, invalid("", "request body does not match the embeddings schema: %s", firstLine(err.Error()))
	}
	model := b.target.ResolveModel(req.Model)
	switch {
	case model == "":
		return RequestResult{}, invalid("model", "model is required")
	case strings.Contains(model, "titan-embed"):
		b.family = familyTitan
	case strings.Contains(model, "cohere.embed"):
		b.family = familyCohere
	default:
		return RequestResult{}, invalid("model", "model is not a Bedrock embedding model the gateway can call (amazon.titan-embed-* or cohere.embed-*)")
	}
	seg, err := escapedPathSegment("model", model)
	if err != nil {
		return RequestResult{}, err
	}
	if req.EncodingFormat != "" && req.EncodingFormat != "float" {
		return RequestResult{}, unsupported("encoding_format", "encoding_format %q is not supported by an aws_bedrock backend (only float)", req.EncodingFormat)
	}
	var texts []string
	if s, ok := rawString(req.Input); ok {
		texts = []string{s}
	} else if err := jsonAPI.UnmarshalFromString(aliasString(req.Input), &texts); err != nil || len(texts) == 0 {
		return RequestResult{}, invalid("input", "input must be a string or a non-empty array of strings for an aws_bedrock backend (token arrays have no Bedrock equivalent)")
	}
	if b.family == familyCohere && req.Dimensions != nil {
		return RequestResult{}, unsupported("dimensions", "dimensions is not supported by a Cohere embedding model on Bedrock")
	}
	buf := bodyBuffer(len(body) + 64)
	out := *buf
	switch b.family {
	case familyTitan:
		if len(texts) != 1 {
			bufpool.Put(buf)
			return RequestResult{}, unsupported("input", "a Titan embedding model embeds one text per request; send one input string")
		}
		out = append(out, `{"inputText":`...)
		out = appendJSONString(out, texts[0])
		if req.Dimensions != nil {
			out = append(out, `,"dimensions":`...)
			out = appendInt(out, *req.Dimensions)
		}
	case familyCohere:
		out = append(out, `{"texts":[`...)
		for i, s := range texts {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendJSONString(out, s)
		}
		out = append(out, `],"input_type":"search_document"`...)
	}
	out = append(out, '}')
	b.model, b.inputs = strings.Clone(model), len(texts)
	res := RequestResult{
		Path:          joinPath(b.target.PathPrefix, "/model/"+seg+"/invoke"),
		Headers:       []Header{{Key: "content-type", Value: "application/json"}},
		RemoveHeaders: []string{"accept-encoding"},
		Model:         b.model,
		RequestModel:  strings.Clone(req.Model), // may alias body
	}
	res.setBody(buf, out)
	return res, nil
}

func (b *bedrockEmbeddings) ResponseHeaders(status int, contentType, contentEncoding string) (ResponseMode, error) {
	if parseContentEncoding(contentEncoding) != codingIdentity {
		return ResponseMode{}, &Error{
			Kind:    KindProvider,
			Status:  http.StatusBadGateway,
			Code:    "unsupported_content_encoding",
			Message: "the bedrock backend answered with a content-encoding the gateway does not decode for embeddings",
		}
	}
	b.status = status
	b.mode = ResponseMode{BufferBody: true, ModifiesBody: true, ContentType: "application/json", Error: !isSuccess(status)}
	return b.mode, nil
}

func (b *bedrockEmbeddings) ResponseBody(chunk []byte, eos bool) ([]byte, Usage, error) {
	whole, ok := b.acc.add(chunk, eos)
	if !ok {
		return nil, Usage{}, nil
	}
	if b.mode.Error {
		return openAIErrorJSON(b.status, whole), Usage{}, nil
	}
	return b.translate(whole)
}

func (b *bedrockEmbeddings) translate(body []byte) ([]byte, Usage, error) {
	var vectors []rawJSON
	tokens := plausible(max(b.headerTokens, 0))
	switch b.family {
	case familyTitan:
		var r struct {
			Embedding rawJSON `json:"embedding"`
			Tokens    int64   `json:"inputTextTokenCount"`
		}
		r.Tokens = -1 // absent (a pointer would cost an allocation)
		if err := jsonAPI.UnmarshalFromString(aliasString(body), &r); err != nil || len(r.Embedding) == 0 || r.Embedding[0] != '[' {
			return nil, Usage{}, badResponse("bedrock titan embedding: no embedding array")
		}
		vectors = []rawJSON{r.Embedding}
		if r.Tokens >= 0 {
			tokens = plausible(r.Tokens)
		}
	case familyCohere:
		var r struct {
			Embeddings []rawJSON `json:"embeddings"`
		}
		if err := jsonAPI.UnmarshalFromString(aliasString(body), &r); err != nil || len(r.Embeddings) != b.inputs {
			return nil, Usage{}, badResponse("bedrock cohere embedding: not one embedding per input")
		}
		vectors = r.Embeddings
	}
	size := 96 + len(b.model)
	for _, v := range vectors {
		size += len(v) + 48
	}
	out := make([]byte, 0, size)
	out = append(out, `{"object":"list","data":[`...)
	for i, v := range vectors {
		if len(v) == 0 || v[0] != '[' {
			return nil, Usage{}, badResponse("bedrock embedding: an embedding is not an array")
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"object":"embedding","index":`...)
		out = appendInt(out, int64(i))
		out = append(out, `,"embedding":`...)
		out = append(out, v...)
		out = append(out, '}')
	}
	out = append(out, `],"model":`...)
	out = appendJSONString(out, b.model)
	out = append(out, `,"usage":{"prompt_tokens":`...)
	out = appendInt(out, tokens)
	out = append(out, `,"total_tokens":`...)
	out = appendInt(out, tokens)
	out = append(out, "}}"...)
	return out, Usage{InputTokens: tokens, TotalTokens: tokens}, nil
}
