package logsafe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"testing/slogtest"
	"time"
)

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"wss://bot.example.com/media":                         "wss://bot.example.com/media",
		"wss://bot.example.com/media?token=secret":            "wss://bot.example.com/media",
		"https://user:pw@app.example.com:8443/flexml?a=1#top": "https://app.example.com:8443/flexml",
		"http://u@host?x=1":                                   "http://host",
		"ws://host#frag":                                      "ws://host",
		"HTTP://a:b@Host/p/q":                                 "HTTP://Host/p/q",
		"ws://h/p@q?x":                                        "ws://h/p@q", // '@' in the path is not userinfo
		"sip:alice:s3cret@pbx.example.com;transport=tcp":      "sip:alice@pbx.example.com;transport=tcp",
		"SIPS:bob@pbx.example.com?Subject=x":                  "SIPS:bob@pbx.example.com",
		"sip:15551112222@127.0.0.1:5060":                      "sip:15551112222@127.0.0.1:5060",
		"/relative/path?key=v":                                "/relative/path",
		"app.xml":                                             "app.xml",
		"":                                                    "",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		`app request failed: Get "http://127.0.0.1:1/app?token=x": dial tcp: refused`: `app request failed: Get "http://127.0.0.1:1/app": dial tcp: refused`,
		"two: ws://a:b@h1/x?y and wss://h2/z#f done":                                  "two: ws://h1/x and wss://h2/z done",
		"no url here? none#":                "no url here? none#",
		"ws://clean/path then text":         "ws://clean/path then text",
		"://nothing?x":                      "://nothing?x",
		"(1http://h?q)":                     "(1http://h)", // a scheme starts with a letter
		"play http://h/a.wav?k=s: HTTP 404": "play http://h/a.wav: HTTP 404",
		"see http://h/p?q=1.":               "see http://h/p.",
	} {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCut(t *testing.T) {
	if got := Cut("short", 10); got != "short" {
		t.Errorf("Cut short: %q", got)
	}
	if got := Cut("ab€cd", 4); got != "ab…[truncated, 7 bytes]" { // '€' is 3 bytes: not split
		t.Errorf("Cut: %q", got)
	}
}

func TestSecretKey(t *testing.T) {
	for k, want := range map[string]bool{
		"token": true, "api_token": true, "accessToken": true, "X-Api-Key": true, "APIKey": true,
		"password": true, "sip.password": true, "Authorization": true, "digit": true, "digits": true,
		"pin": true, "user_pin": true, "nonce": true, "client_secret": true, "clientSecret": true, "cookie": true,
		"url": false, "call_sid": false, "stream": false, "spin": false, "pinned": false, "key": false,
		"digital": false, "tokenizer": false, "": false, "limit": false, "dtmf_count": false,
	} {
		if got := SecretKey(k); got != want {
			t.Errorf("SecretKey(%q) = %v, want %v", k, got, want)
		}
	}
}

// jsonLogger returns a logger writing JSON through a Handler at level, and
// its output.
func jsonLogger(level slog.Level) (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(NewHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level}))), &buf
}

