package upstream

import (
	"errors"
	"strconv"

	"github.com/aigw/aigw/internal/bodyscan"
	"github.com/aigw/aigw/internal/credentials"
	"github.com/aigw/aigw/internal/translate"
)

// request is what an attempt's plan reads of the client's request: the
// originals, not the header map an earlier attempt rewrote.
type request struct {
	method    string
	path      string // the client's :path, query included
	authority string // the client's :authority
	// retry reports that an earlier attempt of this request went to a
	// provider (see Filter.originals).
	retry bool
	// body is the complete request body when hasBody; a request that ended
	// with its headers has none (and keeps its content-length). When body
	// is nil and src is set, the body is read from src as the plan needs
	// it (readBody, requestBody): in Envoy's slices when the translator can
	// decide from them, else in one piece.
	body    []byte
	hasBody bool
	src     Body
	// n is the body's length once it was read as slices only.
	n int
	// worker is the worker thread's number the router phase remembered
	// its findings under (bodyscan.WorkerOf the attempt).
	worker uint32
}

// readBody reads the complete body from req.src in one piece, unless it
// was already.
func (req *request) readBody() {
	if req.hasBody && req.body == nil && req.src != nil {
		req.body = req.src.Bytes()
	}
}

// bodyLen is the length of the request's body, however it was read.
func (req *request) bodyLen() int {
	if req.body == nil {
		return req.n
	}
	return len(req.body)
}

// credential is how this attempt authenticates, one of two kinds: a header
// carrying the backend's key (a static key, or a bearer token read from its
// background-refreshed cache), or a signer of the attempt's final request
// (aws_sigv4, applied last by planRequest). name is "" and sign nil for auth
// type none; fail is set when the backend's credential cannot be used.
type credential struct {
	name, value string
	fail        *failure
	// sign, when set, signs the attempt's final request (aws_sigv4).
	sign *credentials.SigV4
}

// plan is everything one attempt changes on the request it shares with the
// other attempts: first every header in remove goes, then every header in
// own and translated is set (replacing all its values), then the body is
// replaced when body is non-nil. A translator's RemoveHeaders never name a
// header the plan sets. A plan is a value: deciding one allocates nothing
// beyond what the translator does.
type plan struct {
	// remove: the config's list (client credentials, routing headers, every
	// provider's own headers: an earlier attempt to another schema may have
	// set them) and the translator's.
	remove [2][]string
	// own[:nown]: credential, :authority, :path, content-length, and a
	// request signature's headers (signedHeaders).
	own  [7]Header
	nown int
	// translated: the translator's headers.
	translated []Header
	body       []byte
	// bodyBuffer owns body's pooled memory (translate.BodyBuffer): apply
	// releases it once Envoy has copied the body in.
	bodyBuffer translate.BodyBuffer
	// edits, when set instead of body, describe the new body as edits of
	// the client's (translate.EditedRequest).
	edits []translate.Edit
	// tr translates this attempt's response.
	tr translate.Translator
	// requestModel (the client's model) and stream describe the request
	// for the attempt's metrics.
	requestModel string
	stream       bool
}

func (p *plan) set(key, value string) {
	p.own[p.nown] = Header{Key: key, Value: value}
	p.nown++
}

// planRequest decides how an attempt to backend b rewrites the request req
// with the backend's credential cred. It changes nothing: the caller applies
// the plan (Filter.apply), or answers the failure.
//
// Only endpoints the backend's schema defines get its credentials, so the
// endpoint is checked first: anything else ends here and never reaches the
// provider, whatever the state of the backend's key.
func (c *Config) planRequest(b *Backend, req request, cred credential) (p plan, _ *failure) {
	if e := translate.EndpointError(b.Target.Schema, req.method, req.path); e != nil {
		return p, c.translateFailure(b, e, req.retry)
	}
	if cred.fail != nil {
		return p, cred.fail
	}
	tr, err := translate.New(b.Target, req.path)
	var res translate.RequestResult
	if err == nil {
		// A signature covers the bytes sent: it needs them in one piece.
		res, err = requestBody(tr, &req, cred.sign == nil)
	}
	if err != nil {
		return p, c.translateFailure(b, err, req.retry)
	}
	p.tr = tr
	p.requestModel, p.stream = res.RequestModel, res.Stream
	p.remove = [2][]string{c.removeHeaders, res.RemoveHeaders}
	if cred.name != "" {
		p.set(cred.name, cred.value)
	}
	// The header map is shared by all attempts: a retry undoes an earlier
	// attempt's rewrite; a first attempt's map holds the client's values
	// (originals read them), which are not written again.
	if b.Conf.Host != "" {
		if req.retry || b.Conf.Host != req.authority {
			p.set(":authority", b.Conf.Host)
		}
	} else if req.authority != "" && req.retry {
		p.set(":authority", req.authority)
	}
	p.translated = res.Headers
	if res.Path != "" && (req.retry || res.Path != req.path) {
		p.set(":path", res.Path)
	}
	if req.hasBody {
		n := req.bodyLen()
		switch {
		case res.Body != nil:
			p.body, p.bodyBuffer = res.Body, res.BodyBuffer
			n = len(res.Body)
		case res.Edits != nil:
			p.edits = res.Edits
			n = translate.EditedLen(n, res.Edits)
		}
		// Always set: an earlier attempt may have set another length on
		// the shared header map.
		p.set("content-length", strconv.Itoa(n))
	}
	if cred.sign != nil {
		if fail := p.signRequest(b, cred.sign, req); fail != nil {
			p.bodyBuffer.Release()
			return plan{}, fail
		}
	}
	return p, nil
}

