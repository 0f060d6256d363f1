package sip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"

	"github.com/callstream/callstream/internal/logtest"
)

func TestBoundText(t *testing.T) {
	if got := boundText("short"); got != "short" {
		t.Fatalf("short text changed: %q", got)
	}
	long := strings.Repeat("é", 500) // 1000 bytes
	got := boundText(long)
	if len(got) > maxAttrLen || !utf8.ValidString(got) || !strings.HasSuffix(got, "...(1000 bytes)") {
		t.Fatalf("long text bounded to %d bytes: %q", len(got), got)
	}
	bin := string([]byte{0, 1, 2, 0xff, '\n', 'x'})
	got = boundText(bin)
	if got != `\x00\x01\x02\xff\nx` {
		t.Fatalf("binary text: %q", got)
	}
	huge := boundText(strings.Repeat("\x00", 1<<20))
	if len(huge) > maxAttrLen || !printable(huge) {
		t.Fatalf("1 MiB of zeros bounded to %d bytes: %q", len(huge), huge)
	}
}

// jsonLines decodes the JSON log lines in buf.
func jsonLines(t *testing.T, buf []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(buf), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// checkBounded fails when a string value in m (or a group of it) is longer
// than maxAttrLen.
func checkBounded(t *testing.T, m map[string]any) {
	t.Helper()
	for k, v := range m {
		switch x := v.(type) {
		case string:
			if len(x) > maxAttrLen {
				t.Fatalf("attribute %s is %d bytes", k, len(x))
			}
		case map[string]any:
			checkBounded(t, x)
		}
	}
}

func TestBoundedHandler(t *testing.T) {
	var buf bytes.Buffer
	log := newBoundedLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	big := strings.Repeat("A", 10_000)
	log.With("call", big).WithGroup("g").Info(big, "s", big, "err", errors.New(big), "b", []byte(big),
		slog.Group("inner", "x", big), "n", 42)
	log.Info(big, "k", "v") // a long message, short attributes
	log.Info("fine", "k", "v")
	lines := jsonLines(t, buf.Bytes())
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
	}
	checkBounded(t, lines[0])
	checkBounded(t, lines[1])
	if g, _ := lines[0]["g"].(map[string]any); g == nil || g["n"] != 42.0 {
		t.Fatalf("non-text value changed: %v", lines[0])
	}
	if lines[2]["k"] != "v" || lines[2]["msg"] != "fine" {
		t.Fatalf("a line that fits changed: %v", lines[2])
	}
	if newBoundedLogger(log) != log {
		t.Fatal("bounds wrapped twice")
	}
}

// sipgoRecords logs what sipgo logs when garbage comes in.
func sipgoRecords(log *slog.Logger, n int) {
	garbage := strings.Repeat("\x00GARBAGE", 8000)
	for range n {
		log.Error("failed to parse", "data", garbage, "error", errors.New("transmission beginning '"+garbage+"' is not a SIP message"))
	}
	log.Error("Server tx failed to handle request", "error", errors.New("make key failed: missing Via"), "req", "INVITE sip:x SIP/2.0")
	log.Error("Read error", "error", errors.New("connection reset by peer"))
	for range 100 {
		log.Error("something sipgo never said before", "error", errors.New("odd"))
	}
}

