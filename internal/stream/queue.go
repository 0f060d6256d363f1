package stream

import (
	"sync"
	"sync/atomic"

	"github.com/callstream/callstream/internal/codec"
)

// itemKind says what a queued item asks the socket writer to send.
type itemKind uint8

const (
	itemMedia itemKind = iota // one 20 ms frame of one track of one flow
	itemStart                 // a flow's start message
	itemStop                  // a flow's stop message
	itemDTMF                  // a dtmf event
	itemMark                  // a mark reply
	itemText                  // a raw text frame (scenario ws.send)
	itemClose                 // a close frame, then the socket ends
)

// echo reports whether items of kind k are echoes: messages other than
// media that the app or the call cause at their own pace (marks, dtmf,
// text). They have a bound of their own; the lifecycle items (start, stop,
// close) have none, as each flow has one start and one stop and a socket
// one close.
func (k itemKind) echo() bool { return k == itemDTMF || k == itemMark || k == itemText }

// String names the kind in logs.
func (k itemKind) String() string {
	switch k {
	case itemMedia:
		return "media"
	case itemStart:
		return "start"
	case itemStop:
		return "stop"
	case itemDTMF:
		return "dtmf"
	case itemMark:
		return "mark"
	case itemText:
		return "text"
	case itemClose:
		return "close"
	}
	return "unknown"
}

// item is one entry of a socket's send queue. Media frames are held inline,
// with their format, so that queueing a frame never allocates.
type item struct {
	kind    itemKind
	flow    *Flow
	track   Track
	n       uint16       // payload bytes of the media frame
	slot    uint64       // call slot of the media frame
	at      int64        // push time (monoNow) of a sampled media frame; 0: not sampled
	format  codec.Format // what the media frame's bytes are
	digit   byte
	code    int    // close code
	text    string // mark name, raw text or close reason
	payload [MaxFrameBytes]byte
}

// pushResult says what became of a pushed item.
type pushResult uint8

const (
	pushed       pushResult = iota
	pushedClosed            // the queue is closed: nothing more is sent
	pushedFull              // an echo over the echo bound: refused
)

// Bounds of the echoes queued before the socket's reader waits: an app
// whose messages cause echoes (marks answered early, clear) is read no
// faster than the echoes are written, so the echoes a burst of marks
// causes always find room (see Socket.handle).
const (
	gateEchoes = 32
	gateBytes  = 256 << 10
)

// queue is a bounded FIFO of items between the media path and the app's
// reader (producers) and a socket's writer goroutine (the one consumer).
// Pushing never blocks. Each class of item has its own bound: media frames
// (when full, the oldest frame is dropped to make room), echoes (when full,
// the new one is refused and the caller counts it) and lifecycle items
// (start, stop, close: never refused while the queue is open).
type queue struct {
	mu        sync.Mutex
	items     []item // ring storage, grown on demand
	head      int    // index of the oldest item
	n         int    // items queued
	media     int    // media items queued
	maxMed    int    // media items allowed at once
	echo      int    // echo items queued
	echoBytes int    // text bytes of the echo items queued
	maxEcho   int    // echo items allowed at once
	dropped   uint64 // media frames dropped because the queue was full
	closed    bool
	gated     bool          // the reader waits for echoes to drain
	room      *sync.Cond    // signalled when echoes drained below the gate, or on close
	wake      chan struct{} // 1-buffered: the writer's doorbell
}

// minItems is the ring a queue starts with. A socket whose app keeps up
// holds a frame or two at a time, so the bounds are room the queue may take
// when the app falls behind, not memory every call holds (an item is about
// 700 bytes: MaxFrameBytes inline).
const minItems = 2

func newQueue(maxMedia, maxEcho int) *queue {
	q := &queue{
		items:   make([]item, minItems),
		maxMed:  max(maxMedia, 1),
		maxEcho: max(maxEcho, 1),
		wake:    make(chan struct{}, 1),
	}
	q.room = sync.NewCond(&q.mu)
	return q
}

// growLocked doubles the ring, keeping the items in order.
func (q *queue) growLocked() {
	next := make([]item, 2*len(q.items))
	for i := 0; i < q.n; i++ {
		next[i] = q.items[(q.head+i)%len(q.items)]
	}
	q.items, q.head = next, 0
}

