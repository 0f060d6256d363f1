// Package demo runs callstream's main job end to end on one machine: a
// gateway, a FlexML app, a WebSocket receiver and a SIP caller that speaks
// a known clip; it then checks that the app received exactly what the caller
// sent.
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/gateway"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/wsapp"
)

// Options configure a demo run.
type Options struct {
	Out     io.Writer    // the human summary
	WAVPath string       // where the received audio is written (default: a temp file)
	Dialect string       // carrierx (default) or twilio
	Codec   string       // PCMU (default) or PCMA
	Logger  *slog.Logger // gateway logs (default: warnings and errors to stderr)
}

// Result is what the demo measured.
type Result struct {
	Events            map[string]int
	MediaFrames       int
	AudioSeconds      float64
	SentFrames        int
	FirstFrameLatency time.Duration
	PromptPackets     int
	EndReason         string
	WAVPath           string
	Match             bool
}

// ErrMismatch is returned when the app did not receive the audio the caller sent.
var ErrMismatch = errors.New("received audio does not match the sent audio")

// appDocument is the built-in FlexML app: stream the caller to the
// receiver, play a prompt, then wait for the caller to hang up.
const appDocument = `<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Start>
    <Stream url="%s" name="demo">
      <Parameter name="Purpose" value="callstream demo"/>
    </Stream>
  </Start>
  <Play>%s</Play>
  <Pause length="20"/>
  <Hangup/>
</Response>
`

