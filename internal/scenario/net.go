package scenario

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dop251/goja"
)

// defaultRequestTimeout bounds a Net request without a timeout option.
const defaultRequestTimeout = 90 * time.Second

// httpResult is what a Net request returned.
type httpResult struct {
	code    int
	text    string
	headers [][2]string
	err     string
}

// netRequest is a parsed Net request.
type netRequest struct {
	method  string
	url     string
	header  http.Header
	body    string
	timeout time.Duration
}

// parseNetOptions reads {method, headers, postData, timeout (seconds), params}.
func parseNetOptions(raw string, v goja.Value) netRequest {
	r := netRequest{method: http.MethodGet, url: raw, header: http.Header{}, timeout: defaultRequestTimeout}
	o := asObject(v)
	if o == nil {
		return r
	}
	if m := optString(o, "method"); m != "" {
		r.method = strings.ToUpper(m)
	}
	r.body = optString(o, "postData")
	if t := o.Get("timeout"); !isNothing(t) && t.ToFloat() > 0 {
		r.timeout = time.Duration(t.ToFloat() * float64(time.Second))
	}
	if h := asObject(o.Get("headers")); h != nil {
		for _, k := range h.Keys() {
			x := h.Get(k)
			if h.ClassName() != "Array" {
				r.header.Add(k, x.String())
				continue
			}
			if e := asObject(x); e != nil {
				name := optString(e, "name")
				if name == "" {
					name = optString(e, "key")
				}
				if name != "" {
					r.header.Add(name, optString(e, "value"))
				}
				continue
			}
			if name, value, ok := strings.Cut(x.String(), ":"); ok {
				r.header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
			}
		}
	}
	if p := asObject(o.Get("params")); p != nil {
		if u, err := url.Parse(r.url); err == nil {
			q := u.Query()
			for _, k := range p.Keys() {
				q.Set(k, p.Get(k).String())
			}
			u.RawQuery = q.Encode()
			r.url = u.String()
		}
	}
	return r
}

// do runs a request; failures become a negative code and an error text.
func (s *session) doRequest(ctx context.Context, r netRequest) httpResult {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return httpResult{code: -1, err: err.Error()}
	}
	req.Header = r.header
	client, _ := s.rt.fetcher()
	resp, err := client.Do(req, s.log)
	if err != nil {
		code := -1
		if errors.Is(err, context.DeadlineExceeded) {
			code = -2
		}
		return httpResult{code: code, err: err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, s.lim.FetchSize))
	res := httpResult{code: resp.StatusCode, text: string(b)}
	if err != nil {
		res.err = err.Error()
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			res.headers = append(res.headers, [2]string{k, v})
		}
	}
	return res
}

// object turns a result into {code, text, data, headers: [{key, value}], raw_headers, error}.
func (s *session) resultObject(r httpResult) *goja.Object {
	vm := s.vm
	o := vm.NewObject()
	_ = o.Set("code", r.code)
	_ = o.Set("text", r.text)
	_ = o.Set("data", r.text)
	hs := make([]any, 0, len(r.headers))
	var raw strings.Builder
	for _, h := range r.headers {
		e := vm.NewObject()
		_ = e.Set("key", h[0])
		_ = e.Set("value", h[1])
		hs = append(hs, e)
		raw.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	_ = o.Set("headers", vm.NewArray(hs...))
	_ = o.Set("raw_headers", raw.String())
	if r.err != "" {
		_ = o.Set("error", r.err)
	}
	return o
}

// httpRequestAsync is Net.httpRequestAsync: a Promise of the result.
func (s *session) httpRequestAsync(raw string, opts goja.Value) goja.Value {
	p, resolve, _ := s.vm.NewPromise()
	r := parseNetOptions(raw, opts)
	s.httpStarted()
	s.goroutine(func() {
		res := s.doRequest(s.ctx, r)
		s.httpFinished()
		s.post(func() {
			s.guard(func() error { return resolve(s.resultObject(res)) })
		})
	})
	return s.vm.ToValue(p)
}

// httpRequest is the callback form Net.httpRequest(url, callback, options).
func (s *session) httpRequest(raw string, cb, opts goja.Value) {
	fn, ok := goja.AssertFunction(cb)
	r := parseNetOptions(raw, opts)
	s.httpStarted()
	s.goroutine(func() {
		res := s.doRequest(s.ctx, r)
		s.httpFinished()
		if !ok {
			return
		}
		s.post(func() { s.callJS(fn, goja.Undefined(), s.resultObject(res)) })
	})
}

// httpStarted counts a Net request in flight, which terminate waits for.
func (s *session) httpStarted() { s.httpBusy.Add(1) }

// httpFinished counts a Net request done and wakes terminate's wait.
func (s *session) httpFinished() {
	s.httpBusy.Add(-1)
	select {
	case s.httpDone <- struct{}{}:
	default:
	}
}
