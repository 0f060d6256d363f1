package rtpio

import (
	"net/netip"
	"time"

	"github.com/callstream/callstream/internal/limit"
)

const (
	// latchGrace is how long a latch to a source other than the caller's
	// SDP address stays provisional: a valid packet from the SDP address
	// within it takes the latch over.
	latchGrace = 2 * time.Second
	// foreignWarnEvery is how often a call logs the packets it keeps
	// dropping from unexpected sources.
	foreignWarnEvery = time.Minute
)

// latch is the Receiver's source latch, owned by the read loop.
//
// The rule: the latch opens with the caller's SDP address as the expected
// one. The first valid RTP packet latches the receiver to its source
// address and port. When that source is the expected address (or none is
// known) the latch is firm at once; when it is another address (a caller
// behind NAT sends from its public mapping, not the private address its
// SDP names) the latch is provisional for latchGrace, and a valid packet
// from the expected address within it takes the latch over: when both
// send in the first moments, the one the SDP names is the caller.
// Once latched, datagrams from any other source are dropped before they
// are parsed, counted as Foreign and as limit.RTPSource refusals; they
// never touch the sequence state nor LastPacket. A new SSRC from the
// latched source is the caller's new stream and is accepted (sequence
// tracking restarts). Relatch (a re-INVITE moved the caller) opens the
// latch again with the new SDP address expected, under the same rule: the
// new path may be behind NAT too, so the receiver cannot require the new
// SDP address itself.
type latch struct {
	gen      uint64         // the Relatch generation this state follows
	expect   netip.AddrPort // the caller's SDP address; zero: none known
	source   netip.AddrPort // the latched source (after Relatch: the last one, until the next latch)
	latched  bool
	until    int64  // provisional: until when (unix ns) expect may take over; 0: firm
	warnedAt int64  // unix ns of the last foreign-source warning; 0: none yet
	warnedN  uint64 // Foreign count that warning reported
}

// sdpAddr returns a, unmapped, as an expected source; zero for an invalid
// or unspecified address (no preference).
func sdpAddr(a netip.AddrPort) netip.AddrPort {
	if !a.IsValid() || a.Addr().IsUnspecified() || a.Port() == 0 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// Relatch opens the source latch again: the caller's media moved (a
// re-INVITE gave remote as its new RTP address). The next valid packet
// latches, preferring remote within the first 2 s (see ReceiverConfig.
// Remote). Safe to call from any goroutine.
func (r *Receiver) Relatch(remote netip.AddrPort) {
	a := sdpAddr(remote)
	r.expect.Store(&a)
	r.source.Store(nil)
	r.relatch.Add(1)
}

// Source returns the source address the receiver is latched to; zero
// before the first packet or after Relatch until the next one.
func (r *Receiver) Source() netip.AddrPort {
	if p := r.source.Load(); p != nil {
		return *p
	}
	return netip.AddrPort{}
}

// reopenLatch follows a Relatch of generation gen.
func (r *Receiver) reopenLatch(gen uint64) {
	r.lt.gen = gen
	if p := r.expect.Load(); p != nil {
		r.lt.expect = *p
	}
	r.lt.latched, r.lt.until = false, 0
	r.source.Store(nil)
	r.log.Debug("rtp source latch reopened", "sdp", r.lt.expect)
}

// admits reports whether a datagram from from may go on to be parsed;
// takeover is set when from is the expected address taking over a
// provisional latch. It does not allocate.
func (r *Receiver) admits(from netip.AddrPort) (ok, takeover bool) {
	if !r.lt.latched || from == r.lt.source {
		return true, false
	}
	if r.lt.until != 0 && from == r.lt.expect {
		if time.Now().UnixNano() < r.lt.until {
			return true, true
		}
		r.lt.until = 0 // the grace is over: the latch is firm
	}
	return false, false
}

// latchTo latches the receiver to from, a valid packet's source.
func (r *Receiver) latchTo(from netip.AddrPort) {
	switch {
	case r.lt.latched:
		// The SDP address takes over: what came before was another
		// stream, whose sequence is not the caller's.
		r.log.Info("rtp source latched to the caller's SDP address", "source", from, "was", r.lt.source)
		r.restartStream()
	case r.lt.source.IsValid() && from != r.lt.source:
		// Latched again after Relatch, to a new path.
		r.log.Debug("rtp source latched after a move", "source", from, "was", r.lt.source, "sdp", r.lt.expect)
		r.restartStream()
	default:
		r.log.Debug("rtp source latched", "source", from, "sdp", r.lt.expect)
	}
	r.lt.latched, r.lt.source, r.lt.until = true, from, 0
	if r.lt.expect.IsValid() && from != r.lt.expect {
		r.lt.until = time.Now().Add(latchGrace).UnixNano()
	}
	a := from
	r.source.Store(&a)
}

// dropForeign drops a datagram from a source other than the latched one:
// it is counted, and logged at most once per foreignWarnEvery.
func (r *Receiver) dropForeign(from netip.AddrPort) {
	n := r.foreign.Add(1)
	limit.Count(r.refusals, limit.RTPSource)
	now := time.Now().UnixNano()
	if r.lt.warnedAt != 0 && now-r.lt.warnedAt < int64(foreignWarnEvery) {
		return
	}
	r.lt.warnedAt, r.lt.warnedN = now, n
	r.log.Warn("RTP from an unexpected source dropped", "source", from, "latched", r.lt.source, "dropped", n)
}

// reportForeign logs, when Run ends, the drops no warning reported yet.
func (r *Receiver) reportForeign() {
	if n := r.foreign.Load(); n > r.lt.warnedN {
		r.lt.warnedN = n
		r.log.Warn("RTP from an unexpected source dropped", "latched", r.lt.source, "dropped", n, "final", true)
	}
}

// restartStream forgets the sequence and event state: the next packet
// starts a new stream.
func (r *Receiver) restartStream() {
	r.flushHeld()
	r.started = false
	r.eventSeen = false
}
