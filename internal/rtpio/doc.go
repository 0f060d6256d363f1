// Package rtpio is the gateway side of RTP for one call: a UDP socket taken
// from a port range (PortPool, Conn), a receive loop that latches to the
// caller's source, hands its audio packets to the call's jitter buffer
// (ReceiverConfig.Jitter) and reports RFC 4733 digits (Receiver), a packet
// writer for audio and RFC 3389 comfort noise (Sender) and a drift-free
// ticker for the media clock (Pacer).
//
// The Receiver and Sender carry any codec's payloads: the Sender's
// timestamps step by the codec's 20 ms of clock ticks (SetFrameTicks: 160
// for G.711 and G.722, 960 for Opus). Without a jitter buffer the Receiver
// orders G.711 packets itself and cuts them into 160-byte frames
// (HandleFrame), as tools that read a plain G.711 stream use it.
package rtpio