func decode(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestHandlerMakesRecordsSafe(t *testing.T) {
	log, buf := jsonLogger(slog.LevelDebug)
	long := strings.Repeat("é", 150) // 300 bytes
	payload := bytes.Repeat([]byte{0x7f}, 1000)
	appErr := fmt.Errorf("app request failed: %w", &url.Error{Op: "Get", URL: "http://app.example.com/flexml?sig=abc", Err: errors.New("refused")})
	u, _ := url.Parse("https://u:p@h.example.com/x?q=1")
	log.Info("stream failed at wss://bot.example.com/m?token=t1",
		"url", "wss://user:pw@bot.example.com/media?token=t2",
		"token", "t3",
		"digit", "5",
		"long", long,
		"payload", payload,
		"err", appErr,
		"u", u,
		slog.Group("g", "password", "t4", "ok", "fine"),
		"n", 7)
	log.Debug("dtmf received", "digit", "9", "url", "ws://h/?token=t5")
	lines := decode(t, buf)
	info, debug := lines[0], lines[1]
	out := buf.String()
	for _, secret := range []string{"t1", "t2", "t3", "t4", "user:pw", "sig=abc", "q=1"} {
		if strings.Contains(strings.SplitN(out, "\n", 2)[0], secret) {
			t.Errorf("the INFO line holds %q: %s", secret, out)
		}
	}
	if info["msg"] != "stream failed at wss://bot.example.com/m" || info["url"] != "wss://bot.example.com/media" {
		t.Errorf("urls: %v", info)
	}
	if info["token"] != Redacted || info["digit"] != Redacted || info["g"].(map[string]any)["password"] != Redacted {
		t.Errorf("secrets not redacted: %v", info)
	}
	if info["g"].(map[string]any)["ok"] != "fine" || info["n"] != 7.0 {
		t.Errorf("clean attributes changed: %v", info)
	}
	if s := info["long"].(string); !strings.HasPrefix(s, strings.Repeat("é", 100)+"…[truncated, 300 bytes]") {
		t.Errorf("long: %q", s)
	}
	if s := info["payload"].(string); !strings.HasSuffix(s, "…[truncated, 1000 bytes]") || len(s) > MaxValue+40 {
		t.Errorf("payload: %q", s)
	}
	if info["err"] != `app request failed: Get "http://app.example.com/flexml": refused` {
		t.Errorf("err: %v", info["err"])
	}
	if info["u"] != "https://h.example.com/x" {
		t.Errorf("*url.URL: %v", info["u"])
	}
	// DEBUG keeps everything.
	if debug["digit"] != "9" || debug["url"] != "ws://h/?token=t5" {
		t.Errorf("debug record changed: %v", debug)
	}
}

func TestHandlerWithAttrsAndGroups(t *testing.T) {
	log, buf := jsonLogger(slog.LevelDebug)
	l := log.With("ws", "ws1", "url", "wss://h/x?token=s1").WithGroup("call").With("pin", "1234")
	l.Info("open", "k", "v")
	l.Debug("open", "k", "v")
	log.With("call_sid", "CA1").Info("clean")
	lines := decode(t, buf)
	info, debug, clean := lines[0], lines[1], lines[2]
	if info["url"] != "wss://h/x" || info["call"].(map[string]any)["pin"] != Redacted || info["call"].(map[string]any)["k"] != "v" {
		t.Errorf("info: %v", info)
	}
	if debug["url"] != "wss://h/x?token=s1" || debug["call"].(map[string]any)["pin"] != "1234" {
		t.Errorf("debug: %v", debug)
	}
	if clean["call_sid"] != "CA1" {
		t.Errorf("clean: %v", clean)
	}
	if Logger(log) != log {
		t.Error("Logger wrapped a logger that has a Handler")
	}
	if Logger(nil) != nil {
		t.Error("Logger(nil)")
	}
}

// The handler keeps slog's handler contract.
func TestHandlerSlogtest(t *testing.T) {
	var buf bytes.Buffer
	slogtest.Run(t, func(*testing.T) slog.Handler {
		buf.Reset()
		return NewHandler(slog.NewJSONHandler(&buf, nil))
	}, func(t *testing.T) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("%q: %v", buf.Bytes(), err)
		}
		return m
	})
	// The same with a record that is made safe (a changed WithAttrs value
	// splits the safe handler from the raw one).
	slogtest.Run(t, func(*testing.T) slog.Handler {
		buf.Reset()
		return NewHandler(slog.NewJSONHandler(&buf, nil)).WithAttrs([]slog.Attr{slog.String("token", "x")})
	}, func(t *testing.T) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("%q: %v", buf.Bytes(), err)
		}
		if m["token"] != Redacted {
			t.Errorf("token %v", m["token"])
		}
		delete(m, "token")
		return m
	})
}

type countHandler struct{ n int }

func (h *countHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (h *countHandler) Handle(context.Context, slog.Record) error { h.n++; return nil }
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler        { return h }
func (h *countHandler) WithGroup(string) slog.Handler             { return h }

// A record that needs no change costs no allocation.
func TestHandlerCleanRecordDoesNotAllocate(t *testing.T) {
	next := &countHandler{}
	h := NewHandler(next)
	r := slog.NewRecord(time.Now(), slog.LevelWarn, "websocket ended", 0)
	r.AddAttrs(slog.String("url", "wss://bot.example.com/media"), slog.Int("code", 1006),
		slog.String("reason", "going away"), slog.Any("err", errors.New("closed")),
		slog.Group("g", slog.String("stream", "s1")), slog.Duration("idle", time.Second),
		slog.String("text", `see ws://h/p for it`))
	ctx := context.Background()
	if allocs := testing.AllocsPerRun(100, func() { _ = h.Handle(ctx, r) }); allocs != 0 {
		t.Fatalf("%v allocs per clean record", allocs)
	}
	if next.n == 0 {
		t.Fatal("nothing handled")
	}
}

func BenchmarkHandlerClean(b *testing.B) {
	h := NewHandler(&countHandler{})
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "stream started", 0)
	r.AddAttrs(slog.String("url", "wss://bot.example.com/media"), slog.String("call_sid", "0f8e4c2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b"), slog.Int("tracks", 2))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = h.Handle(ctx, r)
	}
}
