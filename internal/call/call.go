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
	"sync"
	"sync/atomic"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/jitter"
	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/rtpio"
	"github.com/callstream/callstream/internal/sip"
	"github.com/callstream/callstream/internal/stream"
)

// Defaults of a call.
const (
	DefaultRTPTimeout = 30 * time.Second
	frame             = codec.FrameDuration
	// maxFrameBytes is the largest frame inside a call: 20 ms of L16 at
	// 16 kHz (an Opus call); G.711 and G.722 frames are 160 bytes.
	maxFrameBytes = 640
	// cnInterval is how often, in frames, a comfort noise packet is
	// repeated while nothing plays to a caller that takes CN (200 ms).
	cnInterval = 10
	// cnLevel is the noise level comfort noise packets carry: -70 dBov,
	// a quiet room (RFC 3389 section 3.1).
	cnLevel = 70
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
	// JitterDelay fixes the inbound jitter buffer's delay (20 ms to 1 s,
	// --jitter-buffer); zero adapts it between 20 and 200 ms.
	JitterDelay time.Duration
	// QuietRTP sends the caller nothing while nothing plays
	// (--rtp-silence=false); by default every 20 ms tick sends a packet:
	// silence in the call's codec, or comfort noise to a caller that
	// offered CN.
	QuietRTP bool
	// OnAnswer, when set, runs once as an incoming call is answered (its
	// media started), with the call's lock held: it must not block nor
	// call the call's methods.
	OnAnswer func()
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

// Tap receives a call's audio, one frame per track and slot of the call's
// media clock. *stream.Flow is a Tap.
type Tap interface {
	// Wants reports whether the tap takes track t (the call produces the
	// mixed track only while some tap wants it).
	Wants(t stream.Track) bool
	// Attach is called once by AddTap, under the clock's lock, before any
	// Push: start is the first slot the tap gets. From start on, the call
	// pushes exactly one frame per slot to every track the tap wants
	// (silence when nothing), in slot order per track.
	Attach(start uint64)
	// Push hands the frame of track t for slot. Inbound and outbound
	// frames are in the call's Format; mixed frames are
	// codec.L16(Format().Rate), both sides decoded and summed with
	// saturation. fr.Payload is valid only during the call. Push runs on
	// the media clock goroutine and must not block or allocate.
	Push(t stream.Track, slot uint64, fr codec.Frame)
}

// Source is audio played to the caller, one 20 ms frame per tick in the
// call's Format. ReadFrame fills dst, exactly one frame
// (Format().MaxFrameBytes() bytes: 160, or 640 for an Opus call), and
// reports whether it had audio (false: silence).
type Source interface {
	ReadFrame(dst []byte) bool
}

// FormatSource is a Source that adapts to the call it plays to (a Relay
// between calls of different codecs): SetSource tells it the call's
// Format before its first ReadFrame.
type FormatSource interface {
	Source
	UseFormat(f codec.Format)
}

// Stats counts a call's media.
type Stats struct {
	FramesIn        uint64       // inbound slots with the caller's audio (the rest are concealed)
	Concealed       uint64       // inbound slots concealed: nothing arrived by their deadline
	FramesOut       uint64       // RTP frames of audio sent to the caller
	SilenceOut      uint64       // RTP frames of silence sent while nothing played
	ComfortNoise    uint64       // RTP comfort noise packets sent while nothing played
	Jitter          jitter.Stats // the inbound jitter buffer's estimates and counters
	LateFrames      uint64       // frames the source had only lateGrace after their tick (sent then)
	Ticks           uint64       // clock ticks
	ClockSkipped    uint64       // ticks skipped after a long stall
	RTP             rtpio.ReceiverStats
	DTMF            uint64
	EndReason       string
	EndCause        sip.EndCause // how the SIP dialog ended (EndNone: never set up, or still up)
	AnsweredAt      time.Time
	RemoteRTP       netip.AddrPort
	LocalRTP        netip.AddrPort
	NegotiatedCodec string // the SDP name of the codec ("PCMU")
	Codec           string // what RTP carried, as an rtpmap gives it ("PCMA/8000", "G722/8000(16000)")
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
	wire        codec.Format // what RTP carries (set before media starts)
	offeredType uint8        // the payload type the gateway's late offer gave the codec
	renumbered  bool         // the caller's answer gave the codec another payload type than offeredType
	answeredAt  time.Time
	// mediaAt is when the media started (the answer, or the 183 of early
	// media): the bounds count from it. Set before the clock runs the
	// call, never changed after.
	mediaAt  time.Time
	dtmfSubs []*dtmfSub

	clock time.Time // wall and monotonic time of frame index 0, a tick of the shared clock
	// arrival times the caller's packets for the jitter buffer: how long
	// after slot 0 they came (nil: time.Since(clock); tests set it).
	arrival  func() time.Duration
	mclock   *Clock // the shared clock (owned when ownClock)
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
	lane      int    // the clock's lane the call ticks in (fixed at its creation)
	inLane    int    // the lane that takes its inbound frames (guarded by the clock's mu)
	clocked   bool   // the clock runs the call (guarded by the clock's mu)
	inTick    uint64 // the slot (+1) whose inbound frame went out ahead of its tick (tickInbound); 0: none
	playing   bool
	outSilent bool         // outFrame holds silence already
	unsent    int          // frames not sent since the last one: the sender's timestamp skips them
	quietFor  uint64       // ticks since the last audio frame was sent (comfort noise pacing)
	started   bool         // media started: taps attach at lastTick+1
	flushed   bool         // the jitter buffer went to the taps at once: the call is ending
	pending   []Tap        // taps added before the media started, attached at its first tick
	mix       *mixer       // decodes and sums both tracks, made when a tap first wants them
	format    codec.Format // the frames inside the call: PCMU until the media starts
	edge      *rtpEdge     // the codecs at the RTP edge; nil until the media starts
	dtmfType  uint8        // the telephone-event payload type the caller takes (0: none)
	dtmfTicks int          // 20 ms at the telephone-event's clock
	digits    *digitJob    // the digits being sent; nil: none

	flows atomic.Pointer[[]tapEntry]
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

	framesIn, concealed, framesOut, silenceOut, cnOut, ticks, dtmf atomic.Uint64
	levelIn, levelOut                                              levelMeter // the tracks' audio levels (media path)
	lateFrames                                                     atomic.Uint64
	skipped                                                        atomic.Uint64
	// liveFormat is the call's Format, read without a lock (a source may
	// be set from a goroutine that holds a lock its ReadFrame takes).
	liveFormat atomic.Pointer[codec.Format]
	// liveJitter is the edge's jitter buffer, for counters read without
	// the call's lock.
	liveJitter atomic.Pointer[jitter.Buffer]

	flowMu sync.Mutex // serialises flow list updates

	outFrame [maxFrameBytes]byte // tickMu
	inFrame  [maxFrameBytes]byte // tickMu
}

// LateReader is a Source that tells a frame that is merely late from a
// partial one: when the clock looks again within the same tick,
// ReadLateFrame plays only a whole frame (*stream.Playout is one).
type LateReader interface {
	ReadLateFrame(dst []byte) bool
}

type sourceBox struct{ s Source }

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
	c.lane = c.mclock.assign()
	c.clock, c.base = c.mclock.grid(c.lane)
	c.format = codec.PCMU // until the media starts
	empty := []tapEntry{}
	c.flows.Store(&empty)
	return c
}

