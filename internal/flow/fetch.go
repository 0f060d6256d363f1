package flow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/fetch"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/webhook"
)

// maxDocument bounds a FlexML document fetched for a call; maxAudio a
// Play file (WAV or MP3) fetched or read, and maxPlayDuration the audio it
// may decode to.
const (
	maxDocument     = 1 << 20
	maxAudio        = 16 << 20
	maxPlayDuration = media.DefaultMaxDuration
)

// ErrApp is wrapped by every failure to get a document from the app.
var ErrApp = errors.New("app request failed")

// Request holds the fields sent to the app with every document request.
type Request struct {
	CallSid       string
	AccountSid    string
	ApiVersion    string
	From          string
	To            string
	CallerName    string
	Direction     string
	CallStatus    string
	ForwardedFrom string
	OriginalFrom  string
	OriginalTo    string
	RequestUrl    string
	// Results are the fields of the verb whose action is requested; on
	// other requests they are all nil.
	Results
}

// Results are what a verb with an action reports to its action URL, named
// as Twilio names them; a nil field is not sent.
type Results struct {
	// Digits are, for <Gather>, the keys pressed, without finishOnKey; for
	// <Record>, the key that ended the recording.
	Digits *string `json:",omitempty"`
	// <Dial>: how the second call went (completed, busy, no-answer,
	// failed, canceled), how long it was bridged in whole seconds, and
	// its CallSid (none when it was never placed).
	DialCallStatus   *string `json:",omitempty"`
	DialCallDuration *string `json:",omitempty"`
	DialCallSid      *string `json:",omitempty"`
	// <Record>: the recording's URL on the gateway (GET it with an API
	// token), its length in whole seconds, and its id (RE and 32 hex
	// digits).
	RecordingUrl      *string `json:",omitempty"`
	RecordingDuration *string `json:",omitempty"`
	RecordingSid      *string `json:",omitempty"`
}

// addTo sets the fields that are not nil in v.
func (res *Results) addTo(v url.Values) {
	for _, f := range []struct {
		name string
		v    *string
	}{
		{"Digits", res.Digits},
		{"DialCallStatus", res.DialCallStatus}, {"DialCallDuration", res.DialCallDuration}, {"DialCallSid", res.DialCallSid},
		{"RecordingUrl", res.RecordingUrl}, {"RecordingDuration", res.RecordingDuration}, {"RecordingSid", res.RecordingSid},
	} {
		if f.v != nil {
			v.Set(f.name, *f.v)
		}
	}
}

func (r *Request) values() url.Values {
	v := url.Values{}
	v.Set("CallSid", r.CallSid)
	v.Set("AccountSid", r.AccountSid)
	v.Set("ApiVersion", r.ApiVersion)
	v.Set("From", r.From)
	v.Set("To", r.To)
	v.Set("CallerName", r.CallerName)
	v.Set("Direction", r.Direction)
	v.Set("CallStatus", r.CallStatus)
	v.Set("ForwardedFrom", r.ForwardedFrom)
	v.Set("OriginalFrom", r.OriginalFrom)
	v.Set("OriginalTo", r.OriginalTo)
	v.Set("RequestUrl", r.RequestUrl)
	r.Results.addTo(v)
	return v
}

// isURL reports whether the app location is an http(s) URL (else a file path).
func isURL(s string) bool {
	return hasPrefixFold(s, "http://") || hasPrefixFold(s, "https://")
}