// sipgo's ERRORs about what peers send become DEBUG lines, counted in one
// WARN summary per period; unknown ones go out once a second.
func TestSipgoLogger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		src := netip.MustParseAddrPort("192.0.2.9:5060")
		log, st := newSipgoLogger(slog.New(slog.NewJSONHandler(&buf, nil)), func() netip.AddrPort { return src })
		sipgoRecords(log, 1000)
		time.Sleep(dropReportPeriod + time.Second)
		synctest.Wait()
		lines := jsonLines(t, buf.Bytes())
		var warns, errs int
		for _, m := range lines {
			checkBounded(t, m)
			switch {
			case m["msg"] == "unparseable SIP dropped":
				warns++
				if m["level"] != "WARN" || m["count"] != 1000.0 || m["last_source"] != "192.0.2.9:5060" {
					t.Fatalf("summary %v", m)
				}
			case m["msg"] == "malformed SIP request dropped":
				if m["count"] != 1.0 {
					t.Fatalf("summary %v", m)
				}
			case m["msg"] == "something sipgo never said before":
				errs++
			default:
				t.Fatalf("unexpected line %v", m)
			}
		}
		if warns != 1 || errs != 1 {
			t.Fatalf("%d unparseable summaries, %d lines of the unknown error; want 1 and 1:\n%s", warns, errs, buf.String())
		}
		if len(buf.Bytes()) > 2000 {
			t.Fatalf("%d bytes of log for 1000 bad messages", buf.Len())
		}
		// Nothing more is counted: no more lines.
		buf.Reset()
		time.Sleep(2 * dropReportPeriod)
		synctest.Wait()
		st.close()
		if buf.Len() != 0 {
			t.Fatalf("lines with nothing counted:\n%s", buf.String())
		}
	})
}

// At DEBUG each unparseable message is one line with its data cut short.
func TestSipgoLoggerDebug(t *testing.T) {
	var buf bytes.Buffer
	log, st := newSipgoLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), func() netip.AddrPort { return netip.AddrPort{} })
	sipgoRecords(log, 3)
	st.close()
	n := 0
	for _, m := range jsonLines(t, buf.Bytes()) {
		checkBounded(t, m)
		if m["msg"] == "unparseable SIP" {
			n++
			if m["level"] != "DEBUG" || len(m["data"].(string)) > maxAttrLen {
				t.Fatalf("debug line %v", m)
			}
		}
		if m["msg"] == "Read error" && m["level"] != "DEBUG" {
			t.Fatalf("Read error at %v", m["level"])
		}
	}
	if n != 3 {
		t.Fatalf("%d debug lines for 3 unparseable messages", n)
	}
}

// A flood of garbage datagrams leaves a few short lines, none at ERROR, and
// a summary with the count; the server still answers.
func TestGarbageFloodLogs(t *testing.T) {
	var logs logtest.Buffer
	srv, stop := runServer(t, Config{Handler: func(context.Context, *Invite) {}, Logger: testLogger(&logs)})
	p := newPeer(t, srv.Addr())
	const n = 2000
	junk := make([]byte, 1400)
	for i := range n {
		for j := range junk {
			junk[j] = byte(rand.Uint32())
		}
		if i%2 == 0 {
			copy(junk, "INVITE sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n")
		}
		p.send(string(junk))
		if i%40 == 39 {
			// An answered OPTIONS every 40 datagrams (56 KB): the server
			// has read what came before, so the kernel's socket buffer never
			// overflows and drops part of the flood on a busy machine.
			d := p.newDialog()
			p.transact(d.message("OPTIONS", d.branch, 1, ""), 200, sip.OPTIONS, 10*time.Second)
		}
	}
	d := p.newDialog()
	p.transact(d.message("OPTIONS", d.branch, 1, ""), 200, sip.OPTIONS, 10*time.Second)
	stop()
	out := logs.String()
	if len(out) > 4000 {
		t.Fatalf("%d bytes of log for %d garbage datagrams:\n%.4000s", len(out), n, out)
	}
	var total float64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if len(line) > 1024 {
			t.Fatalf("a log line of %d bytes", len(line))
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if m["level"] == "ERROR" {
			t.Fatalf("ERROR line: %s", line)
		}
		if m["msg"] == "unparseable SIP dropped" || m["msg"] == "malformed SIP request dropped" {
			total += m["count"].(float64)
			if !strings.HasPrefix(m["last_source"].(string), "127.0.0.1:") {
				t.Fatalf("summary without the source: %s", line)
			}
		}
	}
	if total < n*9/10 || total > n {
		t.Fatalf("summaries count %v of %d datagrams:\n%s", total, n, out)
	}
}
