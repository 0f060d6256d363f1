package edge

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/wsapp"
)

// soakSample is the gateway's figures at one moment of the soak.
type soakSample struct {
	at         time.Duration
	rss, heap  float64 // bytes
	goroutines float64
	fds        int
	calls      float64
}

// Calls come and go for a while (15 s; 5 minutes at full scale), eight at
// a time: each streams the caller to a fork and talks to an echoing bot
// over a bidirectional stream, sends a DTMF digit and hangs up; every
// fifth call's app answers with an invalid document. Every call is handled
// as documented, the gateway's memory, goroutines and file descriptors stay
// flat, and they return to the idle baseline at the end.
func TestSoak(t *testing.T) {
	run := servetest.Scale(15*time.Second, 5*time.Minute)
	env := servetest.StartEnv(t, servetest.EnvOptions{WS: wsapp.Options{Handler: func(c *wsapp.Conn) {
		if c.Path != "/bot" {
			return
		}
		// Echo every media message back, as a bot that repeats the caller.
		c.OnMessage(func(m wsapp.Message) {
			if ev, err := m.Parse(); err == nil && ev.Event == "media" {
				_ = c.SendText(fmt.Sprintf(`{"event":"media","media":{"payload":%q}}`, ev.Media.Payload))
			}
		})
	}}})
	env.App.Doc("/app", `<Response><Start><Stream url="{{.WS}}/fork"/></Start><Connect><Stream url="{{.WS}}/bot"/></Connect></Response>`)
	env.App.DocTo("/app", "broken", `<Response><Dance/></Response>`)
	base := env.Baseline(t)

	speech := assets.Speech()[:16000] // 2 s
	var (
		calls, failures, refused atomic.Int64
		wg                       sync.WaitGroup
		stop                     = make(chan struct{})
	)
	worker := func(w int) {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			to := fmt.Sprintf("soak-%d-%d", w, i)
			if i%5 == 4 {
				to = "broken"
			}
			c, err := env.Caller.Dial(servetest.Context(t, 10*time.Second), sipcaller.Config{Target: env.SIPAddr(), From: "15550001111", To: to, DTMF: true})
			if to == "broken" {
				if se := (*sipcaller.StatusError)(nil); !errors.As(err, &se) || se.Code != 500 {
					t.Errorf("a call whose app is broken: %v, want 500", err)
					failures.Add(1)
				} else {
					refused.Add(1)
				}
				continue
			}
			if err != nil {
				t.Errorf("call %s: %v", to, err)
				failures.Add(1)
				continue
			}
			if err := c.SendAudio(servetest.Context(t, 10*time.Second), speech); err != nil {
				t.Errorf("call %s: audio: %v", to, err)
				failures.Add(1)
			}
			if err := c.SendDTMF('5', 100*time.Millisecond); err != nil {
				t.Errorf("call %s: dtmf: %v", to, err)
				failures.Add(1)
			}
			if len(c.Received()) == 0 {
				t.Errorf("call %s: the caller heard nothing of the bot's echo", to)
				failures.Add(1)
			}
			if err := c.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
				t.Errorf("call %s: hangup: %v", to, err)
				failures.Add(1)
			}
			c.Close()
			calls.Add(1)
		}
	}
	for w := range 8 {
		wg.Go(func() { worker(w) })
	}
	var samples []soakSample
	start := time.Now()
	every := max(run/10, time.Second)
	for time.Since(start) < run {
		time.Sleep(every) // the soak's own pace: a sample every tenth of the run
		m := env.Metrics(t)
		samples = append(samples, soakSample{at: time.Since(start), rss: float64(env.RSS()), heap: m.Get("go_memstats_heap_inuse_bytes"),
			goroutines: m.Get("go_goroutines"), fds: env.FDs(), calls: m.Get("callstream_calls_active")})
	}
	close(stop)
	wg.Wait()
	env.Settled(t, base, 15*time.Second)
	end := env.Metrics(t)

	for _, s := range samples {
		t.Logf("soak %5.0fs: RSS %.1f MB, heap %.1f MB, goroutines %.0f, fds %d, calls %.0f",
			s.at.Seconds(), s.rss/(1<<20), s.heap/(1<<20), s.goroutines, s.fds, s.calls)
	}
	servetest.Figure(t, "soak duration", run, "")
	servetest.Figure(t, "soak calls completed", calls.Load(), "calls")
	servetest.Figure(t, "soak calls refused as documented (broken app, 500)", refused.Load(), "calls")
	if failures.Load() > 0 || calls.Load() == 0 {
		t.Fatalf("%d of %d calls failed", failures.Load(), calls.Load())
	}
	// Flat: the second half of the run holds no more than the first half's
	// peak plus a margin for the allocator.
	half := len(samples) / 2
	var firstPeak, lastPeak soakSample
	for i, s := range samples {
		p := &lastPeak
		if i < half {
			p = &firstPeak
		}
		p.rss, p.heap, p.goroutines = max(p.rss, s.rss), max(p.heap, s.heap), max(p.goroutines, s.goroutines)
	}
	servetest.Figure(t, "soak RSS peak, first half → second half", fmt.Sprintf("%.1f → %.1f", firstPeak.rss/(1<<20), lastPeak.rss/(1<<20)), "MB")
	servetest.Figure(t, "soak heap peak, first half → second half", fmt.Sprintf("%.1f → %.1f", firstPeak.heap/(1<<20), lastPeak.heap/(1<<20)), "MB")
	servetest.Figure(t, "soak goroutines after, baseline", fmt.Sprintf("%.0f, %.0f", end.Get("go_goroutines"), base.Goroutines), "")
	if half > 0 && lastPeak.rss > firstPeak.rss+20<<20 {
		t.Fatalf("RSS grew from a peak of %.1f MB to %.1f MB", firstPeak.rss/(1<<20), lastPeak.rss/(1<<20))
	}
	if half > 0 && lastPeak.heap > firstPeak.heap+10<<20 {
		t.Fatalf("heap grew from a peak of %.1f MB to %.1f MB", firstPeak.heap/(1<<20), lastPeak.heap/(1<<20))
	}
}
