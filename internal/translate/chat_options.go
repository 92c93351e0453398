package translate

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aigw/aigw/internal/bodyscan"
)

// Chat completions options every translator to another schema reads the
// same way: which parameters carry their default (no-op) value, and the
// tool_choice forms.

// isDefaultParam reports whether a top-level chat completions parameter a
// translator has no mapping for carries its default (no-op) value, so it
// can be dropped without changing the request's meaning. Unknown
// parameters are default only when null.
func isDefaultParam(key string, raw []byte) bool {
	if isNull(raw) {
		return true
	}
	switch key {
	case "n":
		return numberIs(raw, 1)
	case "logprobs", "store":
		return string(raw) == "false"
	case "parallel_tool_calls":
		return string(raw) == "true"
	case "top_logprobs", "frequency_penalty", "presence_penalty":
		return numberIs(raw, 0)
	case "logit_bias", "metadata":
		return isEmptyObject(raw)
	case "response_format":
		var rf struct {
			Type string `json:"type"`
		}
		return jsonAPI.Unmarshal(raw, &rf) == nil && rf.Type == "text"
	case "modalities":
		var mods []string
		return jsonAPI.Unmarshal(raw, &mods) == nil && len(mods) == 1 && mods[0] == "text"
	case "service_tier":
		s, _ := rawString(raw)
		return s == "auto"
	}
	return false
}

// toolChoice is the client's tool_choice: mode "" (absent or null),
// "auto", "none", "required", or "function" with the function's name.
type toolChoice struct{ mode, name string }

// parseToolChoice reads tool_choice; who names the target in errors.
func parseToolChoice(raw rawJSON, who string) (toolChoice, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return toolChoice{}, nil
	}
	if raw[0] == '"' {
		s, _ := rawString(raw)
		switch s {
		case "auto", "none", "required":
			return toolChoice{mode: s}, nil
		}
		return toolChoice{}, invalid("tool_choice", "tool_choice %q is not one of none, auto, required", s)
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := jsonAPI.Unmarshal(raw, &named); err != nil {
		return toolChoice{}, invalid("tool_choice", "tool_choice must be a string or an object")
	}
	if named.Type != "function" {
		return toolChoice{}, unsupported("tool_choice", "tool_choice type %q is not supported by %s", named.Type, who)
	}
	if named.Function.Name == "" {
		return toolChoice{}, invalid("tool_choice.function.name", "tool_choice function name is required")
	}
	return toolChoice{mode: "function", name: named.Function.Name}, nil
}

// contentParts splits OpenAI message content into its string or
// content-part form (translators that decode messages: Gemini).
func contentParts(raw rawJSON, loc msgLoc) (text string, parts []chatPart, isText bool, err error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || isNull(raw):
		return "", nil, true, nil
	case raw[0] == '"':
		s, ok := rawString(raw)
		if !ok {
			return "", nil, false, invalid(loc.at(".content"), "content is not a valid string")
		}
		return s, nil, true, nil
	case raw[0] == '[':
		if err := jsonAPI.UnmarshalFromString(aliasString(raw), &parts); err != nil {
			return "", nil, false, invalid(loc.at(".content"), "content must be a string or an array of content parts")
		}
		return "", parts, false, nil
	default:
		return "", nil, false, invalid(loc.at(".content"), "content must be a string or an array of content parts")
	}
}

// textContent flattens content that may only hold text (system, developer
// and tool messages) into one string.
func textContent(raw rawJSON, loc msgLoc) (string, error) {
	text, parts, isText, err := contentParts(raw, loc)
	if err != nil || isText {
		return text, err
	}
	var sb strings.Builder
	for j, p := range parts {
		if p.Type != "text" {
			return "", unsupported(loc.part(j, ""), "content part type %q is not supported here", p.Type)
		}
		sb.WriteString(p.Text)
	}
	return sb.String(), nil
}