// requestBody translates the attempt's body, from the router phase's
// findings when it remembered some for exactly these bytes (parse once
// across both phases; see bodyscan.Remember), else by scanning it. With
// findings, a rewrite that is a few edits of the body comes back as edits
// (translate.EditedRequest), which Body.Edit applies without a copy.
//
// sliced allows reading the body as Envoy holds it (SlicedBody) for a
// translator that decides edits from Envoy's slices
// (translate.SlicedEditedRequest): the findings are recalled from the
// slices and, when the translator decides there, the body is never joined
// into one piece. Otherwise it is read in one piece (request.readBody), as
// it is for every other translator.
func requestBody(tr translate.Translator, req *request, sliced bool) (translate.RequestResult, error) {
	s, ok := tr.(translate.ScannedRequest)
	if !ok || !req.hasBody {
		req.readBody()
		return tr.RequestBody(req.body)
	}
	var (
		f     bodyscan.Findings
		found bool
	)
	se, ok := tr.(translate.SlicedEditedRequest)
	if parts, ok := req.slices(ok && sliced); ok {
		if f, found = bodyscan.RecallSlices(parts, req.worker); found {
			res, done, err := se.RequestEditsSliced(parts, f)
			if done {
				for _, p := range parts {
					req.n += len(p)
				}
				return res, err
			}
		}
		req.readBody()
	} else {
		req.readBody()
		f, found = bodyscan.Recall(req.body, req.worker)
	}
	if !found {
		return tr.RequestBody(req.body)
	}
	if e, ok := tr.(translate.EditedRequest); ok {
		return e.RequestEditsScanned(req.body, f)
	}
	return s.RequestBodyScanned(req.body, f)
}

// slices returns the body as Envoy's slices (SlicedBody) when want is set
// and it was not read in one piece yet; ok is false otherwise.
func (req *request) slices(want bool) (parts [][]byte, ok bool) {
	if !want || req.body != nil {
		return nil, false
	}
	if sb, is := req.src.(SlicedBody); is {
		return sb.Slices()
	}
	return nil, false
}

// apply carries out a plan on the attempt's request.
func (f *Filter) apply(p *plan) {
	h := f.a.RequestHeaders()
	for _, list := range p.remove {
		if r, ok := h.(HeaderListRemover); ok {
			r.RemoveAll(list)
			continue
		}
		for _, k := range list {
			h.Remove(k)
		}
	}
	for _, list := range [2][]Header{p.own[:p.nown], p.translated} {
		for _, x := range list {
			h.Set(x.Key, x.Value)
		}
	}
	switch {
	case p.body != nil:
		// Replace copies the body in before it returns (upstream.Body):
		// its buffer can go back to the pool right away.
		f.a.RequestBody().Replace(p.body)
		p.body = nil
		p.bodyBuffer.Release()
	case p.edits != nil:
		f.a.RequestBody().Edit(p.edits)
	}
}

// signRequest signs the plan's final request (SigV4: method, :authority,
// :path and body as they will be sent) and adds the signature's headers. The
// credentials are the cached ones: nothing waits for the network here. None
// valid holds the attempt until the refresher stores some (noCredential).
func (p *plan) signRequest(b *Backend, s *credentials.SigV4, req request) *failure {
	host, path, body := req.authority, req.path, req.body
	for _, h := range p.own[:p.nown] {
		switch h.Key {
		case ":authority":
			host = h.Value
		case ":path":
			path = h.Value
		}
	}
	if p.edits != nil {
		// The signature covers the bytes sent: build them here, and send
		// these (no backend signs an edited passthrough body today).
		p.body, p.edits = translate.ApplyEdits(body, p.edits), nil
	}
	if p.body != nil {
		body = p.body
	}
	sig, err := s.Sign(req.method, host, path, body)
	if errors.Is(err, credentials.ErrNoAWSCredentials) {
		return noCredential(b, err.Error(), s.Credentials())
	}
	if err != nil {
		return noCredential(b, err.Error(), nil)
	}
	p.set("authorization", sig.Authorization)
	p.set("x-amz-date", sig.Date)
	if sig.SecurityToken != "" {
		p.set("x-amz-security-token", sig.SecurityToken)
	}
	return nil
}
