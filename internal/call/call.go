// Package call owns one phone call: its SIP dialog, its RTP socket and the
// media clock that paces everything the call sends. Controllers (the FlexML
// interpreter, a scenario) drive a call through its methods and never touch
// sockets; streams attach to its media through stream.Flow.
package call

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/rtpio"
	"github.com/callstream/callstream/internal/sip"
	"github.com/callstream/callstream/internal/stream"
)

// Defaults of a call.
const (
	DefaultRTPTimeout = 30 * time.Second
	frame             = media.FrameDuration
	frameBytes        = media.FrameSamples
	// inboundLag is how far (in frames) the caller's audio may trail the
	// call's clock before the inbound track is filled with silence. Lost
	// packets are reported by the receiver as soon as a later one arrives;
	// this fill is for a caller that stops sending (hold, silence
	// suppression, a stall), so it waits 100 ms rather than shift audio
	// that is merely late.
	inboundLag = 5
	// fillLag is where a fill leaves the inbound track: 3 frames behind the
	// clock, 40 ms short of the trigger.
	fillLag = 3
	// mixLag is how far (in frames) the mixed track trails the clock: the
	// caller's frame for a slot has normally arrived one frame later; two
	// leave 20 ms for network jitter.
	mixLag = 2
	// inboundAhead is how far (in frames) the caller's audio may run ahead
	// of the call's clock before frames are dropped: 1 s, so a caller that
	// catches up after a stall of its own (a burst of frames) loses
	// nothing, while a caller whose clock runs fast cannot grow the track
	// ahead of real time without bound.
	inboundAhead = 50
	ringSize     = 8
	// startGrace is how long (in frames) the inbound track waits for the
	// caller's first packet after the answer before it starts with silence.
	startGrace = 10
)

// Errors of a call.
var (
	ErrEnded       = errors.New("call ended")
	ErrNotAnswered = errors.New("call not answered")
)

// Config configures a call.
type Config struct {
	Sid        string      // the CallSid
	Invite     *sip.Invite // an incoming call's dialog (borrowed; the SIP server owns it); nil for Dial
	Ports      *rtpio.PortPool
	RTPIP      netip.Addr    // address the RTP socket binds to
	RTPTimeout time.Duration // no RTP for this long hangs up (default 30 s)
	Logger     *slog.Logger
	// Clock is the media clock shared by calls (borrowed). Nil: the call
	// runs a clock of its own.
	Clock *Clock
	// MaxCallDuration hangs up an answered call this long after its
	// answer; HoldTimeout hangs up a call the caller holds (sending
	// nothing) this long. Zero or negative: no bound.
	MaxCallDuration time.Duration
	HoldTimeout     time.Duration
	// Refusals counts what the call's bounds refuse or end: RTP from a
	// source other than the caller's, calls ended by the bounds above
	// (borrowed; nil: not counted).
	Refusals limit.Counter
}

// Dialer places outgoing calls; *sip.Server is one.
type Dialer interface {
	Dial(ctx context.Context, cfg sip.DialConfig) (*sip.Outgoing, error)
}

// dialog is the SIP side of an answered call: an incoming INVITE or an
// outgoing call.
type dialog interface {
	Done() <-chan struct{}
	OnEnd(fn func())
	EndCause() sip.EndCause
	RemoteRTP() netip.AddrPort
	OnRemoteChange(fn func(netip.AddrPort))
	Hangup(ctx context.Context) error
}

// Parties names the two ends of a call as its SIP messages give them.
type Parties struct {
	From        string            // user part of From (the caller)
	FromDisplay string            // From display name
	To          string            // user part of To (the called party)
	FromURI     string            // full From URI
	ToURI       string            // full To URI
	Headers     map[string]string // the incoming INVITE's (or the outgoing 200 OK's) headers, lower-case names
	Outgoing    bool              // the gateway placed the call
}

// Tap receives a call's audio: Push gets one 20 ms µ-law frame per track
// and slot, with the frame's index on the call's clock; a tap ignores the
// tracks it does not want (Wants tells the call which tracks it must
// produce at all, e.g. the mixed one). Push runs on the media path (the
// RTP goroutine or the media clock) and must not block; frame is valid
// only during the call. *stream.Flow is a Tap.
type Tap interface {
	Wants(t stream.Track) bool
	Push(t stream.Track, index uint64, frame []byte)
}