// dialogEnded ends the call when its SIP dialog ends. It runs on the
// goroutine that ended the dialog, which may hold the call's lock (an
// answer that got no ACK), so the call ends in a goroutine of its own: one
// short-lived goroutine per call instead of one waiting for its whole life,
// counted in the call's WaitGroup so Close waits for it. Once Close waits,
// the call has ended and there is nothing left to do.
func (c *Call) dialogEnded() {
	// The caller hung up: its last words, still in the jitter buffer, go
	// to the streams now, before the controller (whose context the
	// dialog's end cancels) stops them. (c.dlg was set before this
	// callback was registered.)
	if c.dlg.EndCause() == sip.EndRemoteBye {
		c.flushInbound()
	}
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

// Answer answers the call (200 OK) and starts its media. Answering twice
// is a no-op. After StartEarlyMedia the 200 OK repeats the 183's SDP and
// the media already running goes on (same RTP port, SSRC and sequence).
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
	if c.started {
		return c.answerEarlyLocked()
	}
	if !c.inv.LateOffer && len(c.inv.Offer.Codecs) == 0 {
		return sip.ErrNoCommonCodec
	}
	conn, err := c.cfg.Ports.Listen(c.cfg.RTPIP)
	if err != nil {
		return fmt.Errorf("answer: rtp port: %w", err)
	}
	c.resetTickLocked()
	// For a late offer the codec is the one the caller's ACK picked.
	agreed, err := c.inv.Accept(conn.LocalAddr())
	if err != nil {
		_ = conn.Close()
		c.noteAnswerErrLocked(err)
		return fmt.Errorf("answer: %w", err)
	}
	c.conn = conn
	c.offeredType, c.renumbered = agreed.OfferedType, agreed.OfferedType != agreed.Codec.PayloadType
	if err := c.startMediaLocked(agreed.Codec, agreed.DTMFType, agreed.DTMFClock, agreed.CNType); err != nil {
		_ = conn.Close()
		c.conn = nil
		c.localReason = "codec not available"
		return fmt.Errorf("answer: %w", err)
	}
	c.markAnsweredLocked()
	return nil
}

