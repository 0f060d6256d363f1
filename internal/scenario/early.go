package scenario

import (
	"errors"
	"fmt"

	"github.com/callstream/callstream/internal/call"
)

// startEarlyMedia is call.startEarlyMedia(): the gateway sends 183 Session
// Progress with its SDP answer and the call's media runs before the answer,
// so what plays to the call (startPlayback, say, a player or a WebSocket
// sent to it) reaches the caller while it still rings. The call stays
// ALERTING: answer() sends the 200 OK with the same SDP, reject() and
// hangup() refuse it with a final response. It runs on the loop (no ACK
// is waited for), so media sent to the call right after it takes the
// call's codec. On an answered call, one being answered or an outgoing
// one it does nothing; a caller whose INVITE had no SDP offer gets an
// exception.
func (jc *jsCall) startEarlyMedia() {
	s := jc.s
	switch {
	case jc.outgoing:
		s.log.Warn("call.startEarlyMedia: an outgoing call's early media comes from the callee; nothing done")
		return
	case jc.ended:
		s.log.Warn("call.startEarlyMedia: the call has ended")
		return
	case jc.answering || jc.state != callAlerting:
		s.log.Debug("call.startEarlyMedia: the call is answered already; nothing done", "state", jc.state)
		return
	}
	err := jc.c.StartEarlyMedia()
	switch {
	case err == nil:
	case errors.Is(err, call.ErrEarlyLateOffer):
		s.throw(fmt.Errorf("call.startEarlyMedia: the caller's INVITE carried no SDP offer, so there is no answer to send in a 183; answer the call to play audio: %w", err))
	default:
		s.throw(fmt.Errorf("call.startEarlyMedia: %w", err))
	}
}
