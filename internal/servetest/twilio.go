package servetest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/callstream/callstream/internal/wsapp"
)

// TwilioRequest is one request a TwilioApp received.
type TwilioRequest struct {
	Method  string
	URL     string     // the full URL as requested (scheme, host, path, query)
	Params  url.Values // the POST form, or the query of a GET
	Upgrade bool       // a WebSocket upgrade
	Valid   bool       // X-Twilio-Signature checked out
}

// TwilioApp is a Twilio-style app on one real server: it answers
// document requests (a POST form or a GET query) and accepts stream
// upgrades, after checking every request's X-Twilio-Signature with its auth
// token the way Twilio tells apps to; a request without a valid signature
// gets 403.
type TwilioApp struct {
	*wsapp.Server
	token string
	mu    sync.Mutex
	docs  map[string]string      // by path
	heads map[string]http.Header // answer headers, by path
	reqs  []TwilioRequest
}

// StartTwilioApp starts a Twilio-style app that validates signatures with
// token; t's cleanup closes it.
func StartTwilioApp(t testing.TB, token string) *TwilioApp {
	t.Helper()
	a := &TwilioApp{token: token, docs: map[string]string{}, heads: map[string]http.Header{}}
	srv, err := wsapp.Listen(wsapp.Options{HTTP: http.HandlerFunc(a.serveDoc), AdmitUpgrade: a.admitUpgrade})
	if err != nil {
		t.Fatal(err)
	}
	a.Server = srv
	t.Cleanup(func() { srv.Close() })
	return a
}

// HTTPURL returns the app's http:// URL of path.
func (a *TwilioApp) HTTPURL(path string) string { return "http://" + a.Addr() + path }

// Doc makes the app answer path with doc; "{{WS}}" in it becomes the
// app's ws:// base URL and "{{App}}" its http:// one.
func (a *TwilioApp) Doc(path, doc string) {
	doc = strings.ReplaceAll(doc, "{{WS}}", a.URL(""))
	doc = strings.ReplaceAll(doc, "{{App}}", a.HTTPURL(""))
	a.mu.Lock()
	a.docs[path] = doc
	a.mu.Unlock()
}

// Header makes the app's answers to path carry the header name with
// value ("" removes it).
func (a *TwilioApp) Header(path, name, value string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h := a.heads[path]
	if h == nil {
		h = http.Header{}
		a.heads[path] = h
	}
	if value == "" {
		h.Del(name)
		return
	}
	h.Set(name, value)
}

// Requests returns the requests received so far, in order.
func (a *TwilioApp) Requests() []TwilioRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.reqs)
}

func (a *TwilioApp) record(r TwilioRequest) {
	a.mu.Lock()
	a.reqs = append(a.reqs, r)
	a.mu.Unlock()
}

func (a *TwilioApp) serveDoc(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "body", http.StatusBadRequest)
		return
	}
	full := "http://" + r.Host + r.RequestURI
	var params url.Values
	if r.Method == http.MethodPost {
		if params, err = url.ParseQuery(string(body)); err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			http.Error(w, "want a form", http.StatusBadRequest)
			return
		}
	}
	valid := ValidTwilioSignature(a.token, full, params, r.Header.Get("X-Twilio-Signature"))
	if r.Method == http.MethodGet {
		params = r.URL.Query()
	}
	a.record(TwilioRequest{Method: r.Method, URL: full, Params: params, Valid: valid})
	if !valid {
		http.Error(w, "invalid signature", http.StatusForbidden)
		return
	}
	a.mu.Lock()
	doc, ok := a.docs[r.URL.Path]
	for k, vs := range a.heads[r.URL.Path] {
		w.Header()[k] = vs
	}
	a.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	_, _ = io.Copy(w, bytes.NewReader([]byte(doc)))
}

func (a *TwilioApp) admitUpgrade(r *http.Request) int {
	full := "ws://" + r.Host + r.RequestURI
	valid := ValidTwilioSignature(a.token, full, nil, r.Header.Get("X-Twilio-Signature"))
	a.record(TwilioRequest{Method: r.Method, URL: full, Params: r.URL.Query(), Upgrade: true, Valid: valid})
	if !valid {
		return http.StatusForbidden
	}
	return 0
}

// ValidTwilioSignature reports whether sig is the X-Twilio-Signature of a
// request to fullURL with the POST parameters params (nil for a GET or an
// upgrade) under token, as Twilio documents it: HMAC-SHA1 keyed by the
// token over the URL and then every parameter's name and value in order of
// name, base64-encoded. It is written apart from the gateway's signer, to
// check it.
func ValidTwilioSignature(token, fullURL string, params url.Values, sig string) bool {
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(got) != sha1.Size {
		return false
	}
	type pair struct{ k, v string }
	var pairs []pair
	for k, vs := range params {
		for _, v := range vs {
			pairs = append(pairs, pair{k, v})
		}
	}
	slices.SortFunc(pairs, func(x, y pair) int {
		if c := strings.Compare(x.k, y.k); c != 0 {
			return c
		}
		return strings.Compare(x.v, y.v)
	})
	var data strings.Builder
	data.WriteString(fullURL)
	for _, p := range pairs {
		data.WriteString(p.k + p.v)
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(data.String()))
	return hmac.Equal(got, mac.Sum(nil))
}
