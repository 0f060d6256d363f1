package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/tts"
)

// Bounds of call's flags.
const (
	maxCallDuration = time.Hour
	// digitTone and digitGap shape each --digits digit: a 100 ms tone, then
	// 100 ms without one.
	digitTone = 100 * time.Millisecond
	digitGap  = 100 * time.Millisecond
)

const callUsage = `Usage: callstream call [flags] SIP_URI

Places one test call, as a newcomer's softphone would: real SIP and RTP.
After the answer it waits --digits-delay, sends --digits as RFC 4733
events, then speaks --wav, or --say's text through espeak-ng (or a
built-in 3-second clip, "Hello from the gateway. One two three."), and
records what it hears. The call ends when
the far end hangs up, when the audio is sent and --linger has passed, or
at --duration. A summary follows on standard output.

SIP_URI is sip:[user@]host[:port][;transport=tcp], or just host[:port];
the user part (default "callstream") is the To of the call.

  callstream call sip:127.0.0.1:5060
  callstream call --wav hello.wav --digits 12# --record heard.wav sip:ivr@127.0.0.1
  callstream call --say "I would like to check my balance" sip:127.0.0.1:5060

Exit status:
  0  the call was answered
  1  the call was refused, not answered within --timeout, or failed
  2  bad usage, an unreadable --wav, or --say without espeak-ng installed

Flags:
`

// callOptions are call's flags.
type callOptions struct {
	target      string // host:port
	to          string
	transport   string
	wav         string
	say         string // text to speak instead of a WAV file
	voice       string // --say's voice: man, woman, a language code or a Polly name
	language    string // --say's language (default en-US)
	digits      string
	digitsDelay time.Duration
	record      string
	duration    time.Duration
	linger      time.Duration
	codec       string
	from        string
	timeout     time.Duration
	localIP     string
	logLevel    string
}

// runCall runs `callstream call` and returns its exit code.
func runCall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, code := parseCallFlags(args, stderr)
	if code >= 0 {
		return code
	}
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(stderr, "callstream call: "+format+"\n", args...)
		return code
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fail(exitUsageIO, "--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
	var audio callAudio
	if o.say != "" {
		synth := tts.New(tts.Config{CacheBytes: -1, Logger: log})
		defer synth.Close()
		if err := synth.Available(); err != nil {
			return fail(exitUsageIO, "--say needs %s: install the espeak-ng package (apt-get install espeak-ng)", synth.Command())
		}
		audio = spokenAudio(synth, o.say, o.voice, o.language)
	} else {
		a, err := loadCallAudio(o.wav)
		if err != nil {
			return fail(exitUsageIO, "--wav: %v", err)
		}
		audio = func(context.Context, codec.Format) (*media.Audio, error) { return a, nil }
	}
	local, err := localIPFor(o.localIP, o.target)
	if err != nil {
		return fail(exitFailed, "%v", err)
	}
	client, err := sipcaller.NewClient(sipcaller.ClientConfig{LocalIP: local, Logger: log, Transport: o.transport})
	if err != nil {
		return fail(exitFailed, "%v", err)
	}
	defer client.Close()

	dialCtx, cancelDial := context.WithTimeout(ctx, o.timeout)
	defer cancelDial()
	cfg := sipcaller.Config{Target: o.target, From: o.from, To: o.to, Codec: o.codec, DTMF: true,
		OnProgress: func(code int) { fmt.Fprintf(stdout, "progress:  %d\n", code) }}
	start := time.Now()
	call, err := client.Dial(dialCtx, cfg)
	if err != nil {
		var se *sipcaller.StatusError
		switch {
		case errors.Is(err, sipcaller.ErrUnsupportedCodec):
			return fail(exitUsageIO, "--codec: %v", err)
		case errors.As(err, &se):
			return fail(exitFailed, "refused by %s: %d %s", o.target, se.Code, se.Reason)
		case ctx.Err() != nil:
			return fail(exitFailed, "interrupted before the answer")
		case dialCtx.Err() != nil:
			return fail(exitFailed, "no answer from %s within %s (--timeout)", o.target, o.timeout)
		}
		return fail(exitFailed, "calling %s: %v", o.target, err)
	}
	defer call.Close()
	answered := time.Now()
	code, reason := call.Answer()
	fmt.Fprintf(stdout, "answered:  %d %s after %s\n", code, reason, answered.Sub(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "codec:     %s\n", call.Format())

	res := talk(ctx, call, audio, o)
	if res.sendErr != nil {
		fmt.Fprintf(stderr, "callstream call: sending: %v\n", res.sendErr)
	}
	printCallSummary(stdout, call, res, time.Since(answered))
	if o.record != "" {
		if err := writeRecording(o.record, call); err != nil {
			fmt.Fprintf(stderr, "callstream call: --record: %v\n", err)
		} else {
			fmt.Fprintf(stdout, "recorded:  %s\n", o.record)
		}
	}
	return exitOK
}

// parseCallFlags parses call's command line; code is -1 when the call is
// to go ahead, else the exit code to return.
func parseCallFlags(args []string, stderr io.Writer) (o callOptions, code int) {
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), callUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.wav, "wav", "", "WAV (G.711, PCM of 8 to 32 bits or float, any rate and channel count) or MP3 file to speak (default: a built-in clip)")
	fs.StringVar(&o.say, "say", "", "text to speak instead of a WAV file, rendered by espeak-ng at the call's rate (at most 4096 characters)")
	fs.StringVar(&o.voice, "voice", "", "--say's voice: man, woman, a language code such as fr-FR, or a Polly voice name")
	fs.StringVar(&o.language, "language", "", "--say's language (default en-US)")
	fs.StringVar(&o.digits, "digits", "", "DTMF digits to send after the answer (0-9 * # A-D; w waits 0.5 s), at most 64")
	fs.DurationVar(&o.digitsDelay, "digits-delay", 0, "wait this long after the answer before sending --digits")
	fs.StringVar(&o.record, "record", "", "write what is heard to this WAV file (16-bit PCM at the codec's rate)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "longest call, counted from the answer (at most 1h)")
	fs.DurationVar(&o.linger, "linger", 3*time.Second, "after the audio is sent, keep listening this long before hanging up")
	fs.StringVar(&o.codec, "codec", "PCMU", "codec offered first: PCMU, PCMA, G722 (or opus in an opus build)")
	fs.StringVar(&o.from, "from", "caller", "user part of the From URI")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "how long to wait for the answer")
	fs.StringVar(&o.localIP, "local-ip", "", "address of the SIP and RTP sockets (default: the one that routes to the target)")
	fs.StringVar(&o.logLevel, "log-level", "warn", "log level of the caller's SIP and RTP logs on standard error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, exitOK
		}
		return o, exitUsageIO
	}
	bad := func(format string, args ...any) (callOptions, int) {
		fmt.Fprintf(stderr, "callstream call: "+format+"\n", args...)
		return o, exitUsageIO
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "callstream call: want one SIP URI")
		fs.Usage()
		return o, exitUsageIO
	}
	var err error
	if o.target, o.to, o.transport, err = parseSIPURI(fs.Arg(0)); err != nil {
		return bad("%v", err)
	}
	if err := sipcaller.CheckDigits(o.digits); err != nil {
		return bad("--digits: %v", err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case set["say"] && set["wav"]:
		return bad("--say and --wav: give one of them")
	case set["say"] && strings.TrimSpace(o.say) == "":
		return bad("--say: no text")
	case utf8.RuneCountInString(o.say) > tts.MaxText:
		return bad("--say: %d characters, at most %d", utf8.RuneCountInString(o.say), tts.MaxText)
	case !set["say"] && (set["voice"] || set["language"]):
		return bad("--voice and --language choose --say's voice: give --say too")
	}
	switch {
	case o.duration <= 0 || o.duration > maxCallDuration:
		return bad("--duration %s: want more than 0 and at most %s", o.duration, maxCallDuration)
	case o.timeout <= 0:
		return bad("--timeout %s: want more than 0", o.timeout)
	case o.linger < 0 || o.digitsDelay < 0:
		return bad("--linger and --digits-delay cannot be negative")
	}
	return o, -1
}

