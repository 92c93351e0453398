package mockprovider

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// AWSKey is a set of AWS credentials the mock accepts.
type AWSKey struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// VerifySigV4 recomputes a request's AWS Signature Version 4 from the
// credentials it names, independently of the AWS SDK (written from AWS's
// published algorithm: canonical request, string to sign, derived key), and
// reports why it does not match. keys maps an access key id to its
// credentials; body is the request body as received; now bounds the
// request's x-amz-date to within 5 minutes, as AWS does.
func VerifySigV4(r *http.Request, body []byte, keys map[string]AWSKey, region, service string, now time.Time) (accessKeyID string, _ error) {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return "", errors.New("authorization is not AWS4-HMAC-SHA256")
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 || cred[4] != "aws4_request" {
		return "", errors.New("malformed credential scope")
	}
	akid, day, credRegion, credService := cred[0], cred[1], cred[2], cred[3]
	key, ok := keys[akid]
	if !ok {
		return akid, errors.New("unknown access key id")
	}
	if credRegion != region || credService != service {
		return akid, fmt.Errorf("credential scope %s/%s, want %s/%s", credRegion, credService, region, service)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || !strings.HasPrefix(amzDate, day) {
		return akid, errors.New("bad x-amz-date")
	}
	if d := now.Sub(t); d > 5*time.Minute || d < -5*time.Minute {
		return akid, errors.New("signature expired")
	}
	if key.SessionToken != r.Header.Get("X-Amz-Security-Token") {
		return akid, errors.New("security token does not match the access key")
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !sort.StringsAreSorted(signed) || !contains(signed, "host") || !contains(signed, "x-amz-date") {
		return akid, errors.New("signed headers must be sorted and include host and x-amz-date")
	}
	if key.SessionToken != "" && !contains(signed, "x-amz-security-token") {
		return akid, errors.New("x-amz-security-token is not signed")
	}
	var canon strings.Builder
	canon.WriteString(r.Method + "\n")
	// Every service but S3: the path as sent, URI-encoded once more.
	canon.WriteString(uriEncode(r.URL.EscapedPath(), false) + "\n")
	canon.WriteString(canonicalQuery(r.URL.RawQuery) + "\n")
	for _, h := range signed {
		var v string
		if h == "host" {
			v = r.Host
		} else {
			v = strings.Join(r.Header.Values(h), ",")
		}
		canon.WriteString(h + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	canon.WriteString("\n" + fields["SignedHeaders"] + "\n")
	sum := sha256.Sum256(body)
	canon.WriteString(hex.EncodeToString(sum[:]))
	creq := sha256.Sum256([]byte(canon.String()))
	scope := day + "/" + region + "/" + service + "/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(creq[:])
	k := hmacSHA256([]byte("AWS4"+key.SecretAccessKey), day)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(k, toSign))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return akid, errors.New("the request signature we calculated does not match the signature you provided")
	}
	return akid, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// uriEncode is SigV4's UriEncode: every byte but the unreserved ones as %XX
// (upper case); '/' kept unless encodeSlash.
func uriEncode(s string, encodeSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// canonicalQuery is SigV4's canonical query string: every name and value
// decoded then UriEncoded, the pairs sorted.
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return "\x00malformed"
	}
	var pairs []string
	for k, vs := range vals {
		for _, v := range vs {
			pairs = append(pairs, uriEncode(k, true)+"="+uriEncode(v, true))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}
