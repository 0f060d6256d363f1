// Package flexml parses and validates FlexML documents, the XML call
// instructions that a callstream application returns.
//
// Parse checks a whole document before any of it runs and reports every
// problem at once, each with its line and column:
//
//	<?xml version="1.0" encoding="UTF-8"?>
//	<Response>
//	  <Start>
//	    <Stream url="wss://example.com/audio" name="rec" track="both">
//	      <Parameter name="First Name" value="John"/>
//	    </Stream>
//	  </Start>
//	  <Play>https://example.com/hello.wav</Play>
//	  <Stop>
//	    <Stream name="rec"/>
//	  </Stop>
//	  <Connect>
//	    <Stream url="/bot"/>
//	  </Connect>
//	  <Hangup/>
//	</Response>
//
// Supported verbs are Start, Stop, Connect, Pause, Play, Gather, Dtmf,
// Hangup, Reject and Redirect, with the nouns Stream and Parameter (and
// Dtmf inside Play). Dial, Say, Record, Sms and Override (and the nouns
// Number and File), and Gather's speech input, are recognised but refused
// with an error that wraps ErrNotSupported. Unknown elements and
// attributes are errors.
//
// The package does no I/O: relative URLs are returned as written for the
// caller to resolve against the document's own URL.
package flexml
