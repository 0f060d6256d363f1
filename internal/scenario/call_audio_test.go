package scenario_test

import (
	"bytes"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/pacetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// waitHeard waits until the audible packets the caller received hold
// audio.
func waitHeard(t *testing.T, g *gw, c *sipcaller.Call, audio []byte) {
	t.Helper()
	err := c.WaitReceived(g.Context(10*time.Second), fmt.Sprintf("%d bytes of audio", len(audio)), func(ps []sipcaller.Packet) bool {
		return bytes.Contains(sipcaller.Payloads(audible(audioPackets(ps))), audio)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitAudible waits until the caller has received n audible packets, and
// returns them.
func waitAudible(t *testing.T, g *gw, c *sipcaller.Call, n int) []sipcaller.Packet {
	t.Helper()
	err := c.WaitReceived(g.Context(10*time.Second), fmt.Sprintf("%d audible packets", n), func(ps []sipcaller.Packet) bool {
		return len(audible(audioPackets(ps))) >= n
	})
	if err != nil {
		t.Fatal(err)
	}
	return audible(received(c))
}

// received returns the caller's received audio packets.
func received(c *sipcaller.Call) []sipcaller.Packet { return audioPackets(c.Received()) }

// audioPackets returns the audio packets among ps (not DTMF events).
func audioPackets(ps []sipcaller.Packet) []sipcaller.Packet {
	var out []sipcaller.Packet
	for _, p := range ps {
		if len(p.Payload) > 0 && p.PayloadType < 96 {
			out = append(out, p)
		}
	}
	return out
}

// checkPacing checks the arrivals of a run of packets at the caller: a
// median gap of 20 ms ± 1 ms and, when strict, the whole run on a 20 ms
// grid (see pacetest).
func checkPacing(t *testing.T, ps []sipcaller.Packet, strict bool) {
	t.Helper()
	if len(ps) < 40 {
		t.Fatalf("only %d packets", len(ps))
	}
	at := make([]time.Time, len(ps))
	for i, p := range ps {
		at[i] = p.Arrival
	}
	if strict {
		if err := pacetest.Check(at, 20*time.Millisecond); err != nil {
			t.Errorf("pacing at the caller: %v", err)
		}
		return
	}
	if st := pacetest.Measure(at, 20*time.Millisecond); st.Median < 19*time.Millisecond || st.Median > 21*time.Millisecond {
		t.Errorf("pacing at the caller: median gap %s over %d packets", st.Median, st.N)
	}
}

// audible returns the packets that are not µ-law silence, in order.
func audible(ps []sipcaller.Packet) []sipcaller.Packet {
	var out []sipcaller.Packet
	for _, p := range ps {
		if bytes.Count(p.Payload, []byte{0xFF}) < len(p.Payload) {
			out = append(out, p)
		}
	}
	return out
}

// detectDTMF returns the keys heard in 8 kHz samples, 20 ms at a time
// (Goertzel power at the eight DTMF frequencies; a key counts when its row
// and column tones clearly dominate), each run of a key once.
func detectDTMF(pcm []int16) string {
	rows := []float64{697, 770, 852, 941}
	cols := []float64{1209, 1336, 1477, 1633}
	keys := [4][4]byte{{'1', '2', '3', 'A'}, {'4', '5', '6', 'B'}, {'7', '8', '9', 'C'}, {'*', '0', '#', 'D'}}
	power := func(x []int16, f float64) float64 {
		k := 2 * math.Cos(2*math.Pi*f/8000)
		var s1, s2 float64
		for _, v := range x {
			s0 := float64(v) + k*s1 - s2
			s2, s1 = s1, s0
		}
		return s1*s1 + s2*s2 - k*s1*s2
	}
	best := func(x []int16, fs []float64) (int, bool) {
		i0, p0, p1 := 0, 0.0, 0.0
		for i, f := range fs {
			switch p := power(x, f); {
			case p > p0:
				i0, p0, p1 = i, p, p0
			case p > p1:
				p1 = p
			}
		}
		return i0, p0 > 10*p1 && p0 > 1e9
	}
	var out []byte
	var last byte
	for off := 0; off+160 <= len(pcm); off += 160 {
		x := pcm[off : off+160]
		r, okR := best(x, rows)
		c, okC := best(x, cols)
		key := byte(0)
		if okR && okC {
			key = keys[r][c]
		}
		if key != 0 && key != last {
			out = append(out, key)
		}
		last = key
	}
	return string(out)
}