// Source is audio played to the caller, one 20 ms µ-law frame per tick.
// ReadFrame fills dst and reports whether it had audio (false: silence).
type Source interface {
	ReadFrame(dst []byte) bool
}

// Stats counts a call's media.
type Stats struct {
	FramesIn        uint64 // inbound frames handed to streams (audio + loss silence)
	SilenceFilled   uint64 // inbound frames filled with silence by the clock
	InboundDropped  uint64 // inbound frames dropped: running too far ahead of the clock
	FramesOut       uint64 // RTP frames sent to the caller
	LateFrames      uint64 // frames the source had only lateGrace after their tick (sent then)
	Ticks           uint64 // clock ticks
	ClockSkipped    uint64 // ticks skipped after a long stall
	RTP             rtpio.ReceiverStats
	DTMF            uint64
	EndReason       string
	EndCause        sip.EndCause // how the SIP dialog ended (EndNone: never set up, or still up)
	AnsweredAt      time.Time
	RemoteRTP       netip.AddrPort
	LocalRTP        netip.AddrPort
	NegotiatedCodec string
}

// Call is one phone call. Its methods are safe for concurrent use.
type Call struct {
	cfg    Config
	log    *slog.Logger
	inv    *sip.Invite // incoming calls only
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	dlg         dialog // set for incoming calls at New, for outgoing ones once answered
	parties     Parties
	dialErr     error         // why an outgoing call was not answered
	connected   chan struct{} // outgoing calls: closed when answered
	answered    bool
	ended       bool
	endReason   string
	localReason string // why we hung up, set before the BYE goes out
	conn        *rtpio.Conn
	sender      *rtpio.Sender
	recv        *rtpio.Receiver
	codec       sip.Codec
	alaw        bool  // the codec is PCMA, whatever its payload type (set before media starts)
	offeredType uint8 // the payload type the gateway's late offer gave the codec
	renumbered  bool  // the caller's answer gave the codec another payload type than offeredType
	answeredAt  time.Time
	dtmfSubs    []*dtmfSub

	clock    time.Time // wall and monotonic time of frame index 0, a tick of the shared clock
	mclock   *Clock    // the shared clock (owned when ownClock)
	ownClock bool

	// What the shared clock touches for every call on every tick, kept
	// together so that a tick costs a call few cache lines; the frame
	// buffers come last.
	over atomic.Bool   // the call has ended (set just before its context is cancelled)
	base uint64        // the shared clock's tick that is this call's index 0
	tick atomic.Uint64 // the call's current frame index

	// Media clock state: used only by runTick, under tickMu.
	tickMu    sync.Mutex
	first     uint64 // the call's first tick after the answer
	lastTick  uint64
	lateTick  uint64 // the tick (+1) whose frame waits for finishTick; 0: none
	playing   bool
	outSilent bool // outFrame holds silence already
	unsent    int  // frames not sent since the last one: the sender's timestamp skips them

	// Inbound track state, guarded by inMu (RTP goroutine + clock).
	inMu      sync.Mutex
	inStarted bool
	inIndex   uint64 // index the next inbound frame gets

	// The recent frames of both tracks for the mixed track, allocated when
	// a flow first wants it; set and read holding both tickMu and inMu,
	// read holding either.
	mix *mixRings

	flows atomic.Pointer[[]Tap]
	// tapTracks is every track some tap takes (a superset while a list
	// changes), so a tick skips the work for tracks nobody takes.
	tapTracks atomic.Uint32
	source    atomic.Pointer[sourceBox]

	bounded atomic.Bool // a bound (duration, hold, RTP timeout) is hanging the call up
	// liveRecv is recv, for counters read without the call's lock.
	liveRecv atomic.Pointer[rtpio.Receiver]
	// endMu guards closing: set by Close before it waits, after which the
	// dialog's end starts no goroutine.
	endMu   sync.Mutex
	closing bool

	framesIn, silenceFilled, inDropped, framesOut, ticks, dtmf atomic.Uint64
	lateFrames                                                 atomic.Uint64
	skipped                                                    atomic.Uint64

	flowMu sync.Mutex // serialises flow list updates

	outFrame  [frameBytes]byte // tickMu
	wireBuf   [frameBytes]byte // tickMu
	mixBuf    [frameBytes]byte // tickMu
	inScratch [frameBytes]byte // inMu
}

