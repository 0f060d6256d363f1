package sipcaller

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/callstream/callstream/internal/codec"
)

func TestOfferCodecs(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string // m= formats, then the rtpmap lines
	}{
		{Config{}, "0 8|0 PCMU/8000|8 PCMA/8000"},
		{Config{Codec: "pcma"}, "8 0|8 PCMA/8000|0 PCMU/8000"},
		{Config{Codec: "PCMA", PayloadType: 96, Only: true}, "96|96 PCMA/8000"},
		{Config{Codec: "PCMA", PayloadType: 96}, "96 0|96 PCMA/8000|0 PCMU/8000"},
		{Config{Codec: "G722"}, "9 0 8|9 G722/8000|0 PCMU/8000|8 PCMA/8000"},
		{Config{Codec: "g722", Only: true, CN: true, DTMF: true}, "9 13 101|9 G722/8000|13 CN/8000|101 telephone-event/8000"},
	} {
		codecs, err := offerCodecs(tc.cfg)
		if err != nil {
			t.Fatalf("%+v: %v", tc.cfg, err)
		}
		o := &offerSDP{ip: netip.MustParseAddr("127.0.0.1"), port: 4000, codecs: codecs, version: 1}
		if tc.cfg.CN {
			o.cn = cnPayloadType
		}
		if tc.cfg.DTMF {
			o.dtmf = dtmfPayloadType
		}
		body, err := o.marshal("sendrecv")
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(tc.want, "|")
		if !strings.Contains(string(body), "m=audio 4000 RTP/AVP "+parts[0]+"\r\n") {
			t.Errorf("%+v: offer\n%s\nwant formats %q", tc.cfg, body, parts[0])
		}
		for _, m := range parts[1:] {
			if !strings.Contains(string(body), "a=rtpmap:"+m+"\r\n") {
				t.Errorf("%+v: offer lacks rtpmap %q:\n%s", tc.cfg, m, body)
			}
		}
		// The caller's own parser reads back what it offers.
		r, err := parseSDP(body)
		if err != nil || len(r.codecs) != len(codecs) || r.rtp.Port() != 4000 {
			t.Errorf("%+v: parsed %+v, %v", tc.cfg, r, err)
		}
	}
	for _, bad := range []string{"G729", "L16", "speex"} {
		if _, err := offerCodecs(Config{Codec: bad}); !errors.Is(err, ErrUnsupportedCodec) {
			t.Errorf("codec %q: %v, want ErrUnsupportedCodec", bad, err)
		}
	}
	codecs, err := offerCodecs(Config{Codec: "opus", Only: true})
	if codec.OpusAvailable {
		if err != nil || codecs[0].String() != "111 opus/48000/2" {
			t.Errorf("opus offer %v, %v", codecs, err)
		}
	} else if !errors.Is(err, ErrUnsupportedCodec) || !errors.Is(err, codec.ErrUnavailable) {
		t.Errorf("opus without the opus build: %v", err)
	}
}

// tone returns n samples of a sine of freq Hz at rate, amplitude amp.
func tone(n, rate int, freq, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return out
}

// snr returns the signal-to-noise ratio (dB) of got against want, at the
// delay (0 to maxLag samples) that fits best, skipping the first skip
// samples (the codec settling).
func snr(want, got []int16, maxLag, skip int) (float64, int) {
	best, bestLag := math.Inf(-1), 0
	for lag := 0; lag <= maxLag; lag++ {
		var sig, noise float64
		for i := skip; i+lag < len(got) && i < len(want); i++ {
			d := float64(got[i+lag]) - float64(want[i])
			sig += float64(want[i]) * float64(want[i])
			noise += d * d
		}
		if v := 10 * math.Log10(sig/max(noise, 1)); v > best {
			best, bestLag = v, lag
		}
	}
	return best, bestLag
}

