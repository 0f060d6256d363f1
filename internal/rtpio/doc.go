// Package rtpio is the gateway side of RTP for one call: a UDP socket taken
// from a port range (PortPool, Conn), a receive loop that latches to the
// caller's source and turns its G.711 packets into in-order 20 ms frames
// and RFC 4733 digits (Receiver), a packet writer
// (Sender) and a drift-free ticker for the media clock (Pacer).
//
// Only G.711 is carried: PCMU (payload type 0) and PCMA (8), 8000 samples/s,
// one byte per sample, 160 bytes per 20 ms frame, plus telephone-event on a
// negotiated dynamic payload type.
package rtpio