// LateReader is a Source that tells a frame that is merely late from a
// partial one: when the clock looks again within the same tick,
// ReadLateFrame plays only a whole frame (*stream.Playout is one).
type LateReader interface {
	ReadLateFrame(dst []byte) bool
}

type sourceBox struct{ s Source }

// mixRings keeps the last ringSize frames of each track, so the mixer can
// sum the inbound and outbound frames of the same slot.
type mixRings struct {
	in    [ringSize][frameBytes]byte
	inIdx [ringSize]uint64 // index+1 of the frame in each inbound slot; 0: empty
	out   [ringSize][frameBytes]byte
}

type dtmfSub struct{ fn func(digit byte) }

// New makes a call for an incoming INVITE. Nothing is sent until Answer or
// Reject. The call ends when the dialog ends, on Hangup, or on RTP timeout.
func New(cfg Config) *Call {
	if cfg.RTPTimeout <= 0 {
		cfg.RTPTimeout = DefaultRTPTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := newCall(cfg, ctx, cancel)
	c.inv = cfg.Invite
	c.dlg = cfg.Invite
	inv := cfg.Invite
	c.parties = Parties{From: inv.From, FromDisplay: inv.FromDisplay, To: inv.To, FromURI: inv.FromURI, ToURI: inv.ToURI, Headers: inv.Headers}
	c.dlg.OnEnd(c.dialogEnded)
	return c
}

func newCall(cfg Config, ctx context.Context, cancel context.CancelFunc) *Call {
	c := &Call{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, mclock: cfg.Clock}
	if c.mclock == nil {
		c.mclock, c.ownClock = NewClock(), true
	}
	c.clock, c.base = c.mclock.grid()
	empty := []Tap{}
	c.flows.Store(&empty)
	return c
}

// Dial places an outgoing call through d and returns at once: the call
// rings until Connected is closed (answered; its media runs from then on)
// or Done is (refused, cancelled, failed: DialErr says why). Hangup before
// the answer cancels the call. dc.LocalRTP is set by Dial.
func Dial(cfg Config, d Dialer, dc sip.DialConfig) *Call {
	if cfg.RTPTimeout <= 0 {
		cfg.RTPTimeout = DefaultRTPTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Invite = nil
	ctx, cancel := context.WithCancel(context.Background())
	c := newCall(cfg, ctx, cancel)
	c.connected = make(chan struct{})
	c.parties = Parties{From: dc.From, FromDisplay: dc.FromDisplay, To: userOf(dc.Target), ToURI: dc.Target, Headers: map[string]string{}, Outgoing: true}
	conn, err := cfg.Ports.Listen(cfg.RTPIP)
	if err != nil {
		c.fail(fmt.Errorf("dial: rtp port: %w", err))
		return c
	}
	c.conn = conn
	dc.LocalRTP = conn.LocalAddr()
	if dc.Logger == nil {
		dc.Logger = c.log
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		o, err := d.Dial(ctx, dc)
		if err != nil {
			c.fail(err)
			return
		}
		c.connect(o)
	}()
	return c
}

// userOf returns the user part of a dial target ("sip:bob@host" -> "bob").
func userOf(target string) string {
	t := strings.TrimSpace(target)
	if i := strings.IndexByte(t, ':'); i >= 0 && strings.EqualFold(t[:i], "sip") {
		t = t[i+1:]
	}
	if i := strings.IndexByte(t, '@'); i >= 0 {
		return t[:i]
	}
	return ""
}

// fail ends an outgoing call that was not answered.
func (c *Call) fail(err error) {
	c.mu.Lock()
	if c.dialErr == nil {
		c.dialErr = err
	}
	local := c.localReason
	c.mu.Unlock()
	reason := "call failed: " + err.Error()
	var de *sip.DialError
	switch {
	case errors.As(err, &de):
		reason = fmt.Sprintf("call failed: %d %s", de.Code, de.Reason)
	case errors.Is(err, sip.ErrDialCancelled) && local != "":
		reason = local
	}
	c.end(reason)
}

// connect starts the media of an answered outgoing call.
func (c *Call) connect(o *sip.Outgoing) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = o.Hangup(ctx)
		cancel()
		return
	}
	c.dlg = o
	c.parties.From, c.parties.To = o.From, o.To
	c.parties.FromURI, c.parties.ToURI = o.FromURI, o.ToURI
	c.parties.Headers = o.Headers
	_, m := c.mclock.grid()
	c.first = m + 1 - c.base
	c.lastTick = c.first - 1
	c.tick.Store(c.first - 1)
	c.startMediaLocked(o.Codec, o.DTMFType)
	close(c.connected)
	c.mu.Unlock()
	o.OnEnd(c.dialogEnded)
}

