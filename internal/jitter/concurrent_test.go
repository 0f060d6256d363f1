package jitter

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// TestConcurrentPutPop runs Put and Pop on two goroutines, as the RTP
// reader and the media clock do, with the reader ahead of the clock, and
// reads each popped payload after Pop returned while Put goes on. Run with
// -race: the race detector fails it if Put wrote into a payload Pop handed out.
func TestConcurrentPutPop(t *testing.T) {
	b, err := New(pcmu(0))
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	// The two sides pace each other as real time would: the reader puts
	// packet i once the clock popped slot i-3, the clock pops slot s once
	// the reader handled packet s. Between those points they run freely.
	putDone := make(chan int, n)
	popDone := make(chan uint64, n+2)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the RTP reader: packets arrive 10 ms into each slot, a few reordered
		defer wg.Done()
		defer close(putDone)
		clock := -1
		for i := range n {
			for clock < i-3 {
				clock = int(<-popDone)
			}
			k := i
			if i%7 == 3 {
				k = i + 1
			} else if i%7 == 4 {
				k = i - 1
			}
			ts := uint32(k * 160)
			b.Put(Packet{Seq: uint16(k), TS: ts, SSRC: 1, Payload: audioAt(ts, 160, 1)}, time.Duration(k)*SlotDuration+10*ms)
			putDone <- i
		}
	}()
	var frames int
	reader := -1
	for slot := range uint64(n + 2) { // the clock
		for reader < int(slot) && reader < n-1 {
			reader = <-putDone
		}
		p, st := b.Pop(slot)
		popDone <- slot
		if st == Audio {
			frames++
			k := int(slot) - 1 // anchored at 10 ms: slot 1
			if !bytes.Equal(p, audioAt(uint32(k*160), 160, 1)) {
				t.Errorf("slot %d: not frame %d's audio", slot, k)
			}
		}
		_ = b.Stats()
	}
	wg.Wait()
	if st := b.Stats(); st.Placed != n || st.Frames != n || frames != n {
		t.Errorf("stats %+v, %d frames popped", st, frames)
	}
}