// hasPrefixFold is strings.HasPrefix ignoring ASCII case (URL schemes are
// case-insensitive).
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// fetchDocument gets a FlexML document: an http(s) URL is requested with
// method (POST: JSON body, GET: query parameters; under the Twilio app
// dialect a signed form or query), anything else is read as a file.
func (in *Interpreter) fetchDocument(ctx context.Context, method, loc string, req *Request) ([]byte, error) {
	if !isURL(loc) {
		b, err := os.ReadFile(loc)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrApp, err)
		}
		return b, nil
	}
	req.RequestUrl = loc
	ctx, cancel := context.WithTimeout(ctx, in.cfg.Timeout)
	defer cancel()
	var hreq *http.Request
	var err error
	switch {
	case in.cfg.AppDialect == webhook.Twilio:
		hreq, err = in.twilioRequest(ctx, method, loc, req)
	case strings.EqualFold(method, http.MethodGet):
		u, perr := url.Parse(loc)
		if perr != nil {
			return nil, fmt.Errorf("%w: %w", ErrApp, perr)
		}
		q := u.Query()
		for k, vs := range req.values() {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
		hreq, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	default:
		body, jerr := json.Marshal(req)
		if jerr != nil {
			return nil, fmt.Errorf("%w: %w", ErrApp, jerr)
		}
		hreq, err = http.NewRequestWithContext(ctx, http.MethodPost, loc, bytes.NewReader(body))
		if hreq != nil {
			hreq.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrApp, err)
	}
	hreq.Header.Set("Accept", "application/xml, text/xml")
	hreq.Header.Set("User-Agent", "callstream")
	resp, err := in.fetch.Do(hreq, in.cfg.Logger.With("call_sid", req.CallSid))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: no answer within %s: %w", ErrApp, in.cfg.Timeout, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrApp, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading body: %w", ErrApp, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("%w: HTTP %d %s", ErrApp, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	if len(b) > maxDocument {
		return nil, fmt.Errorf("%w: document larger than %d bytes", ErrApp, maxDocument)
	}
	in.noteStatusCallback(req.CallSid, loc, resp.Header)
	return b, nil
}

// openAudio reads the audio file at path (the document came from a file
// too) and converts it for a call in format f.
func openAudio(path string, f codec.Format) ([]byte, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	return decodeAudio(fetch.LimitReader(file, maxAudio), f)
}

// decodeAudio reads an audio file, WAV or MP3 as its bytes tell
// (media.DecodeReader), and converts it once for a call in format f: mixed down,
// resampled once to f's rate and encoded once in f's codec. It is the Play
// cache's decoder for calls in f.
func decodeAudio(r io.Reader, f codec.Format) ([]byte, error) {
	a, err := media.DecodeReader(r, maxPlayDuration)
	if err != nil {
		return nil, err
	}
	return a.ForCall(f)
}

// resolve resolves ref against the document's location: URLs against URLs,
// paths against the document file's folder.
func resolve(base, ref string) (string, error) {
	if isURL(ref) || hasPrefixFold(ref, "ws://") || hasPrefixFold(ref, "wss://") {
		return ref, nil
	}
	if isURL(base) {
		b, err := url.Parse(base)
		if err != nil {
			return "", err
		}
		r, err := url.Parse(ref)
		if err != nil {
			return "", err
		}
		return b.ResolveReference(r).String(), nil
	}
	if filepath.IsAbs(ref) || base == "" {
		return ref, nil
	}
	return filepath.Join(filepath.Dir(base), ref), nil
}

// resolveWS resolves a Stream url: absolute ws(s) as is; relative against the
// document's http(s) URL with http→ws and https→wss.
func resolveWS(base, ref string) (string, error) {
	if u, err := url.Parse(ref); err == nil && (strings.EqualFold(u.Scheme, "ws") || strings.EqualFold(u.Scheme, "wss")) {
		// Schemes are case-insensitive (RFC 3986 §3.1); the dialer wants lower case.
		u.Scheme = strings.ToLower(u.Scheme)
		return u.String(), nil
	}
	if !isURL(base) {
		return "", fmt.Errorf("relative stream url %q needs a document fetched over http(s)", ref)
	}
	abs, err := resolve(base, ref)
	if err != nil {
		return "", err
	}
	switch {
	case hasPrefixFold(abs, "https://"):
		return "wss://" + abs[len("https://"):], nil
	case hasPrefixFold(abs, "http://"):
		return "ws://" + abs[len("http://"):], nil
	}
	return "", fmt.Errorf("stream url %q: not a ws or wss url", ref)
}
