package dashboard

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"
)

// serveEvents serves the feed: a "snapshot" event at once and then every
// Interval, a heartbeat comment when nothing else went out for a while,
// until the client goes or the dashboard closes.
func (d *Dashboard) serveEvents(w http.ResponseWriter, r *http.Request) {
	if d.cfg.ValidToken == nil {
		http.Error(w, offMessage, http.StatusForbidden)
		return
	}
	if ok, reason := d.authorize(r); !ok {
		d.refuse(r, reason)
		w.Header().Set("WWW-Authenticate", `Bearer realm="callstream"`)
		http.Error(w, "the dashboard feed needs an API token or a dashboard session: "+reason, http.StatusUnauthorized)
		return
	}
	if n := d.subs.Add(1); int(n) > d.cfg.MaxSubscribers {
		d.subs.Add(-1)
		w.Header().Set("Retry-After", "5")
		http.Error(w, fmt.Sprintf("the dashboard feed is full (%d subscribers)", d.cfg.MaxSubscribers), http.StatusServiceUnavailable)
		return
	}
	defer d.subs.Add(-1)
	select {
	case <-d.done:
		http.Error(w, "the gateway is shutting down", http.StatusServiceUnavailable)
		return
	default:
	}

	rc := http.NewResponseController(w)
	// The server's read deadline would end a long-lived request: the feed
	// has no body, and the client going away still ends it (a closed
	// connection cancels the request's context).
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	bw := bufio.NewWriter(w)
	f := feed{prev: map[levelKey]levelMark{}}
	flush := func() bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeWait))
		if bw.Flush() != nil {
			return false
		}
		return rc.Flush() == nil
	}
	fmt.Fprintf(bw, "retry: %d\n\n", retryMs)
	if !d.sendSnapshot(bw, &f) || !flush() {
		return
	}
	tick := time.NewTicker(d.cfg.Interval)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-d.done:
			return
		case now := <-tick.C:
			if !d.sendSnapshot(bw, &f) {
				return
			}
			if now.Sub(last) >= heartbeatEvery {
				_, _ = bw.WriteString(": heartbeat\n\n")
				last = now
			}
			if !flush() {
				return
			}
		}
	}
}

// sendSnapshot writes one snapshot event to bw.
func (d *Dashboard) sendSnapshot(bw *bufio.Writer, f *feed) bool {
	s := d.cfg.Source.Snapshot()
	f.levels(&s)
	if s.Calls == nil {
		s.Calls = []Call{}
	}
	if s.Ends == nil {
		s.Ends = []End{}
	}
	b, err := json.Marshal(s)
	if err != nil {
		d.cfg.Log.Error("dashboard: snapshot not encoded", "err", err)
		return false
	}
	writeEvent(bw, "snapshot", b)
	return true
}

// writeEvent writes one SSE event whose data is a single line (JSON holds
// no raw newline).
func writeEvent(bw *bufio.Writer, name string, data []byte) {
	_, _ = bw.WriteString("event: " + name + "\ndata: ")
	_, _ = bw.Write(data)
	_, _ = bw.WriteString("\n\n")
}

// levelKey names one track of one call.
type levelKey struct{ sid, track string }

// levelMark is a track's counters at the previous snapshot.
type levelMark struct{ samples, sumSquares uint64 }

// feed is one subscriber's state: the level counters it saw last.
type feed struct{ prev map[levelKey]levelMark }

// MinDBFS is the floor of a level (digital silence).
const MinDBFS = -90.0

// fullScale2 is the square of 16-bit full scale.
const fullScale2 = 32768.0 * 32768.0

// levels sets every level's DBFS from the counters' change since the
// previous snapshot, and forgets the tracks of calls that are gone.
func (f *feed) levels(s *Snapshot) {
	seen := make(map[levelKey]levelMark, len(f.prev))
	for i := range s.Calls {
		c := &s.Calls[i]
		for j := range c.Levels {
			l := &c.Levels[j]
			k := levelKey{c.Sid, l.Track}
			now := levelMark{l.Samples, l.SumSquares}
			seen[k] = now
			p, ok := f.prev[k]
			if !ok {
				p = levelMark{}
			}
			l.DBFS = DBFS(now.samples-p.samples, now.sumSquares-p.sumSquares)
		}
	}
	f.prev = seen
}

// DBFS returns the RMS level in dBFS of n samples whose squares sum to
// sum (16-bit full scale), rounded to 0.1 dB and floored at MinDBFS; nil
// when n is 0.
func DBFS(n, sum uint64) *float64 {
	if n == 0 {
		return nil
	}
	ms := float64(sum) / float64(n) / fullScale2
	v := MinDBFS
	if ms > 0 {
		v = max(10*math.Log10(ms), MinDBFS)
	}
	v = math.Round(v*10) / 10
	return &v
}
