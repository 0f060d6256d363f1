package flow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callstream/callstream/flexml"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/logsafe"
	"github.com/callstream/callstream/internal/stream"
	"github.com/callstream/callstream/internal/webhook"
)

// liveStream is one running Stream verb of a call.
type liveStream struct {
	name     string
	sid      string
	host     string   // the app's host[:port]
	tracks   []string // the tracks it sends
	bidi     bool
	stopped  bool // a Stop verb stopped it: its name and its place are free (under streamSet.mu)
	sock     *stream.Socket
	flow     *stream.Flow
	log      *slog.Logger
	released chan struct{} // closed once the stream has left the call and the set
}

// streamSet holds a call's running streams.
type streamSet struct {
	r    *run
	mu   sync.Mutex
	live []*liveStream
	wg   sync.WaitGroup
}

func newStreamSet(r *run) *streamSet { return &streamSet{r: r} }

// trackSet maps a Stream's track attribute to the tracks it sends.
func trackSet(t flexml.Track) stream.TrackSet {
	var s stream.TrackSet
	switch t {
	case flexml.TrackOutbound:
		return s.With(stream.TrackOutbound)
	case flexml.TrackBoth:
		return s.With(stream.TrackInbound).With(stream.TrackOutbound)
	case flexml.TrackMixed:
		return s.With(stream.TrackMixed)
	default:
		return s.With(stream.TrackInbound)
	}
}

func newStreamSid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "MZ" + hex.EncodeToString(b[:])
}

// start starts a stream; bidi streams are also made the call's audio source.
// Failures are logged; the document goes on. It returns the stream started.
func (ss *streamSet) start(ctx context.Context, s *flexml.Stream, bidi bool) *liveStream {
	ls, err := ss.startErr(ctx, s, bidi, newStreamSid())
	if err != nil {
		shown := s.URL
		if u, rerr := resolveWS(ss.r.docURL, s.URL); rerr == nil {
			shown = u
		}
		ss.r.log.Error(err.Error(), "stream", s.Name, "url", logsafe.URL(shown))
		return nil
	}
	return ls
}

