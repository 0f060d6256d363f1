package flow

import (
	"context"
	"net/http"
	"net/url"
	"reflect"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/webhook"
)

// newRequest returns the request fields of call c as its first document
// request sends them (CallStatus ringing).
func newRequest(c *call.Call, accountSid string, d webhook.Dialect) Request {
	inv := c.Invite()
	apiVersion := APIVersion
	if d == webhook.Twilio {
		apiVersion = webhook.APIVersion
	}
	if inv == nil {
		// A call the gateway placed (POST /calls): its parties.
		p := c.Parties()
		return Request{CallSid: c.Sid(), AccountSid: accountSid, ApiVersion: apiVersion, From: p.From, To: p.To,
			CallerName: p.FromDisplay, Direction: "outbound-api", CallStatus: "ringing", OriginalFrom: p.FromURI, OriginalTo: p.ToURI}
	}
	return Request{
		CallSid:       c.Sid(),
		AccountSid:    accountSid,
		ApiVersion:    apiVersion,
		From:          inv.From,
		To:            inv.To,
		CallerName:    inv.FromDisplay,
		Direction:     "inbound",
		CallStatus:    "ringing",
		ForwardedFrom: inv.Diversion,
		OriginalFrom:  inv.FromURI,
		OriginalTo:    inv.ToURI,
	}
}

// CallFields returns the fields of the incoming call c in app dialect d,
// as its document requests carry them, without CallStatus: for the other
// requests about the call (status callbacks).
func CallFields(c *call.Call, accountSid string, d webhook.Dialect) url.Values {
	r := newRequest(c, accountSid, d)
	r.CallStatus = ""
	if d == webhook.Twilio {
		return r.twilioValues()
	}
	v := r.values()
	v.Del("CallStatus")
	v.Del("RequestUrl")
	return v
}

// carrierxOnly are Request fields Twilio's requests do not have.
var carrierxOnly = map[string]bool{"OriginalFrom": true, "OriginalTo": true, "RequestUrl": true}

// twilioValues returns the request's fields as Twilio names and gives
// them: every string field of Request by its name (fields added later
// included), empty ones left out, the CarrierX-only ones dropped; From and
// To in E.164 where the SIP user part is a number (else the SIP URI); and
// Caller and Called, Twilio's copies of From and To.
func (r *Request) twilioValues() url.Values {
	v := url.Values{}
	rv := reflect.ValueOf(r).Elem()
	rt := rv.Type()
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() || f.Type.Kind() != reflect.String || carrierxOnly[f.Name] {
			continue
		}
		if s := rv.Field(i).String(); s != "" {
			v.Set(f.Name, s)
		}
	}
	from, to := webhook.Address(r.From, r.OriginalFrom), webhook.Address(r.To, r.OriginalTo)
	for _, kv := range [...]struct{ k, v string }{{"From", from}, {"Caller", from}, {"To", to}, {"Called", to}} {
		if kv.v != "" {
			v.Set(kv.k, kv.v)
		}
	}
	v.Set("ApiVersion", webhook.APIVersion)
	r.Results.addTo(v) // a verb's results, under Twilio's names
	return v
}

// twilioRequest makes a document request in the Twilio app dialect:
// form-encoded (POST) or in the query (GET), signed with the auth token.
func (in *Interpreter) twilioRequest(ctx context.Context, method, loc string, req *Request) (*http.Request, error) {
	return webhook.NewRequest(ctx, method, loc, in.twilioToken(), req.twilioValues())
}

// twilioToken returns the token that signs requests: the auth token under
// the Twilio app dialect, else "" (unsigned).
func (in *Interpreter) twilioToken() string {
	if in.cfg.AppDialect != webhook.Twilio {
		return ""
	}
	return in.cfg.AuthToken
}

// streamHeader returns the headers of a stream's WebSocket upgrade: under
// the Twilio app dialect with a token, X-Twilio-Signature over the ws(s)
// URL; nil otherwise.
func (in *Interpreter) streamHeader(wsURL string) http.Header {
	token := in.twilioToken()
	if token == "" {
		return nil
	}
	return http.Header{webhook.SignatureHeader: {webhook.Sign(token, wsURL, nil)}}
}
