package sipcaller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
)

// impaired is a plan with one of every impairment.
var impaired = Plan{
	Frames:     10,
	StartDelay: 100 * time.Millisecond,
	Stalls:     []Stall{{At: 2, For: 60 * time.Millisecond}},
	Silences:   []Span{{From: 6, To: 8}},
	Reorder:    []int{0},
	Duplicate:  []int{4},
	Sources:    []Source{{At: 9, SSRC: 0xBEEF, Seq: 5000, TS: 90000}},
}

// impairedWire is impaired's packets for seq 100, ts 1000, SSRC 0xAA in
// PCMU: frames 1 and 0 swapped (0 leaves with 1), 2-5 held to 200 ms and
// burst, 4 twice, 6-7 not sent and 8 marked, 9 a new source.
var impairedWire = []Wire{
	{Frame: 1, Due: 120 * time.Millisecond, Seq: 101, TS: 1160, SSRC: 0xAA},
	{Frame: 0, Due: 120 * time.Millisecond, Seq: 100, TS: 1000, SSRC: 0xAA, Marker: true},
	{Frame: 2, Due: 200 * time.Millisecond, Seq: 102, TS: 1320, SSRC: 0xAA},
	{Frame: 3, Due: 200 * time.Millisecond, Seq: 103, TS: 1480, SSRC: 0xAA},
	{Frame: 4, Due: 200 * time.Millisecond, Seq: 104, TS: 1640, SSRC: 0xAA},
	{Frame: 4, Due: 200 * time.Millisecond, Seq: 104, TS: 1640, SSRC: 0xAA},
	{Frame: 5, Due: 200 * time.Millisecond, Seq: 105, TS: 1800, SSRC: 0xAA},
	{Frame: 8, Due: 260 * time.Millisecond, Seq: 106, TS: 2280, SSRC: 0xAA, Marker: true},
	{Frame: 9, Due: 280 * time.Millisecond, Seq: 5000, TS: 90000, SSRC: 0xBEEF, Marker: true},
}