// optionWalk is the state of the top-level walk that decodes a chat
// request's options as it checks them (anthChatRequest.member), and the
// storage its pointer options point to, so that decoding the options of a
// usual request allocates nothing and reads each byte once (the decoder
// ran over a copy of the body without its messages before).
type optionWalk struct {
	onMember func(key string, vs, ve int) error // member, bound once
	walkBody []byte                             // the body walked
	// msgs counts the messages members; body[msgStart:msgEnd] is the last.
	msgs, msgStart, msgEnd int
	// seen has a bit for each option met (option); a repeated one is
	// slow.
	seen uint32
	// ascii: every string literal of the body is ASCII (the router phase's
	// bodyscan.Findings.RawStrings), so no raw value needs validUTF8.
	ascii bool
	// slow: a value the walk does not read exactly as the decoder does
	// (another type, a string with escapes or bytes outside printable
	// ASCII, a number beyond the plain forms, a raw option with invalid
	// UTF-8, which the decoder hands over as a copy with U+FFFD, a
	// repeated member): the
	// decoder reads the options instead (decodeSlow), with its semantics
	// and its errors.
	slow bool

	maxTokens, maxCompletionTokens, topK int64
	temperature, topP                    float64
	// temperatureLit and topPLit are the literals temperature and topP
	// were read from (nil when they were not), written out as they are
	// when that is what appendFloat would write (appendFloatLit).
	temperatureLit, topPLit []byte
	parallelToolCalls       bool
	streamOptions           chatStreamOptions
	toolList                []chatTool
	funcs                   []chatToolFunction
}

// chatToolFunction is chatTool's function.
type chatToolFunction = struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Parameters  rawJSON `json:"parameters"`
}

// linkFunction marks a tool whose function the walk read, until the walk
// points it into funcs (whose storage may move while it grows).
var linkFunction chatToolFunction

// member is the top-level walk's callback: the Anthropic parameter policy
// (checkAnthropicParam) for every member, and the decoding of the options
// into req as jsonAPI decodes them (anthChatRequest's fields; other
// members ignored).
func (req *anthChatRequest) member(key string, vs, ve int) error {
	v := req.walkBody[vs:ve]
	if key == "messages" {
		req.msgs++
		req.msgStart, req.msgEnd = vs, ve
	}
	if req.slow {
		return checkAnthropicParam(key, v)
	}
	// An option (bit set) is a parameter the policy accepts: its one
	// switch, not the policy's too (TestAnthropicOptionsAreAccepted).
	bit, ok := req.option(key, v)
	if bit == 0 {
		return checkAnthropicParam(key, v)
	}
	if req.seen&bit != 0 || !ok {
		req.slow = true
	}
	req.seen |= bit
	return nil
}

// option decodes the value v of the option key into req and returns the
// option's bit (0 for a member that is not an option), or not ok when it
// cannot read v exactly as the decoder would.
func (req *anthChatRequest) option(key string, v []byte) (bit uint32, ok bool) {
	switch key {
	case "model":
		return 1 << 0, plainStringInto(&req.Model, v)
	case "user":
		return 1 << 1, plainStringInto(&req.User, v)
	case "reasoning_effort":
		return 1 << 2, plainStringInto(&req.ReasoningEffort, v)
	case "messages":
		req.Messages = v
		return 1 << 3, true
	case "stop":
		req.Stop = v
		return 1 << 4, req.validUTF8(v)
	case "tool_choice":
		req.ToolChoice = v
		return 1 << 5, req.validUTF8(v)
	case "thinking":
		req.Thinking = v
		return 1 << 6, req.validUTF8(v)
	case "max_tokens":
		return 1 << 7, intOption(&req.MaxTokens, &req.maxTokens, v)
	case "max_completion_tokens":
		return 1 << 8, intOption(&req.MaxCompletionTokens, &req.maxCompletionTokens, v)
	case "top_k":
		return 1 << 9, intOption(&req.TopK, &req.topK, v)
	case "temperature":
		return 1 << 10, floatOption(&req.Temperature, &req.temperature, &req.temperatureLit, v)
	case "top_p":
		return 1 << 11, floatOption(&req.TopP, &req.topP, &req.topPLit, v)
	case "stream":
		return 1 << 12, boolInto(&req.Stream, v)
	case "parallel_tool_calls":
		if isNull(v) {
			req.ParallelToolCalls = nil
			return 1 << 13, true
		}
		req.ParallelToolCalls = &req.parallelToolCalls
		return 1 << 13, boolInto(req.ParallelToolCalls, v)
	case "stream_options":
		return 1 << 14, req.streamOptionsOf(v)
	case "tools":
		return 1 << 15, req.toolsOf(v)
	}
	return 0, true
}