// Run runs the demo.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	// The WebSocket receiver.
	ws, err := wsapp.Listen(wsapp.Options{})
	if err != nil {
		return nil, err
	}
	defer ws.Close()

	// The FlexML app.
	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("app listen: %w", err)
	}
	base := "http://" + appLn.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("/flexml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, appDocument, ws.URL("/media"), base+"/prompt.wav")
	})
	mux.HandleFunc("/prompt.wav", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(assets.PromptWAV())
	})
	app := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = app.Serve(appLn) }()
	defer app.Close()

	// The gateway.
	d, err := gateway.Dialect(opts.Dialect)
	if err != nil {
		return nil, err
	}
	released := make(chan string, 1) // the gateway's reason for the call's end
	g, err := gateway.New(gateway.Config{
		SIPAddr:  "127.0.0.1:0",
		HTTPAddr: "127.0.0.1:0",
		App:      base + "/flexml",
		RTPPorts: "40000-49999",
		Dialect:  d,
		Logger:   opts.Logger,
		OnCallReleased: func(_ string, st call.Stats) {
			select {
			case released <- st.EndReason:
			default:
			}
		},
	})
	if err != nil {
		return nil, err
	}
	stop, err := runGateway(ctx, g)
	if err != nil {
		return nil, err
	}
	defer stop()

	// The caller.
	client, err := sipcaller.NewClient(sipcaller.ClientConfig{Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	defer client.Close()
	speech := assets.Speech()
	callCodec := opts.Codec
	if callCodec == "" {
		callCodec = "PCMU"
	}
	// What the caller sends, and what the app must receive: a PCMA call
	// reaches the app as the µ-law transcoding of its A-law bytes.
	sent, want := speech, speech
	if callCodec == "PCMA" {
		sent = make([]byte, len(speech))
		want = make([]byte, len(speech))
		for i, b := range speech {
			sent[i] = codec.ULawToALaw(b)
			want[i] = codec.ALawToULaw(sent[i])
		}
	}
	c, err := client.Dial(ctx, sipcaller.Config{
		Target: g.SIPAddr(), From: "15551230001", FromDisplay: "Demo Caller", To: "15559870002", Codec: callCodec,
	})
	if err != nil {
		return nil, fmt.Errorf("call: %w", err)
	}
	defer c.Close()
	conn, err := ws.Accept(ctx)
	if err != nil {
		return nil, err
	}
	firstSent := time.Now()
	if err := c.SendAudio(ctx, sent); err != nil {
		return nil, fmt.Errorf("send audio: %w", err)
	}
	// Let the last frames and the prompt arrive, then hang up.
	time.Sleep(300 * time.Millisecond)
	if err := c.Hangup(ctx); err != nil {
		return nil, fmt.Errorf("hangup: %w", err)
	}
	select {
	case <-conn.Closed():
	case <-ctx.Done():
		return nil, fmt.Errorf("stream did not end after hangup: %w", ctx.Err())
	}

	// What the app received.
	res := &Result{Events: map[string]int{}, SentFrames: (len(speech) + 159) / 160}
	select {
	case res.EndReason = <-released:
	case <-ctx.Done():
		return nil, fmt.Errorf("the gateway did not release the call: %w", ctx.Err())
	}
	var received []byte
	firstMedia := time.Time{}
	for _, m := range conn.Messages() {
		e, err := m.Parse()
		if err != nil {
			return nil, fmt.Errorf("app received invalid JSON %q: %w", m.Data, err)
		}
		res.Events[e.Event]++
		if e.Event == "media" {
			p, err := e.Payload()
			if err != nil {
				return nil, fmt.Errorf("media payload: %w", err)
			}
			if firstMedia.IsZero() {
				firstMedia = m.At
			}
			received = append(received, p...)
			res.MediaFrames++
		}
	}
	res.AudioSeconds = float64(len(received)) / media.SampleRate
	if !firstMedia.IsZero() {
		res.FirstFrameLatency = firstMedia.Sub(firstSent)
	}
	for _, p := range c.Received() {
		if len(p.Payload) > 0 {
			res.PromptPackets++
		}
	}
	res.Match = bytes.Contains(received, want)

	res.WAVPath = opts.WAVPath
	if res.WAVPath == "" {
		res.WAVPath = filepath.Join(os.TempDir(), fmt.Sprintf("callstream-demo-%d.wav", time.Now().Unix()))
	}
	f, err := os.Create(res.WAVPath)
	if err != nil {
		return res, fmt.Errorf("write wav: %w", err)
	}
	if err := media.WriteWAV(f, media.EncodingULaw, media.SampleRate, received); err != nil {
		f.Close()
		return res, fmt.Errorf("write wav: %w", err)
	}
	if err := f.Close(); err != nil {
		return res, fmt.Errorf("write wav: %w", err)
	}
	res.print(opts.Out, len(speech))
	if !res.Match {
		return res, ErrMismatch
	}
	return res, nil
}

func (r *Result) print(w io.Writer, sentBytes int) {
	names := make([]string, 0, len(r.Events))
	for k := range r.Events {
		names = append(names, k)
	}
	sort.Strings(names)
	var ev []string
	for _, k := range names {
		ev = append(ev, fmt.Sprintf("%s=%d", k, r.Events[k]))
	}
	verdict := "MATCH: the app received the caller's audio intact and in order"
	if !r.Match {
		verdict = "MISMATCH: the app did not receive the caller's audio intact"
	}
	fmt.Fprintf(w, `callstream demo
  call:                one SIP call, %d frames (%.2f s) of speech sent over RTP
  messages at the app: %s
  media frames:        %d (%.2f s of audio)
  first-frame latency: %s (first RTP sent -> first media message received)
  prompt heard:        %d RTP packets played to the caller
  call ended:          %s
  received audio:      %s
  %s
`, r.SentFrames, float64(sentBytes)/media.SampleRate, strings.Join(ev, " "), r.MediaFrames, r.AudioSeconds,
		r.FirstFrameLatency.Round(100*time.Microsecond), r.PromptPackets, r.EndReason, r.WAVPath, verdict)
}

// runGateway runs g until the returned stop is called; it returns once g is
// ready.
func runGateway(ctx context.Context, g *gateway.Gateway) (stop func(), err error) {
	gctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(gctx) }()
	stop = func() {
		cancel()
		<-done
	}
	select {
	case <-g.Ready():
		return stop, nil
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("gateway: %w", err)
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	}
}
