// Package voximplant speaks the Voximplant WebSocket media format, the JSON
// text messages VoxEngine exchanges with a remote server over
// call.sendMediaTo(websocket) and websocket.sendMediaTo(call).
//
// Gateway to app (sequenceNumber is a JSON number from 0; there is no
// connected message):
//
//	{"event":"start","sequenceNumber":0,"start":{"tag":"t1","mediaFormat":{"encoding":"PCM16","sampleRate":16000},"customParameters":{"k":"v"}}}
//	{"event":"media","sequenceNumber":1,"media":{"tag":"t1","chunk":1,"timestamp":320,"payload":"…"}}
//	{"event":"stop","sequenceNumber":2,"stop":{"tag":"t1","mediaInfo":{"bytesSent":21100,"duration":124}}}
//
// duration is in milliseconds. Voximplant has no dtmf or mark events.
//
// App to gateway, the same three kinds:
//
//	start  tag, mediaFormat{encoding, sampleRate}, customParameters (an object
//	       of strings, or a JSON string holding one)
//	media  tag, chunk, timestamp (numbers or numeric strings), payload (base64)
//	stop   tag
//
// Encoding names are returned as sent, except the aliases audio/x-mulaw and
// audio/x-alaw, which become ULAW and ALAW. sequenceNumber may be a number
// or a string and is not used. Other events decode as stream.MsgUnknown.
package voximplant