// startErr starts a stream with the given sid, or returns why it could not
// (a *StreamRefusedError).
func (ss *streamSet) startErr(ctx context.Context, s *flexml.Stream, bidi bool, sid string) (*liveStream, error) {
	r := ss.r
	log := r.log.With("stream", s.Name)
	wsURL, err := resolveWS(r.docURL, s.URL)
	if err != nil {
		return nil, &StreamRefusedError{Reason: err.Error()}
	}
	log = log.With("url", logsafe.URL(wsURL))

	ss.mu.Lock()
	uni := 0
	for _, l := range ss.live {
		if l.stopped {
			continue
		}
		if s.Name != "" && l.name == s.Name {
			ss.mu.Unlock()
			return nil, &StreamRefusedError{Reason: "a live stream of this call already has this name"}
		}
		if l.bidi && bidi {
			ss.mu.Unlock()
			return nil, &StreamRefusedError{Reason: "only one bidirectional stream per call"}
		}
		if !l.bidi {
			uni++
		}
	}
	if !bidi && uni >= r.in.cfg.MaxStreams {
		ss.mu.Unlock()
		return nil, &StreamRefusedError{Reason: fmt.Sprintf("too many streams on this call (at most %d)", r.in.cfg.MaxStreams)}
	}
	ss.mu.Unlock()

	tracks := trackSet(s.Track)
	maxLength := s.MaxLength
	if bidi {
		if s.Track != "" && s.Track != flexml.TrackInbound {
			log.Warn("a bidirectional stream sends the inbound track only", "track", string(s.Track))
		}
		tracks = stream.TrackSet(0).With(stream.TrackInbound)
		if maxLength > 0 {
			log.Warn("maxLength applies to unidirectional streams only: ignored on <Connect>")
			maxLength = 0
		}
	}
	wf := wireFormat(log, r.in.cfg.Dialect, s)
	params := make([]stream.Param, len(s.Parameters))
	for i, p := range s.Parameters {
		params[i] = stream.Param{Name: p.Name, Value: p.Value}
	}
	info := stream.Info{
		CallSid:    r.c.Sid(),
		AccountSid: r.in.cfg.AccountSid,
		StreamSid:  sid,
		Name:       s.Name,
		Tracks:     tracks.Tracks(),
		Params:     params,
		Encoding:   wf.Encoding,
		SampleRate: wf.SampleRate,
	}
	log = log.With("stream_sid", info.StreamSid)
	ls := &liveStream{name: s.Name, sid: sid, host: hostOf(wsURL), tracks: trackStrings(info.Tracks), bidi: bidi, log: log, released: make(chan struct{})}

	var playout *stream.Playout
	if bidi {
		var err error
		playout, err = stream.NewPlayout(r.in.cfg.PlayoutLimit, wf.Format, r.c.Format())
		if err != nil {
			return nil, &StreamRefusedError{Reason: err.Error()}
		}
		playout.MaxMarks = r.in.cfg.PendingMarks
		overflow := limit.NewWarner(log, slog.LevelWarn, time.Second)
		playout.OnOverflow = func(n int) {
			overflow.Log("app audio dropped: more than the playout limit queued", "bytes", n, "limit", r.in.cfg.PlayoutLimit, "dropped_total", playout.Dropped())
		}
	}
	cb := newStatusCallback(r, s, info.StreamSid)
	metrics, dialect := r.in.cfg.Metrics, r.in.cfg.Dialect.Name()
	opening := time.Now()
	sock := stream.Open(stream.SocketConfig{
		URL:          wsURL,
		Dialect:      r.in.cfg.Dialect,
		Info:         &info,
		QueueFrames:  stream.QueueFor(r.in.cfg.Queue, len(info.Tracks)),
		ControlQueue: controlQueue(playout),
		MaxMessage:   r.in.cfg.WSMaxMessage,
		Reconnect:    reconnectFor(r.in.cfg.Reconnect),
		Refusals:     r.in.cfg.Refusals,
		Logger:       log,
		Playout:      playout,
		TLS:          r.in.cfg.WSTLS,
		Header:       r.in.streamHeader(wsURL),
		// The stream's host is dialed through the URL policy.
		NetDialContext: r.in.fetch.Dialer(r.log.With("stream", s.Name, "stream_sid", info.StreamSid), wsURL),
		Observer:       metrics, // nil without metrics
		OnOpen: func() {
			if metrics != nil {
				metrics.StreamConnected(dialect, time.Since(opening))
			}
			log.Info("stream connected")
			cb.send(ctx, "stream-started", "")
		},
		OnClose: func(code int, reason string, err error) {
			if err != nil {
				log.Error("stream failed", "err", err)
				cb.send(context.Background(), "stream-error", err.Error())
			}
			cb.send(context.Background(), "stream-stopped", "")
		},
	})
	wall, _ := r.c.Clock()
	mode := stream.TimestampRelative
	if s.TimestampStart == "absolute" {
		mode = stream.TimestampAbsolute
	}
	f := sock.AddFlow(stream.FlowConfig{
		Info:       info,
		Tracks:     tracks,
		Clock:      wall,
		Timestamps: mode,
		MaxLength:  maxLength,
		Wire:       wf.Format,
	})
	ls.sock, ls.flow = sock, f
	if playout != nil {
		playout.OnMark = func(name string) { sock.PushMark(f, name) }
	}
	r.c.AddFlow(f)
	var stopDTMF func()
	if bidi {
		r.c.SetSource(playout) // the playout converted the app's audio into the call's format
		stopDTMF = r.c.OnDTMF(f.PushDTMF)
	}
	if metrics != nil {
		metrics.StreamStarted(dialect, sock)
	}
	ss.mu.Lock()
	ss.live = append(ss.live, ls)
	ss.mu.Unlock()
	log.Info("stream started", "tracks", trackNames(info.Tracks), "bidirectional", bidi)

	ss.wg.Add(1)
	sock.AfterDone(func() {
		defer ss.wg.Done()
		defer close(ls.released)
		r.c.RemoveFlow(f)
		if stopDTMF != nil {
			stopDTMF()
		}
		if playout != nil {
			r.c.ClearSource(playout)
		}
		ss.remove(ls)
		st := sock.Stats()
		log.Info("stream ended", "messages_sent", st.MessagesSent, "media_sent", st.MediaSent,
			"media_dropped", st.MediaDropped, "messages_received", st.MessagesRecv, "bad_messages", st.BadMessages,
			"reconnects", st.Reconnects, "reconnect_failed", st.ReconnectFailed)
		if metrics != nil {
			metrics.StreamEnded(dialect, sock, sock.Err())
		}
	})
	return ls, nil
}