// dialogEnded ends the call when its SIP dialog ends. It runs on the
// goroutine that ended the dialog, which may hold the call's lock (an
// answer that got no ACK), so the call ends in a goroutine of its own: one
// short-lived goroutine per call instead of one waiting for its whole life,
// counted in the call's WaitGroup so Close waits for it. Once Close waits,
// the call has ended and there is nothing left to do.
func (c *Call) dialogEnded() {
	c.endMu.Lock()
	defer c.endMu.Unlock()
	if c.closing {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.endFromDialog()
	}()
}

// Connected is closed when an outgoing call is answered; for an incoming
// call it is nil.
func (c *Call) Connected() <-chan struct{} { return c.connected }

// DialErr says why an outgoing call ended before its answer: a
// *sip.DialError for a refusal, sip.ErrDialCancelled when it was given up.
func (c *Call) DialErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dialErr
}

// Parties returns the call's two ends.
func (c *Call) Parties() Parties {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.parties
}

// Sid returns the CallSid.
func (c *Call) Sid() string { return c.cfg.Sid }

// Invite returns the SIP dialog of an incoming call (nil for Dial).
func (c *Call) Invite() *sip.Invite { return c.inv }

// Logger returns the call's logger (carrying call_sid).
func (c *Call) Logger() *slog.Logger { return c.log }

// Context is cancelled when the call ends.
func (c *Call) Context() context.Context { return c.ctx }

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.ctx.Done() }

// Answered reports whether the call was answered.
func (c *Call) Answered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answered
}

// EndReason says why the call ended ("" while it runs).
func (c *Call) EndReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endReason
}

// endFromDialog ends the call with the reason the dialog ended.
func (c *Call) endFromDialog() {
	c.mu.Lock()
	local := c.localReason
	dlg, remote := c.dlg, "caller"
	if c.parties.Outgoing {
		remote = "callee"
	}
	c.mu.Unlock()
	switch dlg.EndCause() {
	case sip.EndCancel:
		c.end(remote + " cancelled")
	case sip.EndRemoteBye:
		c.end(remote + " hung up")
	case sip.EndSessionExpired:
		c.end(reasonSessionExpired)
	default:
		if local == "" {
			local = "dialog ended"
		}
		c.end(local)
	}
}

// end marks the call ended with reason (the first reason wins) and stops
// its goroutines.
func (c *Call) end(reason string) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.endReason = reason
	conn := c.conn
	c.mu.Unlock()
	c.log.Info("call ended", "reason", reason)
	c.over.Store(true)
	c.cancel()
	c.mclock.remove(c)
	if conn != nil {
		_ = conn.Close()
	}
}

// Answer answers the call (200 OK) and starts its media. Answering twice is a no-op.
func (c *Call) Answer() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.answered {
		return nil
	}
	if c.ended {
		return ErrEnded
	}
	if c.inv == nil {
		return errors.New("answer: the call is outgoing")
	}
	if !c.inv.LateOffer && len(c.inv.Offer.Codecs) == 0 {
		return sip.ErrNoCommonCodec
	}
	conn, err := c.cfg.Ports.Listen(c.cfg.RTPIP)
	if err != nil {
		return fmt.Errorf("answer: rtp port: %w", err)
	}
	// The media clock runs the call from the shared clock's next tick; until
	// then the current slot is the one before it.
	_, m := c.mclock.grid()
	c.first = m + 1 - c.base
	c.lastTick = c.first - 1
	c.tick.Store(c.first - 1)
	// For a late offer the codec is the one the caller's ACK picked.
	agreed, err := c.inv.Accept(conn.LocalAddr())
	if err != nil {
		_ = conn.Close()
		switch {
		case errors.Is(err, sip.ErrNoAnswer):
			c.localReason = "no usable SDP answer in the ACK"
		case errors.Is(err, sip.ErrAckTimeout):
			c.localReason = "no ACK for 200 OK"
		}
		return fmt.Errorf("answer: %w", err)
	}
	c.conn = conn
	c.offeredType, c.renumbered = agreed.OfferedType, agreed.OfferedType != agreed.Codec.PayloadType
	c.startMediaLocked(agreed.Codec, agreed.DTMFType)
	return nil
}