// A G.722 call offers G722/8000 on 9 with CN, sends SendPCM's 16 kHz audio
// as 160-byte packets whose timestamps step by 160 (the 8000 Hz clock),
// and decodes what it hears back to 16 kHz PCM; CN and silence are counted.
func TestG722CallRoundTrip(t *testing.T) {
	leakCheck(t)
	gw := rtpSocket(t)
	port := addrOf(gw).Port()
	p := startPeer(t, func(string) string {
		return sdpAnswer(int(port), "9 13", "a=rtpmap:9 G722/8000", "a=rtpmap:13 CN/8000")
	})
	call := dialPeer(t, p, Config{Codec: "G722", CN: true})
	offer := string(<-p.invite)
	for _, line := range []string{" RTP/AVP 9 0 8 13\r\n", "a=rtpmap:9 G722/8000\r\n", "a=rtpmap:13 CN/8000\r\n"} {
		if !strings.Contains(offer, line) {
			t.Fatalf("offer lacks %q:\n%s", line, offer)
		}
	}
	if call.Format() != codec.G722 || call.Codec() != "G722" || call.PayloadType() != 9 || call.CNType() != 13 {
		t.Fatalf("call format %v pt %d cn %d", call.Format(), call.PayloadType(), call.CNType())
	}

	// Caller -> peer: 10 frames of a 1 kHz tone at 16 kHz.
	sent := tone(10*320, 16000, 1000, 8000)
	if err := call.SendPCM(context.Background(), sent); err != nil {
		t.Fatal(err)
	}
	pkts := readRTP(t, gw, 10)
	dec, _ := codec.NewDecoder(codec.G722)
	var got []int16
	for i, pk := range pkts {
		if pk.PayloadType != 9 || len(pk.Payload) != 160 || pk.SequenceNumber != pkts[0].SequenceNumber+uint16(i) ||
			pk.Timestamp != pkts[0].Timestamp+uint32(160*i) || pk.Marker != (i == 0) {
			t.Fatalf("packet %d: %+v, %d bytes", i, pk.Header, len(pk.Payload))
		}
		got, _ = dec.Decode(got, pk.Payload)
	}
	if s, lag := snr(sent, got, 64, 320); s < 20 {
		t.Errorf("the peer decoded the caller's G.722 tone at %.1f dB SNR (lag %d), want >= 20", s, lag)
	}

	// Peer -> caller: 10 tone frames, 5 silent frames, one CN packet.
	enc, _ := codec.NewEncoder(codec.G722)
	heard := tone(10*320, 16000, 440, 6000)
	send := func(seq uint16, pt uint8, payload []byte) {
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 7},
			Payload: payload}).Marshal()
		if _, err := gw.WriteToUDPAddrPort(b, call.LocalRTP()); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 15 {
		frame := make([]int16, 320)
		if i < 10 {
			frame = heard[i*320 : (i+1)*320]
		}
		payload, _ := enc.Encode(nil, frame)
		send(uint16(i), 9, payload) // one socket to one socket on loopback: received in order
	}
	send(15, 13, []byte{60})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := call.WaitPackets(ctx, 16); err != nil {
		t.Fatal(err)
	}
	pcm, err := call.HeardPCM()
	if err != nil || len(pcm) != 15*320 {
		t.Fatalf("HeardPCM: %d samples, %v; want %d", len(pcm), err, 15*320)
	}
	if s, lag := snr(heard, pcm[:10*320], 64, 320); s < 20 {
		t.Errorf("the caller decoded the peer's G.722 tone at %.1f dB SNR (lag %d), want >= 20", s, lag)
	}
	st := call.ReceiveStats()
	// The first silent frame still carries the tone's decoder tail.
	if st.Packets != 16 || st.Audio != 15 || st.CN != 1 || st.Silent < 4 || st.Silent > 5 || st.Gaps.N != 14 {
		t.Errorf("receive stats %+v", st)
	}
}