// hostOf returns the host[:port] of a URL, or "" when it has none.
func hostOf(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Host
}

// wireFormat returns the stream's media format on the socket: what its
// encoding attribute asks for, when the dialect carries it, else the
// dialect's µ-law (with a warning).
func wireFormat(log *slog.Logger, d stream.Dialect, s *flexml.Stream) stream.WireFormat {
	want := codec.PCMU
	if s.Encoding == flexml.EncodingL16 {
		want = codec.L16(s.SampleRate)
	}
	wf, ok := d.Wire(want)
	if !ok {
		wf, _ = d.Wire(codec.PCMU)
		log.Warn("stream encoding not carried by the dialect: µ-law sent instead", "encoding", want.String(), "dialect", d.Name())
	}
	return wf
}

// controlQueue returns the bound on a stream's queued marks, dtmf events
// and text: on a bidirectional stream, room for every mark that may be
// pending (each is answered once) besides the default.
func controlQueue(p *stream.Playout) int {
	n := stream.DefaultControlQueue
	if p != nil {
		switch {
		case p.MaxMarks == 0:
			n += stream.DefaultMaxMarks
		case p.MaxMarks > 0:
			n += p.MaxMarks
		}
	}
	return n
}

// reconnectFor turns the Reconnect setting into the socket's: 0 is the
// default, negative is never.
func reconnectFor(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return stream.DefaultReconnect
	case d < 0:
		return 0
	}
	return d
}

func trackNames(ts []stream.Track) string {
	var b strings.Builder
	for i, t := range ts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t.String())
	}
	return b.String()
}

func (ss *streamSet) remove(ls *liveStream) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for i, l := range ss.live {
		if l == ls {
			ss.live = append(ss.live[:i], ss.live[i+1:]...)
			return
		}
	}
}

// connect runs a bidirectional stream and returns when its socket closes
// (either side) or the call ends. The call is answered when it is not yet.
func (ss *streamSet) connect(ctx context.Context, s *flexml.Stream) error {
	ls := ss.start(ctx, s, true)
	if err := ss.r.c.Answer(); err != nil {
		return err
	}
	if ls == nil {
		return nil
	}
	// Wait until the stream has left the call, so a <Connect> that
	// follows finds no bidirectional stream in its way.
	select {
	case <-ls.released:
	case <-ctx.Done():
	}
	return nil
}

// stop stops the unidirectional stream called name, or every unidirectional
// stream when name is empty.
func (ss *streamSet) stop(name string) {
	ss.mu.Lock()
	var hit []*liveStream
	for _, l := range ss.live {
		if l.bidi || l.stopped {
			continue
		}
		if name == "" || l.name == name {
			// Its name and its place are free at once, while its
			// socket closes in the background.
			l.stopped = true
			hit = append(hit, l)
		}
	}
	ss.mu.Unlock()
	if len(hit) == 0 {
		ss.r.log.Warn("stop: no running stream with this name", "stream", name)
		return
	}
	for _, l := range hit {
		l.log.Info("stream stopping", "by", "Stop verb")
		l.sock.BeginClose(1000, "")
	}
}

