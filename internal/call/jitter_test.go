package call

import (
	"bytes"
	"sort"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/sip"
	"github.com/callstream/callstream/internal/stream"
)

// arrival is when the rig's caller delivers one packet.
type arrival struct {
	p  packet
	at time.Duration // after slot 0
}

// play runs a timeline: packets are delivered and slots ticked in time
// order (slot n is ticked at n × 20 ms, after the packets that arrived
// before then), until slot last has been played.
func (r *rig) play(arrivals []arrival, last uint64) {
	r.t.Helper()
	sort.SliceStable(arrivals, func(i, j int) bool { return arrivals[i].at < arrivals[j].at })
	for _, a := range arrivals {
		for time.Duration(r.slot()+1)*frame <= a.at {
			r.tick()
		}
		r.send(a.p, a.at)
	}
	r.tickTo(last)
}

// stalled returns the arrival of frames nominally at nominal(k), with every
// frame that falls in one of the stalls (start, length) held back to the
// stall's end: a burst.
func stalled(nominal func(k int) time.Duration, k int, stalls [][2]time.Duration) time.Duration {
	at := nominal(k)
	for _, s := range stalls {
		if at >= s[0] && at < s[0]+s[1] {
			at = s[0] + s[1]
		}
	}
	return at
}

// isSilence reports whether f is one frame of µ-law silence.
func isULawSilence(f []byte) bool {
	return len(f) == 160 && bytes.Equal(f, bytes.Repeat([]byte{codec.ULawSilence}, 160))
}

// The caller starts late (1 s after the answer), then its network stalls
// for 40, 120 and 250 ms and delivers what it held in a burst each time.
// With a fixed 60 ms buffer every frame that arrived before its slot was
// played is in its own slot (slot of frame 0 + k), byte for byte; the
// others are concealed with silence and counted late; the inbound track
// has exactly one frame for every slot, silence before the first packet.
func TestJitterStallsAndBurstsKeepFramesInTheirSlots(t *testing.T) {
	r := newRig(t, rigOptions{Config: Config{JitterDelay: 60 * time.Millisecond}})
	tap := newTapRecorder(stream.TrackInbound)
	r.c.AddTap(tap)
	const n = 200
	nominal := func(k int) time.Duration { return time.Second + time.Duration(k)*frame + 3*time.Millisecond }
	stalls := [][2]time.Duration{
		{nominal(30), 40 * time.Millisecond},
		{nominal(70), 120 * time.Millisecond},
		{nominal(130), 250 * time.Millisecond},
	}
	var arr []arrival
	for k := range n {
		arr = append(arr, arrival{r.next(numbered(k), 160), stalled(nominal, k, stalls)})
	}
	last := uint64(nominal(n-1)/frame) + 20
	r.play(arr, last)

	anchor := uint64(0)
	for s := tap.start; s <= last; s++ {
		if frameNumber(tap.at(stream.TrackInbound, s)) == 0 {
			anchor = s
			break
		}
	}
	if anchor == 0 {
		t.Fatal("frame 0 never reached the inbound track")
	}
	// Exactly one frame per slot from the tap's start; silence before frame 0.
	for s := tap.start; s <= last; s++ {
		f := tap.at(stream.TrackInbound, s)
		if f == nil {
			t.Fatalf("slot %d: no inbound frame", s)
		}
		if s < anchor && !isULawSilence(f) {
			t.Fatalf("slot %d before the first packet: % x…", s, f[:4])
		}
	}
	late := 0
	for k := range n {
		s := anchor + uint64(k)
		got := tap.at(stream.TrackInbound, s)
		if arr[k].at < time.Duration(s)*frame {
			if !bytes.Equal(got, numbered(k)) {
				t.Fatalf("frame %d (arrived %v, slot %d due %v): slot carries frame %d", k, arr[k].at, s, time.Duration(s)*frame, frameNumber(got))
			}
			continue
		}
		late++
		if !isULawSilence(got) {
			t.Fatalf("frame %d came after its slot %d: the slot carries % x…, want silence", k, s, got[:4])
		}
	}
	st := r.c.Stats()
	if late == 0 || st.Jitter.Late != uint64(late) || r.c.Counters().RTPLate != uint64(late) {
		t.Errorf("%d frames came after their slot; jitter buffer counted %d late (counters %d)", late, st.Jitter.Late, r.c.Counters().RTPLate)
	}
	if st.FramesIn != uint64(n-late) {
		t.Errorf("frames in %d, want %d", st.FramesIn, n-late)
	}
	t.Logf("anchor slot %d, %d of %d frames late, stats %+v", anchor, late, n, st.Jitter)
}