// pushMedia queues one media frame (at: its sampled push time, or 0),
// dropping the oldest media frame when the media bound is reached. A
// payload over MaxFrameBytes is cut there. It reports false when the queue
// is closed.
func (q *queue) pushMedia(f *Flow, track Track, slot uint64, at int64, fr codec.Frame) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	if q.media >= q.maxMed {
		q.dropOldestMediaLocked()
	}
	it := q.tailLocked()
	it.kind = itemMedia
	it.flow = f
	it.track = track
	it.slot = slot
	it.at = at
	it.format = fr.Format
	it.n = uint16(copy(it.payload[:], fr.Payload))
	q.media++
	q.mu.Unlock()
	q.ring()
	return true
}

// pushControl queues an item that is not media. Echoes over their bound are
// refused (pushedFull); a close item closes the queue to further items.
func (q *queue) pushControl(kind itemKind, f *Flow, digit byte, code int, text string) pushResult {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return pushedClosed
	}
	if kind.echo() {
		if q.echo >= q.maxEcho {
			q.mu.Unlock()
			return pushedFull
		}
		q.echo++
		q.echoBytes += len(text)
	}
	it := q.tailLocked()
	it.kind = kind
	it.flow = f
	it.at = 0
	it.digit = digit
	it.code = code
	it.text = text
	if kind == itemClose {
		q.closed = true
		q.releaseLocked()
	}
	q.mu.Unlock()
	q.ring()
	return pushed
}

// tailLocked claims the slot after the last item, growing the ring when full.
func (q *queue) tailLocked() *item {
	if q.n == len(q.items) {
		q.growLocked()
	}
	it := &q.items[(q.head+q.n)%len(q.items)]
	q.n++
	return it
}

// dropOldestMediaLocked removes the oldest media item, shifting any control
// items queued before it forward by one place.
func (q *queue) dropOldestMediaLocked() {
	size := len(q.items)
	for i := 0; i < q.n; i++ {
		idx := (q.head + i) % size
		if q.items[idx].kind != itemMedia {
			continue
		}
		// Move the i items before it one slot later, then advance head.
		for j := i; j > 0; j-- {
			q.items[(q.head+j)%size] = q.items[(q.head+j-1)%size]
		}
		q.items[q.head].flow = nil
		q.items[q.head].text = ""
		q.items[q.head].format = codec.Format{}
		q.head = (q.head + 1) % size
		q.n--
		q.media--
		q.dropped++
		return
	}
}

func (q *queue) ring() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pop copies the oldest item into dst and reports whether there was one.
func (q *queue) pop(dst *item) bool {
	q.mu.Lock()
	if q.n == 0 {
		q.mu.Unlock()
		return false
	}
	src := &q.items[q.head]
	*dst = *src
	src.flow = nil
	src.text = ""
	src.format = codec.Format{}
	q.head = (q.head + 1) % len(q.items)
	q.n--
	switch {
	case dst.kind == itemMedia:
		q.media--
	case dst.kind.echo():
		q.echo--
		q.echoBytes -= len(dst.text)
		if q.gated && q.belowGateLocked() {
			q.releaseLocked()
		}
	}
	q.mu.Unlock()
	return true
}

func (q *queue) belowGateLocked() bool { return q.echo <= gateEchoes && q.echoBytes <= gateBytes }

// releaseLocked wakes a reader waiting in waitEchoRoom.
func (q *queue) releaseLocked() {
	q.gated = false
	q.room.Broadcast()
}

// waitEchoRoom blocks the app's reader while more echoes are queued than the
// gate allows, until the writer drains them, the queue closes or ended is
// set (the connection is gone). It reports whether the queue is still open.
func (q *queue) waitEchoRoom(ended *atomic.Bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.closed && !ended.Load() && !q.belowGateLocked() {
		q.gated = true
		q.room.Wait()
	}
	return !q.closed
}

// kick wakes a reader waiting in waitEchoRoom, so it sees its connection end.
func (q *queue) kick() {
	q.mu.Lock()
	q.releaseLocked()
	q.mu.Unlock()
}

// stats returns the queued media frames and the frames dropped so far.
func (q *queue) stats() (queued int, dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.media, q.dropped
}

// isClosed reports whether the queue takes no more items.
func (q *queue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// closeNow stops accepting items; what is queued may still be popped.
func (q *queue) closeNow() {
	q.mu.Lock()
	q.closed = true
	q.releaseLocked()
	q.mu.Unlock()
	q.ring()
}
