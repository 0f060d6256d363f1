package edge

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// jitterFrame is frame i of a caller's numbered stream: 160 bytes that tell
// it, never µ-law silence.
func jitterFrame(i int) []byte { return bytes.Repeat([]byte{byte(0x10 + i%0xE0)}, 160) }

// A caller whose RTP comes with a duplicate and a packet far too late for
// its slot, into a gateway with a fixed 100 ms jitter buffer: the app gets
// every other frame in order, the late one's slot as silence; /metrics
// counts the duplicate and the late packet; the call's end log line names
// the codec and the jitter figures; while nothing plays the caller gets a
// packet of µ-law silence every 20 ms in one unbroken RTP stream. The
// process survives, a bystander's call is intact and resources settle.
func TestJitterBufferAndContinuousRTP(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--jitter-buffer", "100ms"}}})
	base := env.Baseline(t)
	by := env.Bystander(t)
	before := env.Metrics(t)

	routeStream(env, "jitter")
	c, err := env.Dial(t, sipcaller.Config{To: "jitter"})
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	sid := env.CallSid(t, "jitter")
	conn := env.StreamConn(t, "/jitter")

	const n, late, dup = 60, 30, 20
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * 20 * time.Millisecond)))
		if i == late {
			continue // sent at the end, long after its slot
		}
		if err := c.SendFrameAt(i, jitterFrame(i)); err != nil {
			t.Fatal(err)
		}
		if i == dup {
			if err := c.SendFrameAt(i, jitterFrame(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	servetest.Eventually(t, 10*time.Second, "the app gets the caller's last frame", func() bool {
		audio, _ := servetest.Media(t, conn)
		return bytes.Contains(audio, jitterFrame(n-1))
	})
	if err := c.SendFrameAt(late, jitterFrame(late)); err != nil {
		t.Fatal(err)
	}
	servetest.Eventually(t, 10*time.Second, "the duplicate and the late packet counted", func() bool {
		m := env.Metrics(t)
		return m.Get("callstream_rtp_duplicate_packets_total")-before.Get("callstream_rtp_duplicate_packets_total") >= 1 &&
			m.Get("callstream_rtp_late_packets_total")-before.Get("callstream_rtp_late_packets_total") >= 1
	})

	// Frames in order, each once; the late frame's slot is silence.
	audio, _ := servetest.Media(t, conn)
	first := bytes.Index(audio, jitterFrame(0))
	if first < 0 || len(audio) < first+n*160 {
		t.Fatalf("frame 0 at %d of %d bytes", first, len(audio))
	}
	for i := range n {
		got := audio[first+i*160 : first+(i+1)*160]
		want := jitterFrame(i)
		if i == late {
			want = bytes.Repeat([]byte{0xFF}, 160)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("slot of frame %d carries % x…: %s", i, got[:4], servetest.Divergence(got, want))
		}
	}

	// Nothing played: every packet to the caller is µ-law silence, one
	// stream without a hole, about one per 20 ms of the call.
	ps := c.Received()
	if elapsed := time.Since(start); len(ps) < int(elapsed/(20*time.Millisecond))/2 {
		t.Fatalf("the caller got %d packets in %v", len(ps), elapsed)
	}
	for i, p := range ps {
		if p.PayloadType != 0 || !bytes.Equal(p.Payload, bytes.Repeat([]byte{0xFF}, 160)) {
			t.Fatalf("packet %d to the caller: pt %d % x…", i, p.PayloadType, p.Payload[:4])
		}
		if i > 0 && (p.Seq != ps[i-1].Seq+1 || p.Timestamp != ps[i-1].Timestamp+160) {
			t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d", i, p.Seq, p.Timestamp, ps[i-1].Seq, ps[i-1].Timestamp)
		}
	}

	if err := c.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatalf("hangup: %v", err)
	}
	l := env.WaitLog(t, "INFO", "call released", map[string]string{"call_sid": sid})
	for _, k := range []string{"jitter", "jitter_delay", "late", "lost", "concealed", "reanchors", "codec"} {
		if _, ok := l[k]; !ok {
			t.Errorf("the call's end line has no %q: %v", k, l)
		}
	}
	if l["codec"] != "PCMU/8000" || l["jitter_delay"] != "100ms" || fmt.Sprint(l["late"]) != "1" {
		t.Errorf("end line codec %v jitter_delay %v late %v", l["codec"], l["jitter_delay"], l["late"])
	}
	m := env.Metrics(t)
	for _, name := range []string{"callstream_rtp_jitter_seconds_count", "callstream_jitter_buffer_delay_seconds_count"} {
		if m.Get(name) < 1 {
			t.Errorf("%s = %v after an answered call ended", name, m.Get(name))
		}
	}
	env.Survived(t, by, base, 10*time.Second)
}

// With --rtp-silence=false the gateway sends a caller nothing while nothing
// plays: the caller receives no packet during half a second of streaming.
func TestRTPSilenceOff(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--rtp-silence=false"}}})
	base := env.Baseline(t)
	by := env.Bystander(t)
	routeStream(env, "quiet")
	c, err := env.Dial(t, sipcaller.Config{To: "quiet"})
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	conn := env.StreamConn(t, "/quiet")
	servetest.WaitFrames(t, conn, 25) // half a second of the call's clock
	if ps := c.Received(); len(ps) != 0 {
		t.Fatalf("the caller got %d packets while nothing played", len(ps))
	}
	if err := c.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatalf("hangup: %v", err)
	}
	env.Survived(t, by, base, 10*time.Second)
}

// afterLeadingSilence returns a stream's audio from its first frame that is
// not silence: a track starts when its stream does, with a frame of silence
// for every slot before the caller's first packet has come through the
// jitter buffer (µ-law silence, or A-law silence transcoded).
func afterLeadingSilence(audio []byte) []byte {
	ulaw := bytes.Repeat([]byte{codec.ULawSilence}, 160)
	alaw := bytes.Repeat([]byte{codec.ALawToULaw(codec.ALawSilence)}, 160)
	for len(audio) >= 160 && (bytes.Equal(audio[:160], ulaw) || bytes.Equal(audio[:160], alaw)) {
		audio = audio[160:]
	}
	return audio
}