// startMediaLocked starts the media of an answered call on c.conn: the
// RTP sender and receiver, and the call's share of the media clock.
func (c *Call) startMediaLocked(codec sip.Codec, dtmfType uint8) {
	conn := c.conn
	c.codec = codec
	c.alaw = strings.EqualFold(codec.Name, "PCMA")
	remote := c.dlg.RemoteRTP()
	sender := rtpio.NewSender(conn, remote, codec.PayloadType)
	// The receiver latches to the caller's source, preferring its SDP
	// address; a re-INVITE that moves the caller opens the latch again.
	recv := rtpio.NewReceiver(conn, rtpio.ReceiverConfig{
		AudioTypes: c.audioTypes(codec),
		DTMFType:   dtmfType,
		Logger:     c.log,
		Remote:     remote,
		Refusals:   c.cfg.Refusals,
	})
	c.sender, c.recv = sender, recv
	c.dlg.OnRemoteChange(func(a netip.AddrPort) {
		sender.SetRemote(a)
		recv.Relatch(a)
	})
	c.liveRecv.Store(c.recv)
	c.answered = true
	c.answeredAt = time.Now()
	c.log.Info("call answered", "codec", codec.Name, "rtp_local", conn.LocalAddr(), "rtp_remote", c.dlg.RemoteRTP())
	c.wg.Add(1)
	go c.receiveLoop()
	c.mclock.add(c)
}

// audioTypes are the payload types the call takes the caller's audio on:
// the codec's, and the one the gateway's late offer gave it when the
// caller's answer renumbered it.
func (c *Call) audioTypes(codec sip.Codec) []uint8 {
	if c.renumbered {
		return []uint8{codec.PayloadType, c.offeredType}
	}
	return []uint8{codec.PayloadType}
}

// Ring sends 180 Ringing to the caller of an unanswered incoming call.
func (c *Call) Ring() error {
	c.mu.Lock()
	answered, ended := c.answered, c.ended
	c.mu.Unlock()
	switch {
	case ended:
		return ErrEnded
	case c.inv == nil:
		return errors.New("ring: the call is outgoing")
	case answered:
		return errors.New("ring: the call is answered")
	}
	if err := c.inv.Ringing(); err != nil {
		return fmt.Errorf("ring: %w", err)
	}
	return nil
}

// Reject refuses an unanswered call with a SIP final response.
func (c *Call) Reject(code int, reason string) error {
	c.mu.Lock()
	answered := c.answered
	c.mu.Unlock()
	if answered {
		return fmt.Errorf("reject %d: call already answered", code)
	}
	if c.inv == nil {
		c.Hangup(fmt.Sprintf("rejected %d %s", code, reason))
		return nil
	}
	why := fmt.Sprintf("rejected %d %s", code, reason)
	c.mu.Lock()
	if c.localReason == "" {
		c.localReason = why
	}
	c.mu.Unlock()
	err := c.inv.Reject(code, reason)
	c.end(why)
	return err
}

// Hangup ends the call: BYE when answered, else a final response code 480.
func (c *Call) Hangup(reason string) {
	c.mu.Lock()
	answered, ended, dlg := c.answered, c.ended, c.dlg
	c.mu.Unlock()
	if ended {
		return
	}
	if dlg != nil {
		select {
		case <-dlg.Done():
			// The dialog ended first (BYE, CANCEL): that is the reason.
			c.endFromDialog()
			return
		default:
		}
	}
	c.mu.Lock()
	if c.localReason == "" {
		c.localReason = reason
	}
	c.mu.Unlock()
	switch {
	case answered:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := dlg.Hangup(ctx); err != nil {
			c.log.Warn("hangup: BYE failed", "err", err)
		}
		cancel()
	case c.inv != nil:
		if err := c.inv.Reject(480, reason); err != nil {
			c.log.Warn("hangup: final response failed", "err", err)
		}
	default:
		// An outgoing call still ringing: ending the call cancels the dial.
	}
	c.end(reason)
}

// Close ends the call if it still runs and waits for its goroutines.
func (c *Call) Close() error {
	c.Hangup("call closed") // the call has ended when it returns
	c.endMu.Lock()
	c.closing = true // no goroutine is added while Close waits
	c.endMu.Unlock()
	c.wg.Wait()
	if c.ownClock {
		c.mclock.Close()
	}
	return nil
}