// validUTF8 reports whether the raw value v, which the walk keeps raw, is
// what the decoder would keep: valid UTF-8 (else it hands over a copy with
// U+FFFD).
func (req *anthChatRequest) validUTF8(v []byte) bool {
	return req.ascii || utf8.Valid(v)
}

// plainStringInto stores the string v into dst as the decoder would when
// v is null (no change) or a plainString.
func plainStringInto(dst *string, v []byte) bool {
	if isNull(v) {
		return true
	}
	s, ok := plainString(v)
	if ok {
		*dst = s
	}
	return ok
}

// boolInto stores the boolean v into dst (null: no change).
func boolInto(dst *bool, v []byte) bool {
	switch string(v) {
	case "true":
		*dst = true
	case "false":
		*dst = false
	case "null":
	default:
		return false
	}
	return true
}

// intOption points dst at val holding the integer v (null: dst nil). Only
// an integer literal within int64 reads here (a fraction or an exponent
// is the decoder's error).
func intOption(dst **int64, val *int64, v []byte) bool {
	if isNull(v) {
		*dst = nil
		return true
	}
	n, ok := bodyscan.SmallInt(v)
	if !ok {
		var err error
		if n, err = strconv.ParseInt(aliasString(v), 10, 64); err != nil {
			return false
		}
	}
	*val, *dst = n, val
	return true
}

// floatOption points dst at val holding the number v (null: dst nil), and
// lit at v. Only a short number without exponent reads here (no range to
// check, every decoder rounds it alike); v is a value of a validated
// document, so it is a JSON number when ParseFloat accepts it.
func floatOption(dst **float64, val *float64, lit *[]byte, v []byte) bool {
	if isNull(v) {
		*dst, *lit = nil, nil
		return true
	}
	f, ok := shortFloat(v)
	if !ok {
		if len(v) > 20 || bytes.IndexAny(v, "eE") >= 0 {
			return false
		}
		var err error
		if f, err = strconv.ParseFloat(aliasString(v), 64); err != nil {
			return false
		}
	}
	*val, *dst, *lit = f, val, v
	return true
}

// exactPow10 are the powers of ten shortFloat divides by, each exact in a
// float64.
var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// shortFloat reads v, -?digits(.digits)? with at most 15 digits (a
// temperature, a top_p), as strconv.ParseFloat does, without its call:
// the digits are an integer below 2^53 and the divisor a power of ten up
// to 1e15, both exact in a float64, so the one division rounds the exact
// quotient as ParseFloat rounds the decimal (its own exact path). Anything
// else (an exponent, more digits) is not ok.
func shortFloat(v []byte) (float64, bool) {
	i := 0
	if len(v) > 0 && v[0] == '-' {
		i = 1
	}
	var mant uint64
	digits, frac := 0, -1 // frac: digits after the point (-1: no point)
	for ; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			if digits++; frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0:
			frac = 0
		default:
			return 0, false
		}
	}
	if digits == 0 || digits > 15 || frac == 0 {
		return 0, false
	}
	f := float64(mant) / exactPow10[max(frac, 0)]
	if v[0] == '-' {
		f = -f
	}
	return f, true
}

