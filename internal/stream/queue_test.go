package stream

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/callstream/callstream/internal/codec"
)

// Each class of item has its own bound: media drop their oldest, echoes
// over their bound are refused, start, stop and close always go in.
func TestQueueBoundsPerClass(t *testing.T) {
	q := newQueue(3, 2)
	f := &Flow{}
	for i := range 5 {
		if !q.pushMedia(f, TrackInbound, uint64(i), 0, codec.Frame{}) {
			t.Fatal("media refused by an open queue")
		}
	}
	if r := q.pushControl(itemMark, f, 0, 0, "m1"); r != pushed {
		t.Fatalf("first mark: %v", r)
	}
	if r := q.pushControl(itemDTMF, f, '1', 0, ""); r != pushed {
		t.Fatalf("dtmf: %v", r)
	}
	if r := q.pushControl(itemMark, f, 0, 0, "m2"); r != pushedFull {
		t.Fatalf("an echo over the bound: %v, want refused", r)
	}
	for range 10 {
		if r := q.pushControl(itemStop, f, 0, 0, ""); r != pushed {
			t.Fatalf("stop refused: %v", r)
		}
	}
	if r := q.pushControl(itemClose, nil, 0, 1000, ""); r != pushed {
		t.Fatalf("close refused: %v", r)
	}
	if r := q.pushControl(itemMark, f, 0, 0, "late"); r != pushedClosed {
		t.Fatalf("a mark after close: %v", r)
	}
	queued, dropped := q.stats()
	if queued != 3 || dropped != 2 {
		t.Fatalf("media queued %d dropped %d, want 3 and 2", queued, dropped)
	}
	var it item
	var kinds []string
	var indexes []uint64
	for q.pop(&it) {
		kinds = append(kinds, it.kind.String())
		if it.kind == itemMedia {
			indexes = append(indexes, it.slot)
		}
	}
	if got := strings.Join(kinds, ","); got != "media,media,media,mark,dtmf,stop,stop,stop,stop,stop,stop,stop,stop,stop,stop,close" {
		t.Fatalf("order %s", got)
	}
	if indexes[0] != 2 || indexes[2] != 4 {
		t.Fatalf("media kept %v, want the newest three", indexes)
	}
}

// The reader waits while echoes pile up, and goes on once the writer has
// drained them, or when its connection ends or the queue closes.
func TestQueueEchoGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(10, 1000)
		for range gateEchoes + 1 {
			q.pushControl(itemMark, nil, 0, 0, "m")
		}
		var ended atomic.Bool
		passed := make(chan bool, 1)
		go func() { passed <- q.waitEchoRoom(&ended) }()
		synctest.Wait()
		select {
		case <-passed:
			t.Fatal("the reader went on with more echoes queued than the gate")
		default:
		}
		var it item
		q.pop(&it)
		if open := <-passed; !open {
			t.Fatal("queue reported closed")
		}
		for range 10 {
			q.pushControl(itemMark, nil, 0, 0, "m")
		}
		go func() { passed <- q.waitEchoRoom(&ended) }()
		synctest.Wait()
		ended.Store(true)
		q.kick()
		<-passed
		// Bytes count too.
		q2 := newQueue(10, 1000)
		q2.pushControl(itemText, nil, 0, 0, strings.Repeat("x", gateBytes+1))
		go func() { passed <- q2.waitEchoRoom(new(atomic.Bool)) }()
		synctest.Wait()
		select {
		case <-passed:
			t.Fatal("the reader went on with more echo bytes queued than the gate")
		default:
		}
		q2.closeNow()
		if open := <-passed; open {
			t.Fatal("a closed queue reported open")
		}
	})
}

// readBounded reads a message up to the bound whole and stops one byte
// past it, whatever the reads' sizes.
func TestReadBounded(t *testing.T) {
	const bound = 10000
	for _, tc := range []struct {
		name  string
		size  int
		bound int64
		err   error
	}{
		{"small", 100, bound, nil},
		{"exactly the bound", bound, bound, nil},
		{"one byte over", bound + 1, bound, errTooBig},
		{"far over", 50 * bound, bound, errTooBig},
		{"no bound", 50 * bound, -1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := bytes.Repeat([]byte("0123456789"), tc.size/10+1)[:tc.size]
			r := &chunkReader{r: bytes.NewReader(src), n: 777}
			got, err := readBounded(r, nil, tc.bound)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if tc.err == nil && !bytes.Equal(got, src) {
				t.Fatalf("read %d bytes, want the %d sent", len(got), len(src))
			}
			if tc.err != nil {
				if int64(len(got)) != tc.bound+1 || int64(cap(got)) > tc.bound+1 {
					t.Fatalf("held %d bytes (cap %d) of an oversized message, bound %d", len(got), cap(got), tc.bound)
				}
				if rest, _ := io.ReadAll(r); len(rest) != tc.size-len(got) {
					t.Fatalf("%d bytes left unread, want %d", len(rest), tc.size-len(got))
				}
			}
		})
	}
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

// Pending marks are capped: the oldest is answered at once, in order,
// and the cap holds by bytes of names too.
func TestPlayoutMarkCap(t *testing.T) {
	p := testPlayout(t, time.Second)
	p.MaxMarks = 3
	var fired []string
	p.OnMark = func(n string) { fired = append(fired, n) }
	p.Write(make([]byte, 8000)) // 1 s: no mark is reached for a while
	early := 0
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		early += p.Mark(n)
	}
	if early != 2 || strings.Join(fired, ",") != "a,b" || p.PendingMarks() != 3 {
		t.Fatalf("early %d fired %v pending %d", early, fired, p.PendingMarks())
	}
	p.Clear()
	if strings.Join(fired, ",") != "a,b,c,d,e" || p.PendingMarks() != 0 {
		t.Fatalf("after clear: fired %v pending %d", fired, p.PendingMarks())
	}
	// Many marks through a small cap keep order and keep the slice small.
	fired = fired[:0]
	p.Write(make([]byte, 8000))
	for i := range 10000 {
		p.Mark(string(rune('A' + i%26)))
	}
	if len(fired) != 10000-3 || cap(p.marks) > 1024 {
		t.Fatalf("fired %d, marks cap %d", len(fired), cap(p.marks))
	}
	// Long names: at most maxMarkBytes pending.
	p.Clear()
	fired = fired[:0]
	p.MaxMarks = -1
	p.Write(make([]byte, 8000))
	long := strings.Repeat("n", maxMarkBytes/4)
	for range 6 {
		p.Mark(long)
	}
	if len(fired) != 2 || p.PendingMarks() != 4 {
		t.Fatalf("long names: fired %d pending %d", len(fired), p.PendingMarks())
	}
}

// A mark reached by the audio is reported when played, as before.
func TestPlayoutMarkWhenPlayed(t *testing.T) {
	p := testPlayout(t, time.Second)
	var fired []string
	p.OnMark = func(n string) { fired = append(fired, n) }
	p.Write(make([]byte, 2*160))
	p.Mark("two-frames")
	dst := make([]byte, 160)
	p.ReadFrame(dst)
	if len(fired) != 0 {
		t.Fatal("mark fired before its audio played")
	}
	p.ReadFrame(dst)
	if len(fired) != 1 {
		t.Fatal("mark not fired once its audio played")
	}
}

// testPlayout returns a playout of µ-law app audio into a µ-law call.
func testPlayout(t testing.TB, limit time.Duration) *Playout {
	t.Helper()
	p, err := NewPlayout(limit, codec.PCMU, codec.PCMU)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