// A PCMA call on dynamic payload type 96 sends with 96 and hears A-law.
func TestDynamicPCMA(t *testing.T) {
	leakCheck(t)
	gw := rtpSocket(t)
	p := startPeer(t, func(string) string {
		return sdpAnswer(int(addrOf(gw).Port()), "96", "a=rtpmap:96 PCMA/8000")
	})
	call := dialPeer(t, p, Config{Codec: "PCMA", PayloadType: 96, Only: true})
	if offer := string(<-p.invite); !strings.Contains(offer, " RTP/AVP 96\r\n") || !strings.Contains(offer, "a=rtpmap:96 PCMA/8000\r\n") {
		t.Fatalf("offer:\n%s", offer)
	}
	if call.Format() != codec.PCMA || call.PayloadType() != 96 {
		t.Fatalf("call %v on %d", call.Format(), call.PayloadType())
	}
	// A short last frame is padded with A-law silence.
	if err := call.SendAudio(context.Background(), bytes.Repeat([]byte{0x55}, 200)); err != nil {
		t.Fatal(err)
	}
	pkts := readRTP(t, gw, 2)
	if pkts[0].PayloadType != 96 || pkts[1].Timestamp-pkts[0].Timestamp != 160 ||
		!bytes.Equal(pkts[1].Payload, append(bytes.Repeat([]byte{0x55}, 40), bytes.Repeat([]byte{codec.ALawSilence}, 120)...)) {
		t.Fatalf("packets %+v %+v", pkts[0].Header, pkts[1].Header)
	}
}

// An answer without any codec the caller offered ends the call attempt
// with ErrNoCommonCodec and a BYE.
func TestAnswerWithoutOfferedCodec(t *testing.T) {
	leakCheck(t)
	p := startPeer(t, func(string) string { return sdpAnswer(4000, "18", "a=rtpmap:18 G729/8000") })
	client := newClient(t, ClientConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := client.Dial(ctx, Config{Target: p.addr, To: "x", From: "y"})
	if err == nil || !strings.Contains(err.Error(), "G729") {
		t.Fatalf("Dial: %v, want an error naming the answer's codec", err)
	}
}

// An Opus call (a build with the opus tag) offers opus/48000/2 on 111,
// steps timestamps by 960 per 20 ms packet and decodes what it hears.
func TestOpusCallRoundTrip(t *testing.T) {
	if !codec.OpusAvailable {
		t.Skip("Opus needs a build with the opus tag")
	}
	leakCheck(t)
	gw := rtpSocket(t)
	p := startPeer(t, func(string) string {
		return sdpAnswer(int(addrOf(gw).Port()), "111", "a=rtpmap:111 opus/48000/2")
	})
	call := dialPeer(t, p, Config{Codec: "opus", Only: true})
	if offer := string(<-p.invite); !strings.Contains(offer, " RTP/AVP 111\r\n") || !strings.Contains(offer, "a=rtpmap:111 opus/48000/2\r\n") {
		t.Fatalf("offer:\n%s", offer)
	}
	if call.Format() != codec.Opus || call.PayloadType() != 111 {
		t.Fatalf("call %v on %d", call.Format(), call.PayloadType())
	}
	if err := call.SendAudio(context.Background(), make([]byte, 160)); err == nil {
		t.Error("SendAudio cut opus bytes")
	}
	sent := tone(10*960, 48000, 1000, 8000)
	if err := call.SendPCM(context.Background(), sent); err != nil {
		t.Fatal(err)
	}
	pkts := readRTP(t, gw, 10)
	dec, _ := codec.NewDecoder(codec.Opus)
	var got []int16
	for i, pk := range pkts {
		if pk.PayloadType != 111 || pk.Timestamp != pkts[0].Timestamp+uint32(960*i) {
			t.Fatalf("packet %d: %+v", i, pk.Header)
		}
		var err error
		if got, err = dec.Decode(got, pk.Payload); err != nil {
			t.Fatal(err)
		}
	}
	if s, lag := snr(sent, got, 1000, 2*960); s < 10 {
		t.Errorf("the peer decoded the caller's Opus tone at %.1f dB SNR (lag %d), want >= 10", s, lag)
	}
}
