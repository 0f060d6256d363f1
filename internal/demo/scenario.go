package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/callstream/callstream/examples/scenarios"
	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/gateway"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/scenario"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/wsapp"
)

// ScenarioResult is what the scenario demo measured.
type ScenarioResult struct {
	Script       string
	BotMessages  int
	HeardFrames  int
	HeardSeconds float64
	RoundTrip    time.Duration // first RTP sent -> its echo heard by the caller
	WAVPath      string
	Match        bool
}

// RunScenario runs a JavaScript scenario end to end: the echo bot of
// examples/scenarios (script, or a built-in copy when empty) connects each
// call to a WebSocket bot that sends every message back; the caller speaks
// the clip and must hear it back intact.
func RunScenario(ctx context.Context, opts Options, script string) (*ScenarioResult, error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	// The bot: every message goes straight back.
	bot, err := wsapp.Listen(wsapp.Options{Handler: func(c *wsapp.Conn) {
		c.OnMessage(func(m wsapp.Message) {
			if m.Binary {
				_ = c.SendBinary(m.Data)
				return
			}
			_ = c.SendText(string(m.Data))
		})
	}})
	if err != nil {
		return nil, err
	}
	defer bot.Close()

	cfg := scenario.Config{File: script, CustomData: bot.URL("/echo"), Logger: opts.Logger}
	if script == "" {
		src, err := scenarios.Source("echo-bot.js")
		if err != nil {
			return nil, fmt.Errorf("built-in echo bot: %w", err)
		}
		cfg.File, cfg.Source = "echo-bot.js", src
	}
	var g *gateway.Gateway
	cfg.HTTPAddr = func() string { return g.HTTPAddr() }
	rt, err := scenario.New(cfg)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	gcfg := gateway.Config{SIPAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", RTPPorts: "40000-49999", Logger: opts.Logger}
	gateway.WithScenario(&gcfg, rt)
	if g, err = gateway.New(gcfg); err != nil {
		return nil, err
	}
	stop, err := runGateway(ctx, g)
	if err != nil {
		return nil, err
	}
	defer stop()

	client, err := sipcaller.NewClient(sipcaller.ClientConfig{Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	defer client.Close()
	c, err := client.Dial(ctx, sipcaller.Config{Target: g.SIPAddr(), From: "15551230001", To: "15559870002"})
	if err != nil {
		return nil, fmt.Errorf("call: %w", err)
	}
	defer c.Close()
	conn, err := bot.Accept(ctx)
	if err != nil {
		return nil, err
	}
	// Wait for the scenario to bind the bot's audio to the call.
	if err := conn.WaitFor(ctx, 1); err != nil {
		return nil, err
	}
	speech := assets.Speech()
	firstSent := time.Now()
	if err := c.SendAudio(ctx, speech); err != nil {
		return nil, fmt.Errorf("send audio: %w", err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := c.Hangup(ctx); err != nil {
		return nil, fmt.Errorf("hangup: %w", err)
	}

	res := &ScenarioResult{Script: cfg.File, BotMessages: len(conn.Messages())}
	var heard []byte
	var firstHeard time.Time
	for _, p := range c.Received() {
		if firstHeard.IsZero() && bytes.Equal(p.Payload, speech[:160]) {
			firstHeard = p.Arrival
		}
		heard = append(heard, p.Payload...)
	}
	res.HeardFrames = len(heard) / 160
	res.HeardSeconds = float64(len(heard)) / media.SampleRate
	if !firstHeard.IsZero() {
		res.RoundTrip = firstHeard.Sub(firstSent)
	}
	res.Match = bytes.Contains(heard, speech)
	res.WAVPath = opts.WAVPath
	if res.WAVPath == "" {
		res.WAVPath = filepath.Join(os.TempDir(), fmt.Sprintf("callstream-scenario-demo-%d.wav", time.Now().Unix()))
	}
	var wav bytes.Buffer
	if err := media.WriteWAV(&wav, media.EncodingULaw, media.SampleRate, heard); err != nil {
		return res, err
	}
	if err := os.WriteFile(res.WAVPath, wav.Bytes(), 0o644); err != nil {
		return res, fmt.Errorf("write wav: %w", err)
	}
	verdict := "MATCH: the caller heard its own speech back intact"
	if !res.Match {
		verdict = "MISMATCH: the caller did not hear its speech back intact"
	}
	fmt.Fprintf(opts.Out, `callstream scenario demo
  scenario:            %s (caller -> WebSocket bot -> caller)
  bot messages:        %d received from the gateway (start, 20 ms media, ...)
  heard by the caller: %d frames (%.2f s)
  round trip:          %s (first RTP sent -> its echo back at the caller)
  heard audio:         %s
  %s
`, res.Script, res.BotMessages, res.HeardFrames, res.HeardSeconds, res.RoundTrip.Round(100*time.Microsecond), res.WAVPath, verdict)
	if !res.Match {
		return res, ErrMismatch
	}
	return res, nil
}