// parseSIPURI splits sip:[user@]host[:port][;params] (the "sip:" is
// optional) into the host:port to call, the user part and the transport.
func parseSIPURI(s string) (target, user, transport string, err error) {
	rest := s
	if i := strings.IndexByte(rest, ':'); i > 0 && (strings.EqualFold(rest[:i], "sip") || strings.EqualFold(rest[:i], "sips")) {
		if strings.EqualFold(rest[:i], "sips") {
			return "", "", "", fmt.Errorf("%q: sips (TLS) is not supported; use sip:", s)
		}
		rest = rest[i+1:]
	}
	rest, params, _ := strings.Cut(rest, ";")
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(k, "transport") {
			transport = strings.ToLower(v)
			if transport != "udp" && transport != "tcp" {
				return "", "", "", fmt.Errorf("%q: transport %q: want udp or tcp", s, v)
			}
		}
	}
	user = "callstream"
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		user, rest = rest[:at], rest[at+1:]
		if i := strings.IndexByte(user, ':'); i >= 0 {
			user = user[:i] // a password has no place here
		}
	}
	if rest == "" || strings.ContainsAny(rest, "/?# ") {
		return "", "", "", fmt.Errorf("%q: not a SIP URI; want sip:[user@]host[:port]", s)
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		host, port = strings.Trim(rest, "[]"), "5060"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", "", fmt.Errorf("%q: bad port %q", s, port)
	}
	if user == "" {
		user = "callstream"
	}
	return net.JoinHostPort(host, port), user, transport, nil
}

// localIPFor returns the address to bind the caller's sockets to: flag if
// set, else the local address the system routes target through (loopback
// for a gateway on this machine).
func localIPFor(flag, target string) (netip.Addr, error) {
	if flag != "" {
		a, err := netip.ParseAddr(flag)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("--local-ip %q: not an IP address", flag)
		}
		return a, nil
	}
	// A UDP "connection" sends nothing: it only picks the route.
	c, err := net.Dial("udp", target)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("no route to %s: %w", target, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}