// Clock returns the wall time of frame index 0 and the current index.
func (c *Call) Clock() (time.Time, uint64) { return c.clock, c.tick.Load() }

// Stats returns the call's counters.
func (c *Call) Stats() Stats {
	c.mu.Lock()
	st := Stats{EndReason: c.endReason, AnsweredAt: c.answeredAt, NegotiatedCodec: c.codec.Name}
	recv, conn := c.recv, c.conn
	c.mu.Unlock()
	if recv != nil {
		st.RTP = recv.Stats()
	}
	if conn != nil {
		st.LocalRTP = conn.LocalAddr()
	}
	c.mu.Lock()
	if c.dlg != nil {
		st.RemoteRTP = c.dlg.RemoteRTP()
		st.EndCause = c.dlg.EndCause()
	}
	c.mu.Unlock()
	st.FramesIn = c.framesIn.Load()
	st.SilenceFilled = c.silenceFilled.Load()
	st.InboundDropped = c.inDropped.Load()
	st.FramesOut = c.framesOut.Load()
	st.LateFrames = c.lateFrames.Load()
	st.Ticks = c.ticks.Load()
	st.ClockSkipped = c.skipped.Load()
	st.DTMF = c.dtmf.Load()
	return st
}

// AddFlow attaches a stream flow to the call's media: from now on it gets
// the tracks it asks for, one frame per 20 ms each.
func (c *Call) AddFlow(f *stream.Flow) { c.AddTap(f) }

// RemoveFlow detaches a flow.
func (c *Call) RemoveFlow(f *stream.Flow) { c.RemoveTap(f) }

// AddTap attaches t to the call's media: from now on it gets the tracks it
// wants, one frame per 20 ms each.
func (c *Call) AddTap(t Tap) {
	if t.Wants(stream.TrackMixed) {
		// Keep both tracks' recent frames from now on, before the tap's
		// first mixed frame is due.
		c.tickMu.Lock()
		c.inMu.Lock()
		c.ensureMixLocked()
		c.inMu.Unlock()
		c.tickMu.Unlock()
	}
	c.flowMu.Lock()
	defer c.flowMu.Unlock()
	old := *c.flows.Load()
	next := make([]Tap, 0, len(old)+1)
	next = append(next, old...)
	next = append(next, t)
	c.tapTracks.Store(uint32(tracksOf(next))) // before the list: a tick never misses the new tap's tracks
	c.flows.Store(&next)
}

// tracksOf returns the tracks any of taps takes.
func tracksOf(taps []Tap) stream.TrackSet {
	var s stream.TrackSet
	for _, t := range taps {
		for tr := stream.TrackInbound; tr <= stream.TrackMixed; tr++ {
			if t.Wants(tr) {
				s = s.With(tr)
			}
		}
	}
	return s
}

// ensureMixLocked allocates the mixer's rings (slots not yet written mix
// as silence). tickMu and inMu must be held.
func (c *Call) ensureMixLocked() {
	if c.mix != nil {
		return
	}
	c.mix = new(mixRings)
	for i := range c.mix.out {
		fillSilence(c.mix.out[i][:])
	}
}

// RemoveTap detaches t.
func (c *Call) RemoveTap(f Tap) {
	c.flowMu.Lock()
	defer c.flowMu.Unlock()
	old := *c.flows.Load()
	next := make([]Tap, 0, len(old))
	for _, g := range old {
		if g != f {
			next = append(next, g)
		}
	}
	c.flows.Store(&next)
	c.tapTracks.Store(uint32(tracksOf(next)))
}

// SetSource makes s the audio played to the caller, replacing what played
// before (nil: silence). It returns the source it replaced.
func (c *Call) SetSource(s Source) Source {
	var box *sourceBox
	if s != nil {
		box = &sourceBox{s: s}
	}
	old := c.source.Swap(box)
	if old == nil {
		return nil
	}
	return old.s
}

// ClearSource stops s if it is still the source playing.
func (c *Call) ClearSource(s Source) {
	for {
		cur := c.source.Load()
		if cur == nil || cur.s != s {
			return
		}
		if c.source.CompareAndSwap(cur, nil) {
			return
		}
	}
}