// streamOptionsOf reads stream_options: null, or an object whose
// include_usage is a boolean or null (its other members ignored).
func (req *anthChatRequest) streamOptionsOf(v []byte) bool {
	if isNull(v) {
		req.StreamOptions = nil
		return true
	}
	if v[0] != '{' {
		return false
	}
	req.streamOptions = chatStreamOptions{}
	seen := false
	var o bodyscan.Object
	o.Start(v, 0)
	for o.Next() {
		key, vs, ve := o.Member()
		if key != "include_usage" {
			continue
		}
		if seen || !boolInto(&req.streamOptions.IncludeUsage, v[vs:ve]) {
			return false
		}
		seen = true
	}
	if _, err := o.End(); err != nil {
		return false
	}
	req.StreamOptions = &req.streamOptions
	return true
}

// toolsOf reads tools: null, or an array of objects whose type is a
// plainString or null and whose function is null or an object with a
// plainString (or null) name and description and a parameters value of
// valid UTF-8;
// other members ignored, none repeated.
func (req *anthChatRequest) toolsOf(v []byte) bool {
	if isNull(v) {
		req.Tools = nil
		return true
	}
	if v[0] != '[' {
		return false
	}
	tools, funcs := req.toolList[:0], req.funcs[:0]
	ok := true
	a := bodyscan.ArrayAt(v)
	for ok && a.Next() {
		var t chatTool
		var seen memberSet
		var o bodyscan.Object
		o.Start(v, a.At())
		for ok && o.Next() {
			key, vs, ve := o.Member()
			var bit uint32
			switch key {
			case "type":
				bit = 1
				ok = plainStringInto(&t.Type, v[vs:ve])
			case "function":
				bit = 2
				t.Function = nil
				if !isNull(v[vs:ve]) {
					var f chatToolFunction
					if ok = req.toolFunction(&f, v, vs); ok {
						funcs = append(funcs, f)
						t.Function = &linkFunction
					}
				}
			default:
				continue
			}
			ok = seen.take(bit, ok) == nil
		}
		tools = append(tools, t)
		if ok {
			end, err := o.End()
			ok = err == nil
			a.SetEnd(end)
		}
	}
	req.toolList, req.funcs = tools, funcs
	if !ok || a.Err() != nil {
		return false
	}
	for i, k := 0, 0; i < len(tools); i++ {
		if tools[i].Function != nil {
			tools[i].Function = &funcs[k]
			k++
		}
	}
	req.Tools = tools
	return true
}

// toolFunction reads the function object that starts at b[i] into f.
func (req *anthChatRequest) toolFunction(f *chatToolFunction, b []byte, i int) bool {
	if b[i] != '{' {
		return false
	}
	var seen memberSet
	var o bodyscan.Object
	o.Start(b, i)
	for o.Next() {
		key, vs, ve := o.Member()
		var bit uint32
		ok := true
		switch key {
		case "name":
			bit = 1
			ok = plainStringInto(&f.Name, b[vs:ve])
		case "description":
			bit = 2
			ok = plainStringInto(&f.Description, b[vs:ve])
		case "parameters":
			bit = 4
			f.Parameters = b[vs:ve]
			ok = req.validUTF8(f.Parameters)
		default:
			continue
		}
		if seen.take(bit, ok) != nil {
			return false
		}
	}
	_, err := o.End()
	return err == nil
}

// decodeSlow decodes the options with the decoder (decodeWithout), as
// before the walk read them, keeping req's storage.
func (req *anthChatRequest) decodeSlow(body []byte) error {
	w, tools := req.optionWalk, req.head.Tools
	*req = anthChatRequest{}
	err := decodeWithout(body, w.msgStart, w.msgEnd, w.msgs == 1, req)
	if err == nil && w.msgs == 1 {
		req.Messages = body[w.msgStart:w.msgEnd]
	}
	req.optionWalk = optionWalk{onMember: w.onMember, funcs: w.funcs[:0], toolList: w.toolList[:0]}
	req.head.Tools = tools[:0]
	return err
}