// stopNamed stops the unidirectional stream called name or with that sid;
// it reports whether there was one. by names who asked, for the log.
func (ss *streamSet) stopNamed(name, by string) bool {
	ss.mu.Lock()
	var hit *liveStream
	for _, l := range ss.live {
		if !l.bidi && !l.stopped && (l.name == name || l.sid == name) {
			l.stopped = true
			hit = l
			break
		}
	}
	ss.mu.Unlock()
	if hit == nil {
		return false
	}
	hit.log.Info("stream stopping", "by", by)
	hit.sock.BeginClose(1000, "")
	return true
}

// stopBidi closes the bidirectional stream of a <Connect> a redirect
// interrupted; forked streams go on.
func (ss *streamSet) stopBidi() {
	ss.mu.Lock()
	var hit []*liveStream
	for _, l := range ss.live {
		if l.bidi {
			hit = append(hit, l)
		}
	}
	ss.mu.Unlock()
	for _, l := range hit {
		l.log.Info("stream stopping", "by", "redirect")
		l.sock.BeginClose(1000, "")
	}
	// The next document may <Connect> again: wait until the stream has
	// left the call (bounded).
	t := time.NewTimer(streamCloseWait)
	defer t.Stop()
	for _, l := range hit {
		select {
		case <-l.released:
		case <-t.C:
			l.sock.Abort()
			<-l.released
		}
	}
}

// closeAll stops every stream (each sends stop and closes with 1000) and
// waits for them to release their sockets.
func (ss *streamSet) closeAll() {
	ss.mu.Lock()
	live := append([]*liveStream(nil), ss.live...)
	ss.mu.Unlock()
	for _, l := range live {
		l.sock.BeginClose(1000, "")
	}
	done := make(chan struct{})
	go func() {
		ss.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(streamCloseWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		for _, l := range live {
			l.sock.Abort()
		}
		<-done
	}
}

// statusCallback posts stream events to a Stream's statusCallback URL
// (Twilio's stream-started, stream-stopped, stream-error).
type statusCallback struct {
	r      *run
	url    string
	method string
	sid    string
	name   string
}

func newStatusCallback(r *run, s *flexml.Stream, sid string) *statusCallback {
	if s.StatusCallback == "" {
		return nil
	}
	u, err := resolve(r.docURL, s.StatusCallback)
	if err != nil {
		r.log.Warn("statusCallback ignored", "url", logsafe.URL(s.StatusCallback), "err", err)
		return nil
	}
	m := s.StatusCallbackMethod
	if m == "" {
		m = http.MethodPost
	}
	return &statusCallback{r: r, url: u, method: m, sid: sid, name: s.Name}
}

// send posts one event. It runs in the socket's goroutines, so it is bounded
// by a short timeout; failures are logged only.
func (cb *statusCallback) send(ctx context.Context, event, errText string) {
	if cb == nil {
		return
	}
	v := url.Values{}
	v.Set("AccountSid", cb.r.in.cfg.AccountSid)
	v.Set("CallSid", cb.r.c.Sid())
	v.Set("StreamSid", cb.sid)
	v.Set("StreamName", cb.name)
	v.Set("StreamEvent", event)
	if errText != "" {
		v.Set("StreamError", errText)
	}
	v.Set("Timestamp", strconv.FormatInt(time.Now().UnixMilli(), 10))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), defaultStatusTimeout)
	defer cancel()
	// Twilio's form (or query) in both app dialects, signed under Twilio's.
	req, err := webhook.NewRequest(ctx, cb.method, cb.url, cb.r.in.twilioToken(), v)
	shown := logsafe.URL(cb.url)
	if err != nil {
		cb.r.log.Warn("statusCallback", "url", shown, "err", err)
		return
	}
	resp, err := cb.r.in.fetch.Do(req, cb.r.log.With("stream", cb.name))
	if err != nil {
		cb.r.log.Warn("statusCallback", "url", shown, "event", event, "err", err)
		return
	}
	// The answer is not used: read a little of it so the connection can
	// be reused, no more.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode > 299 {
		cb.r.log.Warn("statusCallback", "url", shown, "event", event, "err", fmt.Errorf("HTTP %d", resp.StatusCode))
	}
}