// The same stalls into the adaptive buffer: the delay may grow, so frames
// may move later, but they stay in order, each at most once, never out of
// place, and every frame not shown is counted late.
func TestJitterAdaptiveStallsKeepOrder(t *testing.T) {
	r := newRig(t, rigOptions{})
	tap := newTapRecorder(stream.TrackInbound)
	r.c.AddTap(tap)
	const n = 200
	nominal := func(k int) time.Duration { return 500*time.Millisecond + time.Duration(k)*frame + 7*time.Millisecond }
	stalls := [][2]time.Duration{
		{nominal(30), 40 * time.Millisecond},
		{nominal(70), 120 * time.Millisecond},
		{nominal(130), 250 * time.Millisecond},
	}
	var arr []arrival
	for k := range n {
		arr = append(arr, arrival{r.next(numbered(k), 160), stalled(nominal, k, stalls)})
	}
	last := uint64(nominal(n-1)/frame) + 20
	r.play(arr, last)
	prev, shown := -1, 0
	for s := tap.start; s <= last; s++ {
		f := tap.at(stream.TrackInbound, s)
		if f == nil {
			t.Fatalf("slot %d: no inbound frame", s)
		}
		if isULawSilence(f) {
			continue
		}
		k := frameNumber(f)
		if k <= prev%200 && prev >= 0 {
			t.Fatalf("slot %d: frame %d after frame %d", s, k, prev)
		}
		prev, shown = k, shown+1
	}
	st := r.c.Stats().Jitter
	if uint64(shown)+st.Late != n {
		t.Errorf("%d frames shown + %d late != %d sent (stats %+v)", shown, st.Late, n, st)
	}
	if st.Late == 0 {
		t.Errorf("no frame late after a 250 ms stall (stats %+v)", st)
	}
}

// Talkspurts: the caller stops sending for a second (its timestamps run on)
// and starts again with the marker bit. Every frame of both talkspurts is
// played once, in order, in consecutive slots, and the buffer re-anchors.
func TestJitterMarkerTalkspurts(t *testing.T) {
	r := newRig(t, rigOptions{})
	tap := newTapRecorder(stream.TrackInbound)
	r.c.AddTap(tap)
	var arr []arrival
	at := 200 * time.Millisecond
	for k := range 50 {
		arr = append(arr, arrival{r.next(numbered(k), 160), at + time.Duration(k)*frame})
	}
	r.ts += 50 * 160 // one second of silence suppressed
	at += 100 * frame
	for k := 50; k < 100; k++ {
		p := r.next(numbered(k), 160)
		p.marker = k == 50
		arr = append(arr, arrival{p, at + time.Duration(k-50)*frame})
	}
	r.play(arr, uint64((at+50*frame)/frame)+20)
	slots := playedSlots(t, tap, r.slot())
	for k := range 100 {
		s, ok := slots[k]
		if !ok {
			t.Fatalf("frame %d never played (stats %+v)", k, r.c.Stats().Jitter)
		}
		if k != 0 && k != 50 && s != slots[k-1]+1 {
			t.Fatalf("frame %d in slot %d after frame %d in slot %d", k, s, k-1, slots[k-1])
		}
	}
	if gap := slots[50] - slots[49]; gap < 50 {
		t.Errorf("the second talkspurt starts %d slots after the first ended, want the pause of 50", gap)
	}
	if st := r.c.Stats().Jitter; st.Reanchors == 0 {
		t.Errorf("no re-anchor at the marked talkspurt: %+v", st)
	}
}

// Reordered and duplicated packets inside the buffer's delay: each frame in
// its own slot once; the duplicate and the reordering are counted.
func TestJitterReorderAndDuplicates(t *testing.T) {
	r := newRig(t, rigOptions{Config: Config{JitterDelay: 60 * time.Millisecond}})
	tap := newTapRecorder(stream.TrackInbound)
	r.c.AddTap(tap)
	nominal := func(k int) time.Duration { return 300*time.Millisecond + time.Duration(k)*frame + 2*time.Millisecond }
	var ps []packet
	for k := range 60 {
		ps = append(ps, r.next(numbered(k), 160))
	}
	var arr []arrival
	for k, p := range ps {
		switch k {
		case 10: // overtaken by 11: arrives 10 ms after it
			arr = append(arr, arrival{p, nominal(11) + 10*time.Millisecond})
		case 20: // twice
			arr = append(arr, arrival{p, nominal(20)}, arrival{p, nominal(21) + time.Millisecond})
		default:
			arr = append(arr, arrival{p, nominal(k)})
		}
	}
	r.play(arr, uint64(nominal(59)/frame)+10)
	var anchor uint64
	for s := tap.start; s <= r.slot(); s++ {
		if frameNumber(tap.at(stream.TrackInbound, s)) == 0 {
			anchor = s
			break
		}
	}
	for k := range 60 {
		if got := tap.at(stream.TrackInbound, anchor+uint64(k)); !bytes.Equal(got, numbered(k)) {
			t.Fatalf("slot of frame %d carries frame %d", k, frameNumber(got))
		}
	}
	st := r.c.Stats().Jitter
	if st.Duplicates != 1 || st.Reordered == 0 || st.Late != 0 {
		t.Errorf("duplicates %d (want 1), reordered %d (want > 0), late %d (want 0)", st.Duplicates, st.Reordered, st.Late)
	}
	if n := r.c.Counters().Duplicates; n != 1 {
		t.Errorf("counters: %d duplicates", n)
	}
}