// resetTickLocked makes the media clock run the call from the shared
// clock's next tick; until then the current slot is the one before it.
func (c *Call) resetTickLocked() {
	_, m := c.mclock.grid(c.lane)
	c.tickMu.Lock()
	c.first = m + 1 - c.base
	c.lastTick = c.first - 1
	c.tick.Store(c.first - 1)
	c.tickMu.Unlock()
}

// noteAnswerErrLocked keeps, as the end reason to come, why a 200 OK went
// unconfirmed.
func (c *Call) noteAnswerErrLocked(err error) {
	switch {
	case errors.Is(err, sip.ErrNoAnswer):
		c.localReason = "no usable SDP answer in the ACK"
	case errors.Is(err, sip.ErrAckTimeout):
		c.localReason = "no ACK for 200 OK"
	}
}

// markAnsweredLocked marks the call answered once its 200 OK was
// acknowledged and its media runs.
func (c *Call) markAnsweredLocked() {
	c.answered = true
	c.answeredAt = time.Now()
	c.log.Info("call answered", "codec", c.wire.String(), "rtp_local", c.conn.LocalAddr(), "rtp_remote", c.dlg.RemoteRTP())
	if c.cfg.OnAnswer != nil {
		c.cfg.OnAnswer()
	}
}

// startMediaLocked starts the media of a call on c.conn (answered, or in
// early media; the caller marks it answered): the
// codecs of its RTP edge, the RTP sender and receiver (which feeds the
// jitter buffer), and the call's share of the media clock. dtmfType and
// dtmfClock are the telephone-event the caller takes (0: none), cnType the
// comfort noise payload type (-1: none).
func (c *Call) startMediaLocked(sc sip.Codec, dtmfType uint8, dtmfClock, cnType int) error {
	conn := c.conn
	wire, err := wireFormat(sc)
	if err != nil {
		return err
	}
	edge, err := newRTPEdge(wire, cnType, c.cfg.JitterDelay)
	if err != nil {
		return err
	}
	c.codec, c.wire = sc, wire
	remote := c.dlg.RemoteRTP()
	sender := rtpio.NewSender(conn, remote, sc.PayloadType)
	sender.SetFrameTicks(wire.FrameTicks())
	// The receiver latches to the caller's source, preferring its SDP
	// address; a re-INVITE that moves the caller opens the latch again.
	// Audio goes into the jitter buffer, timed on the call's clock.
	arrival := c.arrival
	if arrival == nil {
		arrival = c.phasedArrival(edge.jb.StartDelay())
	}
	recv := rtpio.NewReceiver(conn, rtpio.ReceiverConfig{
		AudioTypes: c.audioTypes(sc),
		DTMFType:   dtmfType,
		Logger:     c.log,
		Remote:     remote,
		Refusals:   c.cfg.Refusals,
		Jitter:     edge.jb,
		Arrival:    arrival,
	})
	c.sender, c.recv = sender, recv
	c.dlg.OnRemoteChange(func(a netip.AddrPort) {
		sender.SetRemote(a)
		recv.Relatch(a)
	})
	c.liveRecv.Store(c.recv)
	c.liveJitter.Store(edge.jb)
	c.flowMu.Lock()
	c.tickMu.Lock()
	// The media runs from the shared clock's next tick (an answer that
	// waited for its ACK starts later than it was reckoned).
	if _, m := c.mclock.grid(c.lane); m+1-c.base > c.lastTick+1 {
		c.first = m + 1 - c.base
		c.lastTick = c.first - 1
		c.tick.Store(c.lastTick)
	}
	c.edge, c.format = edge, edge.format
	c.dtmfType, c.dtmfTicks = dtmfType, dtmfClock/int(time.Second/frame)
	c.liveFormat.Store(&edge.format)
	c.started = true
	for _, t := range c.pending {
		c.attachLocked(t, c.nextSlotLocked())
	}
	c.pending = nil
	c.tickMu.Unlock()
	c.flowMu.Unlock()
	c.mediaAt = time.Now()
	c.wg.Add(1)
	go c.receiveLoop()
	c.mclock.add(c)
	return nil
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

// Format returns the format of every frame inside the call: what its taps
// get on the inbound and outbound tracks and what its sources play. It is
// the negotiated codec (PCMU, PCMA, G722), or L16 at 16 kHz for an Opus
// call, whose packets are decoded and encoded at the RTP edge. Before the
// media starts it is PCMU.
func (c *Call) Format() codec.Format {
	if f := c.liveFormat.Load(); f != nil {
		return *f
	}
	return codec.PCMU
}

// Stats returns the call's counters.
func (c *Call) Stats() Stats {
	c.mu.Lock()
	st := Stats{EndReason: c.endReason, AnsweredAt: c.answeredAt, NegotiatedCodec: c.codec.Name, Codec: c.wire.String()}
	if c.wire.Name == "" {
		st.Codec = ""
	}
	if jb := c.liveJitter.Load(); jb != nil {
		st.Jitter = jb.Stats()
	}
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
	st.Concealed = c.concealed.Load()
	st.FramesOut = c.framesOut.Load()
	st.SilenceOut = c.silenceOut.Load()
	st.ComfortNoise = c.cnOut.Load()
	st.LateFrames = c.lateFrames.Load()
	st.Ticks = c.ticks.Load()
	st.ClockSkipped = c.skipped.Load()
	st.DTMF = c.dtmf.Load()
	return st
}

// SendInDialog sends a SIP MESSAGE or INFO with body in the dialog of an
// answered incoming call and waits for its answer (sip.MaxMessageBody
// bounds the body).
func (c *Call) SendInDialog(ctx context.Context, method, contentType string, body []byte) error {
	if c.inv == nil {
		return fmt.Errorf("%s: %w on outgoing calls", method, errInDialogOutgoing)
	}
	return c.inv.SendInDialog(ctx, method, contentType, body)
}

// errInDialogOutgoing is a MESSAGE or INFO on a call the gateway placed.
var errInDialogOutgoing = errors.New("in-dialog requests are not supported yet")

// OnInDialog registers fn for the MESSAGE and INFO requests the caller of
// an incoming call sends in its dialog (fn runs on the SIP goroutine: it
// must not block).
func (c *Call) OnInDialog(fn func(sip.InDialogRequest)) {
	if c.inv != nil {
		c.inv.OnRequest(fn)
	}
}
