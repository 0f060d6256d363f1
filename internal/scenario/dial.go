package scenario

import (
	"fmt"
	"strings"

	"github.com/dop251/goja"

	"github.com/callstream/callstream/internal/logsafe"
	"github.com/callstream/callstream/internal/sip"
)

// callSIP runs VoxEngine.callSIP(to, params) and its older positional form
// callSIP(to, callerid, displayName, password, authUser, extraHeaders).
func (s *session) callSIP(to goja.Value, args []goja.Value) goja.Value {
	if isNothing(to) || strings.TrimSpace(to.String()) == "" {
		s.throw(fmt.Errorf("VoxEngine.callSIP: no destination"))
	}
	dc := sip.DialConfig{Target: to.String()}
	arg := func(i int) goja.Value {
		if i < len(args) {
			return args[i]
		}
		return goja.Undefined()
	}
	if p := asObject(arg(1)); p != nil {
		s.dialParams(&dc, p)
	} else {
		dc.From = strOf(arg(1))
		dc.FromDisplay = strOf(arg(2))
		dc.Password = strOf(arg(3))
		dc.AuthUser = strOf(arg(4))
		dc.Headers = s.headerMap(arg(5))
	}
	return s.dial("callSIP", dc)
}

// callPSTN runs VoxEngine.callPSTN(number, callerid, params): the number
// goes to the configured PSTN trunk.
func (s *session) callPSTN(number, callerid, params goja.Value) goja.Value {
	trunk := s.rt.cfg.PSTNTrunk
	if trunk == "" {
		err := fmt.Errorf("VoxEngine.callPSTN is %w: no PSTN trunk configured (serve --pstn-trunk)", ErrNotSupported)
		s.log.Error("scenario: "+err.Error(), "api", "VoxEngine.callPSTN")
		s.throw(err)
	}
	n := strings.TrimSpace(strOf(number))
	if n == "" {
		s.throw(fmt.Errorf("VoxEngine.callPSTN: no number"))
	}
	dc := sip.DialConfig{Target: "sip:" + n + "@" + trunk, From: strOf(callerid)}
	if p := asObject(params); p != nil {
		s.dialParams(&dc, p)
		if dc.From == "" {
			dc.From = strOf(callerid)
		}
	}
	return s.dial("callPSTN", dc)
}

// dialParams reads a CallSIPParameters-style object.
func (s *session) dialParams(dc *sip.DialConfig, p *goja.Object) {
	if v := optString(p, "callerid"); v != "" {
		dc.From = v
	}
	dc.FromDisplay = optString(p, "displayName")
	dc.Password = optString(p, "password")
	dc.AuthUser = optString(p, "authUser")
	if h := s.headerMap(p.Get("extraHeaders")); h != nil {
		dc.Headers = h
	}
	if v := optString(p, "outProxy"); v != "" {
		s.log.Warn("callSIP: outProxy is not supported: the INVITE goes to the destination's host", "out_proxy", v)
	}
}

// headerMap reads {name: value} extra headers; only X- headers and
// names that are not the dialog's own are sent.
func (s *session) headerMap(v goja.Value) map[string]string {
	o := asObject(v)
	if o == nil {
		return nil
	}
	h := map[string]string{}
	for _, k := range o.Keys() {
		switch strings.ToLower(k) {
		case "via", "from", "to", "call-id", "cseq", "contact", "content-type", "content-length", "max-forwards":
			s.log.Warn("callSIP: extra header ignored: the gateway sets it", "header", k)
			continue
		}
		h[k] = o.Get(k).String()
	}
	return h
}

// dial places an outgoing call and returns its Call object: the call
// starts in PROGRESSING; Ringing, then Connected or Failed follow.
func (s *session) dial(api string, dc sip.DialConfig) goja.Value {
	d := s.rt.dialer()
	if d == nil {
		err := fmt.Errorf("VoxEngine.%s is %w: this runtime has no SIP dialer", api, ErrNotSupported)
		s.log.Error("scenario: "+err.Error(), "api", "VoxEngine."+api)
		s.throw(err)
	}
	if s.state != stateRunning {
		s.throw(fmt.Errorf("VoxEngine.%s: the session is ending", api))
	}
	if dc.From == "" {
		dc.From = s.rt.cfg.CallerID
	}
	if dc.From == "" {
		dc.From = "callstream"
	}
	var jc *jsCall
	dc.OnProgress = func(code int, reason string) {
		s.post(func() {
			if jc != nil {
				jc.progress(code, reason)
			}
		})
	}
	c := d(dc)
	jc = s.addCall(c)
	s.log.Info("outgoing call placed", "api", api, "to", logsafe.URL(dc.Target), "call_id", c.Sid())
	return jc.obj
}

// strOf returns v as a string, "" for undefined or null.
func strOf(v goja.Value) string {
	if isNothing(v) {
		return ""
	}
	return v.String()
}