// The caller's source changes mid-call (new SSRC, sequence and timestamp
// bases): the buffer re-anchors and the new stream's frames are played in
// order in consecutive slots, after the old stream's.
func TestJitterSSRCChange(t *testing.T) {
	r := newRig(t, rigOptions{})
	tap := newTapRecorder(stream.TrackInbound)
	r.c.AddTap(tap)
	var arr []arrival
	at := func(k int) time.Duration { return 200*time.Millisecond + time.Duration(k)*frame + 5*time.Millisecond }
	for k := range 40 {
		arr = append(arr, arrival{r.next(numbered(k), 160), at(k)})
	}
	r.ssrc, r.seq, r.ts = 0xBEEF, 40000, 3_000_000_000
	for k := 40; k < 80; k++ {
		arr = append(arr, arrival{r.next(numbered(k), 160), at(k)})
	}
	r.play(arr, uint64(at(79)/frame)+20)
	slots := playedSlots(t, tap, r.slot())
	for k := range 80 {
		s, ok := slots[k]
		if !ok {
			t.Fatalf("frame %d never played (stats %+v)", k, r.c.Stats().Jitter)
		}
		if k > 0 && k != 40 && s != slots[k-1]+1 {
			t.Fatalf("frame %d in slot %d after frame %d in slot %d", k, s, k-1, slots[k-1])
		}
	}
	if slots[40] <= slots[39] {
		t.Errorf("the new source's first frame (slot %d) is not after the old one's last (slot %d)", slots[40], slots[39])
	}
	if st := r.c.Stats().Jitter; st.Reanchors == 0 {
		t.Errorf("no re-anchor on the new SSRC: %+v", st)
	}
}

// The caller's timestamps jump by 5 s mid-stream (sequence numbers follow
// on): the buffer re-anchors instead of holding the audio 5 s ahead, and
// every frame plays once, in order, the ones after the jump in consecutive
// slots.
func TestJitterTimestampJump(t *testing.T) {
	r := newRig(t, rigOptions{})
	tap := newTapRecorder(stream.TrackInbound)
	r.c.AddTap(tap)
	at := func(k int) time.Duration { return 200*time.Millisecond + time.Duration(k)*frame + 5*time.Millisecond }
	var arr []arrival
	for k := range 80 {
		if k == 40 {
			r.ts += 5 * 8000
		}
		arr = append(arr, arrival{r.next(numbered(k), 160), at(k)})
	}
	r.play(arr, uint64(at(79)/frame)+20)
	slots := playedSlots(t, tap, r.slot())
	for k := range 80 {
		s, ok := slots[k]
		if !ok {
			t.Fatalf("frame %d never played (stats %+v)", k, r.c.Stats().Jitter)
		}
		if k > 0 && k != 40 && s != slots[k-1]+1 {
			t.Fatalf("frame %d in slot %d after frame %d in slot %d", k, s, k-1, slots[k-1])
		}
	}
	if gap := slots[40] - slots[39]; gap > 10 {
		t.Errorf("frame 40 plays %d slots after frame 39: the jump was not re-anchored", gap)
	}
	if st := r.c.Stats().Jitter; st.Reanchors == 0 {
		t.Errorf("no re-anchor on the jump: %+v", st)
	}
}

// When the caller hangs up, its audio still held in the jitter buffer
// reaches the taps at once, in the slots that follow, and nothing after
// it: the last words are not cut off by the buffer's delay.
func TestCallEndFlushesTheJitterBuffer(t *testing.T) {
	r := newRig(t, rigOptions{Config: Config{JitterDelay: 200 * time.Millisecond}})
	tap := newTapRecorder(stream.TrackInbound, stream.TrackOutbound)
	r.c.AddTap(tap)
	var arr []arrival
	for k := range 10 {
		arr = append(arr, arrival{r.next(numbered(k), 160), 100*time.Millisecond + time.Duration(k)*frame + 3*time.Millisecond})
	}
	r.play(arr, 15) // the last packet has arrived; most frames are still held
	shown := func() []int {
		var ks []int
		for s := tap.start; s <= r.slot(); s++ {
			if k := frameNumber(tap.at(stream.TrackInbound, s)); k >= 0 {
				ks = append(ks, k)
			}
		}
		return ks
	}
	if n := len(shown()); n >= 10 {
		t.Fatalf("%d frames played before the end: the test needs some held", n)
	}
	r.c.dlg.(*fakeDialog).end(sip.EndRemoteBye) // the caller's BYE
	r.c.dialogEnded()
	got := shown()
	if len(got) != 10 {
		t.Fatalf("after the end the taps have frames %v, want 0 to 9", got)
	}
	for i, k := range got {
		if k != i {
			t.Fatalf("frames %v out of order", got)
		}
	}
	if lastSlot := tap.order[stream.TrackInbound][len(tap.order[stream.TrackInbound])-1]; frameNumber(tap.at(stream.TrackInbound, lastSlot)) != 9 {
		t.Fatalf("the flush went on past the last frame held (slot %d)", lastSlot)
	}
	if len(tap.order[stream.TrackOutbound]) != len(tap.order[stream.TrackInbound]) {
		t.Fatalf("%d outbound slots, %d inbound", len(tap.order[stream.TrackOutbound]), len(tap.order[stream.TrackInbound]))
	}
}
