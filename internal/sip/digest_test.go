package sip

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The example of RFC 2617 §3.5.
func TestDigestResponseKnownVector(t *testing.T) {
	got := digestResponse("Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
		"dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth")
	if want := "6629fae49393a05397450978507c4ef1"; got != want {
		t.Fatalf("response %s, want %s", got, want)
	}
	// RFC 2069 style (no qop): MD5(HA1:nonce:HA2).
	ha1 := md5Hex("Mufasa:testrealm@host.com:Circle Of Life")
	if got, want := digestResponse("Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html", "n", "", "", ""),
		md5Hex(ha1+":n:"+md5Hex("GET:/dir/index.html")); got != want {
		t.Fatalf("no-qop response %s, want %s", got, want)
	}
}

func authHeader(user, realm, password, nonce, uri string) string {
	resp := digestResponse(user, realm, password, "INVITE", uri, nonce, "00000001", "c0ffee", "auth")
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5, qop=auth, nc=00000001, cnonce="c0ffee"`,
		user, realm, nonce, uri, resp)
}

// upperResponse writes the response digest of h in capital hex.
func upperResponse(h string) string {
	i := strings.Index(h, `response="`) + len(`response="`)
	j := i + strings.IndexByte(h[i:], '"')
	return h[:i] + strings.ToUpper(h[i:j]) + h[j:]
}

func TestDigestVerify(t *testing.T) {
	a, err := newDigestAuth("", map[string]string{"bob": "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if a.realm != "callstream" {
		t.Fatalf("default realm %q", a.realm)
	}
	src := netip.MustParseAddr("198.51.100.7")
	t0 := time.Unix(1_800_000_000, 0)
	nonce := a.nonce(src, t0)
	uri := "sip:15551234567@gw.example"
	good := authHeader("bob", "callstream", "pw", nonce, uri)
	for name, tc := range map[string]struct {
		header string
		src    netip.Addr
		at     time.Time
		want   error
	}{
		"right":                    {good, src, t0.Add(time.Second), nil},
		"replay within the window": {good, src, t0.Add(nonceLifetime - time.Second), nil},
		"replay beyond the window": {good, src, t0.Add(nonceLifetime + 2*time.Second), errStaleNonce},
		"from another address":     {good, netip.MustParseAddr("198.51.100.8"), t0, errBadNonce},
		"wrong password":           {authHeader("bob", "callstream", "nope", nonce, uri), src, t0, errBadCredentials},
		"unknown user":             {authHeader("eve", "callstream", "pw", nonce, uri), src, t0, errBadCredentials},
		"other realm":              {authHeader("bob", "elsewhere", "pw", nonce, uri), src, t0, errBadNonce},
		"forged nonce":             {authHeader("bob", "callstream", "pw", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", uri), src, t0, errBadNonce},
		"nonce not base64":         {authHeader("bob", "callstream", "pw", "%%%", uri), src, t0, errBadNonce},
		"none":                     {"", src, t0, errNoCredentials},
		"basic scheme":             {"Basic Ym9iOnB3", src, t0, errMalformedCredentials},
		"auth-int":                 {strings.Replace(good, "qop=auth", "qop=auth-int", 1), src, t0, errMalformedCredentials},
		"SHA-256":                  {strings.Replace(good, "algorithm=MD5", "algorithm=SHA-256", 1), src, t0, errMalformedCredentials},
		"no response":              {`Digest username="bob", realm="callstream", nonce="` + nonce + `", uri="x"`, src, t0, errMalformedCredentials},
		"unterminated":             {`Digest username="bob`, src, t0, errMalformedCredentials},
		"too many parameters":      {"Digest " + strings.Repeat("a=b, ", maxDigestParams+1), src, t0, errMalformedCredentials},
		"response in capitals":     {upperResponse(good), src, t0, nil},
	} {
		t.Run(name, func(t *testing.T) {
			user, err := a.verify("INVITE", tc.header, tc.src, tc.at)
			if !errors.Is(err, tc.want) {
				t.Fatalf("verify: %v, want %v", err, tc.want)
			}
			if err == nil && user != "bob" {
				t.Fatalf("user %q", user)
			}
		})
	}
	// The same header on a request of another method does not verify.
	if _, err := a.verify("BYE", good, src, t0); !errors.Is(err, errBadCredentials) {
		t.Fatalf("verify for BYE: %v", err)
	}
}

func TestDigestChallengeAndConfig(t *testing.T) {
	a, err := newDigestAuth("r", map[string]string{"u": "p"})
	if err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddr("2001:db8::1")
	now := time.Unix(1_800_000_000, 0)
	c := a.challenge(src, now, true)
	if !strings.HasPrefix(c, `Digest realm="r", nonce="`) || !strings.HasSuffix(c, `algorithm=MD5, qop="auth", stale=true`) {
		t.Fatalf("challenge %q", c)
	}
	if err := a.checkNonce(a.nonce(src, now), src, now); err != nil {
		t.Fatalf("own nonce: %v", err)
	}
	other, _ := newDigestAuth("r", map[string]string{"u": "p"})
	if err := other.checkNonce(a.nonce(src, now), src, now); !errors.Is(err, errBadNonce) {
		t.Fatalf("another process's nonce: %v", err)
	}
	if _, err := newDigestAuth(`bad"realm`, map[string]string{"u": "p"}); err == nil {
		t.Fatal("a realm with a quote was accepted")
	}
	if _, err := newDigestAuth("r", map[string]string{"u": ""}); err == nil {
		t.Fatal("an empty password was accepted")
	}
}

func FuzzParseCredentials(f *testing.F) {
	f.Add(`Digest username="a\"b", realm=r, nonce="n", uri="sip:x", response="0", qop=auth, nc=00000001, cnonce="c"`)
	f.Add(`digest   ,,, x=`)
	f.Fuzz(func(t *testing.T, h string) {
		cr, err := parseCredentials(h)
		if err == nil && len(cr.username) > len(h) {
			t.Fatalf("user name longer than the header")
		}
	})
}
