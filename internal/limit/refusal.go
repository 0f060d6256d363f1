package limit

// Refusal names a bound that refused something, as the label of
// callstream_refusals_total.
type Refusal string

// The refusals the gateway counts.
const (
	WSMessageTooBig  Refusal = "ws_message_size"       // an app's WebSocket message was over WSMessage
	MarksPending     Refusal = "pending_marks"         // a Twilio mark pushed out the oldest one
	ControlQueueFull Refusal = "control_queue"         // a message to an app did not fit its socket's queue
	SIPConnsFull     Refusal = "sip_connections"       // a SIP TCP/TLS connection over SIPConns was closed
	SIPConnIdle      Refusal = "sip_idle"              // a SIP TCP/TLS connection was closed for idling
	SIPAcceptError   Refusal = "sip_accept"            // accept failed (e.g. no file descriptors) and backed off
	CallsFull        Refusal = "max_calls"             // an INVITE over MaxCalls got 503
	InviteRate       Refusal = "invite_rate"           // an INVITE over its source's rate got 503
	SIPSource        Refusal = "sip_source"            // an INVITE from outside the allow list got 403
	SIPAuth          Refusal = "sip_auth"              // an INVITE failed digest authentication
	SessionMinSE     Refusal = "session_min_se"        // an INVITE asked for a session interval below Min-SE (422)
	SessionExpired   Refusal = "session_expired"       // a call whose session timer ran out was hung up
	CallDuration     Refusal = "max_call_duration"     // a call reached MaxCallDuration
	HoldTimeout      Refusal = "hold_timeout"          // a call stayed on hold past HoldTimeout
	RTPSource        Refusal = "rtp_source"            // an RTP packet from a source other than the caller's was dropped
	Sessions         Refusal = "scenario_sessions"     // a scenario session over Sessions was refused
	SessionRate      Refusal = "scenario_session_rate" // a POST /scenarios over SessionRate was refused
	ScenarioHeap     Refusal = "scenario_heap"         // a scenario session grew the heap past ScenarioHeap and ended
	APIToken         Refusal = "api_token"             // an HTTP request without a valid bearer token got 401
	URLPolicy        Refusal = "url_policy"            // an outbound fetch or dial was refused by the URL policy
	HTTPConnsFull    Refusal = "http_connections"      // an HTTP connection over HTTPConns was closed
	HTTPAcceptError  Refusal = "http_accept"           // an HTTP accept failed (e.g. no file descriptors) and backed off
	AccessRate       Refusal = "scenario_access_rate"  // a request to a session's access URL over its rate got 429
	Draining         Refusal = "draining"              // an INVITE or session was refused while draining
)

// All returns every refusal the gateway counts, so that metrics can show
// each at zero before it first happens. A refusal added above must be added
// here too (a test checks).
func All() []Refusal {
	return []Refusal{
		WSMessageTooBig, MarksPending, ControlQueueFull, SIPConnsFull, SIPConnIdle, SIPAcceptError,
		CallsFull, InviteRate, SIPSource, SIPAuth, SessionMinSE, SessionExpired, CallDuration,
		HoldTimeout, RTPSource, Sessions, SessionRate, ScenarioHeap, APIToken, URLPolicy,
		HTTPConnsFull, HTTPAcceptError, AccessRate, Draining,
	}
}

// Counter counts refusals; *gateway.Metrics is one. Implementations must not block.
type Counter interface {
	Refused(r Refusal)
}

// Count counts r on c; a nil c counts nothing.
func Count(c Counter, r Refusal) {
	if c != nil {
		c.Refused(r)
	}
}
