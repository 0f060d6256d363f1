package sip

import "errors"

var (
	// ErrNoCommonCodec means the offer holds no codec the gateway can use
	// (PCMU, PCMA, G722, opus in a build with it), Answer was asked for a
	// codec the caller did not offer, or a new offer mid-call drops the
	// call's codec.
	ErrNoCommonCodec = errors.New("sip: no common codec")
	// ErrNoAudio means the SDP body is missing or holds no usable audio stream.
	ErrNoAudio = errors.New("sip: no audio stream in offer")
	// ErrAlreadyResponded means a final response (answer or rejection) was already sent.
	ErrAlreadyResponded = errors.New("sip: final response already sent")
	// ErrNotAnswered means the call was never answered, so there is no session to end.
	ErrNotAnswered = errors.New("sip: call not answered")
	// ErrCallEnded means the dialog is already over.
	ErrCallEnded = errors.New("sip: call ended")
	// ErrNoAnswer means the ACK to a 200 OK that carried the gateway's offer
	// (the INVITE had no SDP) carried no usable answer.
	ErrNoAnswer = errors.New("sip: no usable SDP answer in the ACK")
	// ErrAckTimeout means the caller never acknowledged the 200 OK.
	ErrAckTimeout = errors.New("sip: no ACK for 200 OK")
	// ErrInvalidStatus means Reject was given a code outside 300-699.
	ErrInvalidStatus = errors.New("sip: invalid final status code")
	// ErrServerStarted means ListenAndServe was called more than once.
	ErrServerStarted = errors.New("sip: server already started")
	// ErrNotListening means Dial was called before the server listens or
	// after it began shutting down.
	ErrNotListening = errors.New("sip: server not listening")
	// ErrDialCancelled means an outgoing call was given up before its answer.
	ErrDialCancelled = errors.New("sip: outgoing call cancelled")
)