func TestPlanWire(t *testing.T) {
	got, err := impaired.Wire(codec.PCMU, 100, 1000, 0xAA)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, impairedWire) {
		t.Fatalf("wire:\n%s\nwant:\n%s", fmt.Sprint(got), fmt.Sprint(impairedWire))
	}

	// Timestamps step by the codec's frame on its clock; seq wraps.
	for f, step := range map[codec.Format]uint32{codec.G722: 160, codec.Opus: 960, codec.PCMA: 160} {
		w, err := Plan{Frames: 3}.Wire(f, 0xFFFF, 0xFFFFFFFF-10, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range w {
			if p.Seq != uint16(0xFFFF+i) || p.TS != 0xFFFFFFFF-10+uint32(i)*step || p.Marker != (i == 0) || p.Due != time.Duration(i)*20*time.Millisecond {
				t.Errorf("%v packet %d: %+v", f, i, p)
			}
		}
	}

	// Silence at the start: the first packet sent is marked; a source
	// inside a silence marks its first packet.
	w, err := Plan{Frames: 6, Silences: []Span{{0, 2}, {3, 5}}, Sources: []Source{{At: 4, SSRC: 9, Seq: 1, TS: 1}}}.Wire(codec.PCMU, 0, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []Wire{
		{Frame: 2, Due: 40 * time.Millisecond, Seq: 0, TS: 320, SSRC: 1, Marker: true},
		{Frame: 5, Due: 100 * time.Millisecond, Seq: 1, TS: 161, SSRC: 9, Marker: true},
	}
	if !slices.Equal(w, want) {
		t.Errorf("wire %v, want %v", w, want)
	}

	for name, p := range map[string]Plan{
		"no frames":          {},
		"stall outside":      {Frames: 3, Stalls: []Stall{{At: 3, For: time.Second}}},
		"empty stall":        {Frames: 3, Stalls: []Stall{{At: 1}}},
		"silence outside":    {Frames: 3, Silences: []Span{{2, 4}}},
		"reorder last":       {Frames: 3, Reorder: []int{2}},
		"reorder silent":     {Frames: 4, Reorder: []int{1}, Silences: []Span{{2, 3}}},
		"duplicate outside":  {Frames: 3, Duplicate: []int{-1}},
		"source outside":     {Frames: 3, Sources: []Source{{At: 5}}},
		"negative lateness":  {Frames: 3, StartDelay: -time.Millisecond},
		"reorder duplicated": {Frames: 3, Reorder: []int{0}, Duplicate: []int{0}},
	} {
		if _, err := p.Wire(codec.PCMU, 0, 0, 0); !errors.Is(err, ErrBadPlan) {
			t.Errorf("%s: %v, want ErrBadPlan", name, err)
		}
	}
}

func TestFramePayload(t *testing.T) {
	for _, i := range []int{0, 1, 255, 256, 1 << 20} {
		p := FramePayload(nil, i)
		if n, ok := FrameNumber(p); !ok || n != i || len(p) != 160 {
			t.Errorf("frame %d read back as %d, %v (%d bytes)", i, n, ok, len(p))
		}
		p[100]++
		if _, ok := FrameNumber(p); ok {
			t.Errorf("frame %d altered still reads", i)
		}
	}
	if _, ok := FrameNumber(codec.Silence(codec.PCMU, nil)); ok {
		t.Error("silence reads as a frame")
	}
}

// The plan's packets leave on a real socket in the planned order, with
// their headers, identifiable payloads, and no earlier than planned after
// the ACK; the call's own frames continue the plan's last source.
func TestSendPlanOnTheWire(t *testing.T) {
	gw := rtpSocket(t)
	handler, invites := answering(gw)
	e := newEnv(t, handler)
	call := e.dial(Config{})
	recvInvite(t, invites)

	type result struct {
		sent []Wire
		err  error
	}
	done := make(chan result, 1)
	go func() {
		sent, err := call.SendPlan(context.Background(), impaired)
		done <- result{sent, err}
	}()
	pkts := readRTP(t, gw, len(impairedWire)) // read as they arrive
	r := <-done
	sent, err := r.sent, r.err
	if err != nil {
		t.Fatal(err)
	}
	first := pkts[1] // frame 0
	if len(sent) != len(impairedWire) {
		t.Fatalf("SendPlan reported %d packets", len(sent))
	}
	for k, p := range pkts {
		want := impairedWire[k]
		if want.SSRC == 0xAA {
			// The call's own random start: the plan's offsets from it.
			want.Seq += first.SequenceNumber - 100
			want.TS += first.Timestamp - 1000
			want.SSRC = first.SSRC
		}
		n, ok := FrameNumber(p.Payload)
		if !ok || n != want.Frame || p.SequenceNumber != want.Seq || p.Timestamp != want.TS || p.SSRC != want.SSRC ||
			p.Marker != want.Marker || p.PayloadType != 0 || sent[k] != want {
			t.Errorf("packet %d: frame %d (%v) %+v, want %+v (reported %+v)", k, n, ok, p.Header, want, sent[k])
		}
		// Deadlines are absolute from the ACK: never early.
		if early := want.Due - p.at.Sub(call.acked); early > time.Millisecond {
			t.Errorf("packet %d (frame %d) arrived %v before its due time %v", k, want.Frame, early, want.Due)
		}
	}
	if err := call.SendFrame(FramePayload(nil, 10)); err != nil {
		t.Fatal(err)
	}
	next := readRTP(t, gw, 1)[0]
	if next.SSRC != 0xBEEF || next.SequenceNumber != 5001 || next.Timestamp != 90160 || next.Marker {
		t.Errorf("frame after the plan: %+v", next.Header)
	}
}

// A plan on an ended call stops with ErrCallEnded.
func TestSendPlanAfterHangup(t *testing.T) {
	gw := rtpSocket(t)
	handler, invites := answering(gw)
	e := newEnv(t, handler)
	call := e.dial(Config{})
	recvInvite(t, invites)
	if err := call.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := call.SendPlan(context.Background(), Plan{Frames: 3, StartDelay: time.Hour}); !errors.Is(err, ErrCallEnded) {
		t.Fatalf("SendPlan after hangup: %v", err)
	}
}

func TestPlacement(t *testing.T) {
	silence := codec.Silence(codec.PCMU, nil)
	f := func(i int) []byte { return FramePayload(nil, i) }
	// Frames 0-2 at slots 5-7, a lost frame 3 concealed, 4 at 9.
	got, err := Placement([]uint64{4, 5, 6, 7, 8, 9}, [][]byte{silence, f(0), f(1), f(2), silence, f(4)})
	if err != nil || fmt.Sprint(got) != "[0 1 2 4]" {
		t.Fatalf("placement %v, %v", got, err)
	}
	for name, tc := range map[string]struct {
		slots    []uint64
		payloads [][]byte
	}{
		"shifted":  {[]uint64{5, 6, 8}, [][]byte{f(0), f(1), f(2)}},
		"appended": {[]uint64{5, 6, 7}, [][]byte{f(0), f(2), f(1)}},
		"twice":    {[]uint64{5, 6, 6}, [][]byte{f(0), f(1), f(1)}},
	} {
		if _, err := Placement(tc.slots, tc.payloads); !errors.Is(err, ErrMisplaced) {
			t.Errorf("%s: %v, want ErrMisplaced", name, err)
		}
	}
	if _, err := Placement([]uint64{1}, nil); err == nil {
		t.Error("mismatched lengths accepted")
	}
}