// OnDTMF registers fn for every DTMF digit the caller sends; the returned
// func unregisters it. fn runs on the RTP goroutine and must not block.
func (c *Call) OnDTMF(fn func(digit byte)) (cancel func()) {
	sub := &dtmfSub{fn: fn}
	c.mu.Lock()
	c.dtmfSubs = append(c.dtmfSubs, sub)
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, s := range c.dtmfSubs {
			if s == sub {
				c.dtmfSubs = append(c.dtmfSubs[:i], c.dtmfSubs[i+1:]...)
				return
			}
		}
	}
}

// receiveLoop runs the RTP receiver until the socket closes.
func (c *Call) receiveLoop() {
	defer c.wg.Done()
	if err := c.recv.Run((*inbound)(c)); err != nil {
		c.log.Warn("rtp receive ended", "err", err)
	}
}

// inbound adapts Call to rtpio.Handler without exporting the methods.
type inbound Call

// HandleFrame takes one in-order frame of the caller's audio.
func (h *inbound) HandleFrame(payload []byte, pt uint8, lost bool) {
	c := (*Call)(h)
	c.inMu.Lock()
	if !c.inStarted {
		c.inStarted = true
		c.inIndex = c.tick.Load()
	}
	if c.inIndex > c.tick.Load()+inboundAhead {
		c.inMu.Unlock()
		c.inDropped.Add(1)
		return
	}
	frame := c.inScratch[:]
	switch {
	case lost || len(payload) == 0:
		fillSilence(frame)
	case c.alaw:
		media.TranscodeALawToULaw(frame, payload)
	case len(payload) == frameBytes:
		frame = payload // PCMU passes through as it came
	default:
		n := copy(frame, payload)
		fillSilence(frame[n:])
	}
	c.emitInboundLocked(frame)
	c.inMu.Unlock()
}

// HandleDTMF takes one DTMF digit.
func (h *inbound) HandleDTMF(digit byte) {
	c := (*Call)(h)
	c.dtmf.Add(1)
	// The digit is the caller's secret (a PIN, a card number): DEBUG only.
	c.log.Debug("dtmf received", "digit", string(digit))
	c.mu.Lock()
	subs := append([]*dtmfSub(nil), c.dtmfSubs...)
	c.mu.Unlock()
	for _, s := range subs {
		s.fn(digit)
	}
}

// emitInboundLocked hands the inbound frame with the next index to the
// flows and keeps it for the mixer. inMu must be held.
func (c *Call) emitInboundLocked(frame []byte) {
	idx := c.inIndex
	c.inIndex++
	if m := c.mix; m != nil {
		slot := idx % ringSize
		copy(m.in[slot][:], frame)
		m.inIdx[slot] = idx + 1
	}
	for _, f := range *c.flows.Load() {
		f.Push(stream.TrackInbound, idx, frame)
	}
	c.framesIn.Add(1)
}

// runTick is the call's share of the media clock, run every 20 ms by the
// shared Clock with its tick m: it plays one frame to the caller, feeds the
// outbound and mixed tracks, keeps the inbound track continuous and watches
// for RTP inactivity. It must not block. It reports whether the frame to
// play is late: the source was playing and had nothing yet; the clock then
// runs finishTick for the same tick lateGrace later.
func (c *Call) runTick(m uint64) (late bool) {
	c.tickMu.Lock()
	defer c.tickMu.Unlock()
	if c.over.Load() || m < c.base {
		return false
	}
	n := m - c.base
	if n <= c.lastTick {
		return false
	}
	if c.lateTick != 0 {
		// A late frame whose finishTick never ran (cannot happen with
		// the shared clock, which finishes before the next tick).
		c.playOut(c.lateTick-1, false)
		c.lateTick = 0
	}
	if skipped := n - c.lastTick - 1; skipped > 0 {
		c.skipped.Add(skipped)
		c.unsent += int(skipped)
	}
	c.lastTick = n
	c.tick.Store(n)
	c.ticks.Add(1)

	// Outbound: what plays to the caller now. A source that was playing
	// and has nothing yet gets lateGrace more: the audio for this slot
	// may be in a socket whose reader goroutine has not run yet.
	box := c.source.Load()
	if box != nil {
		c.outSilent = false // a source may write into the frame even when it has nothing
	}
	got := box != nil && box.s.ReadFrame(c.outFrame[:])
	late = !got && c.playing
	if late {
		c.lateTick = n + 1
	} else {
		c.playOut(n, got)
	}
	// Inbound continuity: silence for what the caller did not send.
	c.inMu.Lock()
	if !c.inStarted && n >= c.first+startGrace {
		// The caller sent nothing since the answer: the inbound track
		// starts anyway, with silence, from the first tick.
		c.inStarted = true
		c.inIndex = c.first
	}
	if c.inStarted {
		if c.inIndex+inboundLag < n {
			// Fill to fillLag, not to the trigger, so audio that resumes
			// has room for jitter before the next fill.
			for c.inIndex+fillLag < n {
				c.emitInboundLocked(silenceFrame[:])
				c.silenceFilled.Add(1)
			}
		}
	}
	// Mixed: the inbound and outbound frames of the slot mixLag ago.
	var mixIdx uint64
	var flows []Tap
	haveMix := n >= mixLag && stream.TrackSet(c.tapTracks.Load()).Has(stream.TrackMixed)
	if haveMix {
		flows = *c.flows.Load()
		haveMix = wantsTrack(flows, stream.TrackMixed)
	}
	if haveMix {
		mixIdx = n - mixLag
		in := silenceFrame[:]
		c.ensureMixLocked() // normally done by AddTap
		if slot := mixIdx % ringSize; c.mix.inIdx[slot] == mixIdx+1 {
			in = c.mix.in[slot][:]
		}
		media.MixULaw(c.mixBuf[:], in, c.mix.out[mixIdx%ringSize][:])
	}
	c.inMu.Unlock()
	if haveMix {
		for _, f := range flows {
			f.Push(stream.TrackMixed, mixIdx, c.mixBuf[:])
		}
	}

	if n%50 == 0 {
		c.checkActivity()
	}
	return late
}

