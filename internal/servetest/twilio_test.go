package servetest

import (
	"net/url"
	"testing"
)

// The validator accepts Twilio's published example and nothing near it.
func TestValidTwilioSignature(t *testing.T) {
	const u = "https://mycompany.com/myapp.php?foo=1&bar=2"
	params := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
		"From": {"+12349013030"}, "To": {"+18005551212"}}
	if !ValidTwilioSignature("12345", u, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=") {
		t.Fatal("Twilio's published example does not validate")
	}
	for name, bad := range map[string]func() bool{
		"token":     func() bool { return ValidTwilioSignature("12346", u, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=") },
		"url":       func() bool { return ValidTwilioSignature("12345", u+"&x=1", params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=") },
		"no params": func() bool { return ValidTwilioSignature("12345", u, nil, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=") },
		"empty sig": func() bool { return ValidTwilioSignature("12345", u, params, "") },
		"not b64":   func() bool { return ValidTwilioSignature("12345", u, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ") },
	} {
		if bad() {
			t.Errorf("%s: a wrong request validates", name)
		}
	}
}
