package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// SignatureHeader is the header that carries a request's Twilio signature.
const SignatureHeader = "X-Twilio-Signature"

// APIVersion is the ApiVersion field of requests in the Twilio dialect.
const APIVersion = "2010-04-01"

// Sign returns the X-Twilio-Signature of a request to fullURL (as
// requested, query included) with the form parameters params (nil for a
// GET or a WebSocket upgrade): the base64 HMAC-SHA1, keyed by token, of
// the URL followed by each parameter's name and value, sorted by name (a
// name's several values sorted too).
func Sign(token, fullURL string, params url.Values) string {
	mac := hmac.New(sha1.New, []byte(token))
	_, _ = mac.Write([]byte(fullURL))
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		vs := append([]string(nil), params[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			_, _ = mac.Write([]byte(k))
			_, _ = mac.Write([]byte(v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// NewRequest makes a Twilio-dialect request to rawURL: POST sends params
// form-encoded, GET appends them to the URL's query. With a token the
// request carries X-Twilio-Signature over exactly what is sent.
func NewRequest(ctx context.Context, method, rawURL, token string, params url.Values) (*http.Request, error) {
	var req *http.Request
	var err error
	signed, form := rawURL, params
	if strings.EqualFold(method, http.MethodGet) {
		signed, form = withQuery(rawURL, params), nil
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, signed, nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, rawURL, strings.NewReader(params.Encode()))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("twilio request: %w", err)
	}
	if token != "" {
		req.Header.Set(SignatureHeader, Sign(token, signed, form))
	}
	return req, nil
}

// withQuery appends params to rawURL's query, keeping what it has as is
// and dropping a fragment (never sent).
func withQuery(rawURL string, params url.Values) string {
	base, _, _ := strings.Cut(rawURL, "#")
	if len(params) == 0 {
		return base
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
		if strings.HasSuffix(base, "?") || strings.HasSuffix(base, "&") {
			sep = ""
		}
	}
	return base + sep + params.Encode()
}

// Address returns a caller or callee as Twilio gives it: a number in
// E.164 form (+ and its digits) when the SIP user part is a number, else
// the SIP URI (the user part when there is no URI).
func Address(user, uri string) string {
	digits := strings.TrimPrefix(user, "+")
	if len(digits) > 0 && len(digits) <= 15 && strings.Trim(digits, "0123456789") == "" {
		return "+" + digits
	}
	if uri != "" {
		return uri
	}
	return user
}
