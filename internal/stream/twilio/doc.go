// Package twilio speaks the Twilio Media Streams format, so that apps
// written for Twilio's <Stream> work unchanged against the gateway.
//
// Gateway to app (sequenceNumber, chunk and timestamp are JSON strings;
// sequenceNumber counts from "1" after connected):
//
//	{"event":"connected","protocol":"Call","version":"1.0.0","streamSid":"MZ…"}
//	{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC…","streamSid":"MZ…","callSid":"CA…","tracks":["inbound"],"customParameters":{…},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZ…"}
//	{"event":"media","sequenceNumber":"2","media":{"track":"inbound","chunk":"1","timestamp":"0","payload":"…"},"streamSid":"MZ…"}
//	{"event":"dtmf","streamSid":"MZ…","sequenceNumber":"3","dtmf":{"track":"inbound_track","digit":"5"}}
//	{"event":"mark","sequenceNumber":"4","streamSid":"MZ…","mark":{"name":"…"}}
//	{"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC…","callSid":"CA…"},"streamSid":"MZ…"}
//
// App to gateway:
//
//	{"event":"media","streamSid":"MZ…","media":{"payload":"…"}}   audio to play (base64)
//	{"event":"mark","streamSid":"MZ…","mark":{"name":"…"}}         echoed once the audio before it has played
//	{"event":"clear","streamSid":"MZ…"}                            drop queued audio
//
// Other events decode as stream.MsgUnknown; unknown fields are ignored.
package twilio
