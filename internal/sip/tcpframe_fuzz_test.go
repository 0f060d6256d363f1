package sip

import (
	"bytes"
	"errors"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// tcpSeed is two INVITEs back to back on one TCP connection, the second
// with a body, as a carrier's trunk sends them.
const tcpSeed = "INVITE sip:bob@127.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK1\r\n" +
	"From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\n" +
	"Call-ID: a@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n" +
	"OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK2\r\n" +
	"From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\n" +
	"Call-ID: b@x\r\nCSeq: 2 OPTIONS\r\nContent-Length: 4\r\n\r\nv=0\n"

// FuzzTCPFraming feeds a SIP-over-TCP byte stream to the stream parser the
// SIP server's TCP and TLS connections use, cut into reads at fuzzed
// places. However TCP delivers the bytes, the messages framed must be the
// same as from one read of the whole stream (up to the first framing
// error, which closes the connection; garbage may be refused a message
// earlier or later), and the parser never holds more than one
// maximum-size message.
func FuzzTCPFraming(f *testing.F) {
	f.Add([]byte(tcpSeed), []byte{3, 200, 7})
	f.Add([]byte(tcpSeed+tcpSeed), []byte{1})
	f.Add([]byte("INVITE sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\n"), []byte{5})
	f.Add(bytes.Repeat([]byte("X-Long: aaaaaaaaaaaaaaaa\r\n"), 4000), []byte{250, 250})
	f.Fuzz(func(t *testing.T, stream []byte, cuts []byte) {
		if len(stream) > 1<<18 {
			return
		}
		whole, wholeErr := frame([][]byte{stream})
		var reads [][]byte
		rest := stream
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if len(cuts) > 0 {
				n = min(n, int(cuts[i%len(cuts)])+1)
			}
			reads = append(reads, rest[:n])
			rest = rest[n:]
		}
		split, splitErr := frame(reads)
		// Garbage may be refused at a different place when split (the
		// connection is closed either way); what both framed must agree.
		n := min(len(whole), len(split))
		for i := 0; i < n; i++ {
			if whole[i] != split[i] {
				t.Fatalf("message %d differs when the stream is split:\nwhole: %q\nsplit: %q", i, whole[i], split[i])
			}
		}
		if wholeErr == nil && splitErr == nil && len(whole) != len(split) {
			t.Fatalf("%d messages whole, %d split", len(whole), len(split))
		}
		for _, err := range []error{wholeErr, splitErr} {
			if errors.Is(err, errHeld) {
				t.Fatal(err)
			}
		}
	})
}

var errHeld = errors.New("parser holds more than a maximum-size message")

// frame runs reads through one stream parser and returns the messages
// framed, as text, and the first framing error.
func frame(reads [][]byte) ([]string, error) {
	p := sip.NewParser().NewSIPStream()
	defer p.Close()
	var out []string
	for _, r := range reads {
		err := p.ParseSIPStream(r, func(m sip.Message) { out = append(out, m.String()) })
		if errors.Is(err, sip.ErrParseSipPartial) {
			err = nil
		}
		if err != nil {
			return out, err
		}
		if held := p.Buffer().Len(); held > sip.ParseMaxMessageLength+len(r) {
			return out, errHeld
		}
	}
	return out, nil
}
