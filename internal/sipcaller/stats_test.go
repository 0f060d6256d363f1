package sipcaller

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/callstream/callstream/internal/codec"
)

func TestSummarizeGaps(t *testing.T) {
	ms := time.Millisecond
	var gaps []time.Duration
	for i := range 100 {
		g := 20 * ms
		switch {
		case i < 97: // within 1 ms either way
			g += time.Duration(i%3-1) * ms
		case i == 97:
			g = 17 * ms
		default:
			g = 25 * ms
		}
		gaps = append(gaps, g)
	}
	got := SummarizeGaps(gaps)
	want := Gaps{N: 100, P50: 20 * ms, P99: 25 * ms, Max: 25 * ms, P99Deviation: 5 * ms}
	if got != want {
		t.Errorf("gaps %+v, want %+v", got, want)
	}
	if g := SummarizeGaps(gaps[:97]); g.P99Deviation != ms || g.P50 != 20*ms {
		t.Errorf("steady gaps %+v", g)
	}
	if g := SummarizeGaps(nil); g != (Gaps{}) {
		t.Errorf("no gaps %+v", g)
	}
}

// The caller counts the gateway's packets by kind, the audio that was
// silence, and the inter-arrival times of audio packets only.
func TestReceiveStats(t *testing.T) {
	gw := rtpSocket(t)
	handler, invites := answering(gw)
	e := newEnv(t, handler)
	call := e.dial(Config{DTMF: true, CN: true})
	recvInvite(t, invites)
	if call.CNType() != 0 {
		// The gateway's SIP layer does not answer CN (yet): nothing counts on it.
		t.Logf("the gateway kept CN on %d", call.CNType())
	}

	send := func(seq int, pt uint8, payload []byte) {
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: uint16(seq),
			Timestamp: uint32(seq) * 160, SSRC: 3}, Payload: payload}).Marshal()
		if _, err := gw.WriteToUDPAddrPort(b, call.LocalRTP()); err != nil {
			t.Fatal(err)
		}
	}
	loud := codec.EncodeULaw(nil, tone(160, 8000, 1000, 8000))
	start := time.Now()
	for i := range 20 {
		time.Sleep(time.Until(start.Add(time.Duration(i) * 20 * time.Millisecond)))
		payload := loud
		if i >= 15 {
			payload = bytes.Repeat([]byte{codec.ULawSilence}, 160)
		}
		send(i, 0, payload)
	}
	send(20, 13, []byte{70})                   // comfort noise (static 13)
	send(21, 101, []byte{1, 0x8a, 0x03, 0x20}) // a telephone-event
	send(22, 96, []byte{1, 2, 3})              // something else
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := call.WaitPackets(ctx, 23); err != nil {
		t.Fatal(err)
	}
	st := call.ReceiveStats()
	if st.Packets != 23 || st.Audio != 20 || st.Silent != 5 || st.CN != 1 || st.DTMF != 1 || st.Other != 1 || st.Gaps.N != 19 {
		t.Fatalf("stats %+v", st)
	}
	// Paced at 20 ms: generous bounds, a busy machine delays some.
	if st.Gaps.P50 < 10*time.Millisecond || st.Gaps.P50 > 40*time.Millisecond || st.Gaps.Max < st.Gaps.P99 {
		t.Errorf("gaps %+v", st.Gaps)
	}
}
