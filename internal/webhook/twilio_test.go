package webhook

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Twilio's published example of request validation: the auth token, the
// URL and the POST parameters of a call, and the signature Twilio sends.
func TestSignPublishedExample(t *testing.T) {
	params := url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+12349013030"},
		"Digits":  {"1234"},
		"From":    {"+12349013030"},
		"To":      {"+18005551212"},
	}
	got := Sign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params)
	if want := "0/KCTR6DLpKmkAf8muzZqo1nDgQ="; got != want {
		t.Fatalf("Sign = %q, want Twilio's %q", got, want)
	}
	// Any change to what is signed changes the signature.
	params.Set("Digits", "1235")
	if Sign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ=" {
		t.Fatal("a changed parameter kept the signature")
	}
	params.Set("Digits", "1234")
	if Sign("12346", "https://mycompany.com/myapp.php?foo=1&bar=2", params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ=" {
		t.Fatal("another token made the same signature")
	}
}

func TestNewRequestPOST(t *testing.T) {
	params := url.Values{"CallSid": {"CA0123"}, "From": {"+15551112222"}, "CallerName": {"A & B"}}
	req, err := NewRequest(context.Background(), "POST", "http://app.example/voice?x=1", "tok", params)
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != "POST" || req.URL.String() != "http://app.example/voice?x=1" {
		t.Fatalf("request %s %s", req.Method, req.URL)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Fatalf("Content-Type %q", ct)
	}
	body, _ := io.ReadAll(req.Body)
	got, err := url.ParseQuery(string(body))
	if err != nil || got.Encode() != params.Encode() {
		t.Fatalf("body %q (%v), want %q", body, err, params.Encode())
	}
	if sig := req.Header.Get(SignatureHeader); sig != Sign("tok", "http://app.example/voice?x=1", params) {
		t.Fatalf("signature %q", sig)
	}
}

func TestNewRequestGET(t *testing.T) {
	params := url.Values{"CallSid": {"CA0123"}, "To": {"+15553334444"}}
	for base, want := range map[string]string{
		"http://app.example/voice":       "http://app.example/voice?CallSid=CA0123&To=%2B15553334444",
		"http://app.example/voice?z=9":   "http://app.example/voice?z=9&CallSid=CA0123&To=%2B15553334444",
		"http://app.example/voice?":      "http://app.example/voice?CallSid=CA0123&To=%2B15553334444",
		"http://app.example/voice?b=1#f": "http://app.example/voice?b=1&CallSid=CA0123&To=%2B15553334444",
	} {
		req, err := NewRequest(context.Background(), "get", base, "tok", params)
		if err != nil {
			t.Fatal(err)
		}
		if req.Method != "GET" || req.URL.String() != want {
			t.Fatalf("%s: request %s %s, want %s", base, req.Method, req.URL, want)
		}
		if sig := req.Header.Get(SignatureHeader); sig != Sign("tok", want, nil) {
			t.Fatalf("%s: signature %q is not over %s", base, sig, want)
		}
	}
	req, _ := NewRequest(context.Background(), http.MethodGet, "http://app.example/v", "", params)
	if _, ok := req.Header[SignatureHeader]; ok {
		t.Fatal("a request without a token is signed")
	}
}

func TestAddress(t *testing.T) {
	for _, tc := range []struct{ user, uri, want string }{
		{"15551112222", "sip:15551112222@gw", "+15551112222"},
		{"+442071234567", "sip:+442071234567@gw", "+442071234567"},
		{"alice", "sip:alice@example.com", "sip:alice@example.com"},
		{"1234567890123456", "sip:1234567890123456@gw", "sip:1234567890123456@gw"}, // past E.164's 15 digits
		{"", "", ""},
		{"bob", "", "bob"},
	} {
		if got := Address(tc.user, tc.uri); got != tc.want {
			t.Errorf("Address(%q, %q) = %q, want %q", tc.user, tc.uri, got, tc.want)
		}
	}
}

func TestSids(t *testing.T) {
	a, b := NewSid(CallSidPrefix), NewSid(CallSidPrefix)
	if len(a) != 34 || a[:2] != "CA" || a == b || strings.ToLower(a[2:]) != a[2:] {
		t.Fatalf("call sids %q %q", a, b)
	}
	if err := CheckAccountSid(NewSid(AccountSidPrefix)); err != nil {
		t.Fatal(err)
	}
	if err := CheckAccountSid(DefaultAccountSid); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "AC123", "CA" + strings.Repeat("0", 32), "AC" + strings.Repeat("g", 32), "AC" + strings.Repeat("0", 33)} {
		if err := CheckAccountSid(bad); err == nil {
			t.Errorf("CheckAccountSid(%q) passed", bad)
		}
	}
}

func TestParseDialect(t *testing.T) {
	for name, want := range map[string]Dialect{"carrierx": CarrierX, "twilio": Twilio} {
		if d, err := ParseDialect(name); err != nil || d != want || d.String() != name {
			t.Fatalf("ParseDialect(%q) = %v, %v", name, d, err)
		}
	}
	if _, err := ParseDialect("Twilio2"); err == nil || !strings.Contains(err.Error(), "want carrierx or twilio") {
		t.Fatalf("bad dialect: %v", err)
	}
}
