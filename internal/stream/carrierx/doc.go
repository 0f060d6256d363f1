// Package carrierx speaks the WebSocket media format of CarrierX FlexML
// <Stream>: the JSON text messages CarrierX sends to an app and the ones an
// app sends back on a bidirectional stream.
//
// Gateway to app, in order (sequenceNumber is a JSON number from 1):
//
//	{"event":"connected","protocol":"Call","version":"0.2.0"}
//	{"event":"start","sequenceNumber":1,"start":{"callId":"…","tracks":["inbound","outbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000},"customParameters":{"First Name":"John"}}}
//	{"event":"media","sequenceNumber":2,"media":{"track":"inbound","chunk":1,"timestamp":0,"payload":"…"}}
//	{"event":"stop","sequenceNumber":N,"stop":{"callId":"…"}}
//
// CarrierX has no dtmf event and neither issues nor answers mark events.
//
// App to gateway:
//
//	{"event":"media","media":{"payload":"…"}}   audio to play (base64)
//	{"event":"clear"}                           drop queued audio
//	{"event":"mark",…}                          decoded, then ignored by the engine
//
// Other events decode as stream.MsgUnknown; unknown fields (such as a
// streamSid sent by a Twilio-minded app) are ignored.
package carrierx