// finishTick plays the frame of tick m that runTick found late: what the
// source has now, or silence.
func (c *Call) finishTick(m uint64) {
	c.tickMu.Lock()
	defer c.tickMu.Unlock()
	if c.lateTick == 0 || m < c.base || c.lateTick != m-c.base+1 {
		return
	}
	n := c.lateTick - 1
	c.lateTick = 0
	if c.ctx.Err() != nil {
		return
	}
	got := false
	if box := c.source.Load(); box != nil {
		c.outSilent = false
		if lr, ok := box.s.(LateReader); ok {
			got = lr.ReadLateFrame(c.outFrame[:])
		} else {
			got = box.s.ReadFrame(c.outFrame[:])
		}
	}
	if got {
		c.lateFrames.Add(1)
	}
	c.playOut(n, got)
}

// playOut sends the frame of slot n to the caller (got: c.outFrame holds
// audio; else nothing is sent and the RTP clock moves on) and hands it to
// the outbound track. tickMu must be held.
func (c *Call) playOut(n uint64, got bool) {
	out := c.outFrame[:]
	if got {
		if !c.playing {
			c.sender.MarkTalkspurt()
		}
		payload := out
		if c.alaw {
			for i, b := range out {
				c.wireBuf[i] = media.ULawToALaw(b)
			}
			payload = c.wireBuf[:]
		}
		if c.unsent > 0 {
			c.sender.Skip(c.unsent)
			c.unsent = 0
		}
		if err := c.sender.WriteFrame(payload); err != nil && c.ctx.Err() == nil {
			c.log.Debug("rtp send", "err", err)
		}
		c.framesOut.Add(1)
	} else {
		if !c.outSilent {
			fillSilence(out)
		}
		c.unsent++ // the RTP timestamp moves on when the next frame is sent
	}
	c.outSilent = !got
	c.playing = got
	if m := c.mix; m != nil {
		copy(m.out[n%ringSize][:], out)
	}
	if stream.TrackSet(c.tapTracks.Load()).Has(stream.TrackOutbound) {
		for _, f := range *c.flows.Load() {
			f.Push(stream.TrackOutbound, n, out)
		}
	}
}

// wantsTrack reports whether any flow takes track t, so the clock mixes
// only for calls that stream a mixed track.
func wantsTrack(flows []Tap, t stream.Track) bool {
	for _, f := range flows {
		if f.Wants(t) {
			return true
		}
	}
	return false
}

// silenceFrame is 20 ms of µ-law silence; never written.
var silenceFrame = func() (b [frameBytes]byte) {
	for i := range b {
		b[i] = 0xFF
	}
	return b
}()

// fillSilence sets b to µ-law silence (copies, not a byte loop: it runs for
// every call on every tick that plays nothing).
func fillSilence(b []byte) {
	for len(b) > 0 {
		b = b[copy(b, silenceFrame[:]):]
	}
}
