package stream

import "sync"

// FrameBytes is the size of one 20 ms µ-law frame at 8 kHz.
const FrameBytes = 160

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

// item is one entry of a socket's send queue. Media frames are held inline so
// that queueing a frame never allocates.
type item struct {
	kind    itemKind
	flow    *Flow
	track   Track
	index   uint64 // call frame index of the media frame
	at      int64  // push time (monoNow) of a sampled media frame; 0: not sampled
	digit   byte
	code    int    // close code
	text    string // mark name, raw text or close reason
	payload [FrameBytes]byte
}

// queue is a bounded FIFO of items between the media path (producers) and a
// socket's writer goroutine (the one consumer). Pushing never blocks: when the
// queue is full the oldest media frame is dropped to make room; control items
// (start, stop, marks, close) are never dropped, and space is reserved for them.
type queue struct {
	mu      sync.Mutex
	items   []item // ring storage, grown on demand up to size items
	size    int    // the most items the ring may hold
	head    int    // index of the oldest item
	n       int    // items queued
	media   int    // media items queued
	maxMed  int    // media items allowed at once
	dropped uint64 // media frames dropped because the queue was full
	closed  bool
	wake    chan struct{} // 1-buffered: the writer's doorbell
}

// controlReserve is the room kept for control items beyond the media bound.
const controlReserve = 64

// minItems is the ring a queue starts with. A socket whose app keeps up
// holds a frame or two at a time, so the bound (2 s of audio by default) is
// room the queue may take when the app falls behind, not memory every call
// holds.
const minItems = 2

func newQueue(maxMedia int) *queue {
	if maxMedia < 1 {
		maxMedia = 1
	}
	size := maxMedia + controlReserve
	return &queue{
		items:  make([]item, min(minItems, size)),
		size:   size,
		maxMed: maxMedia,
		wake:   make(chan struct{}, 1),
	}
}

// growLocked doubles the ring (up to size), keeping the items in order.
func (q *queue) growLocked() {
	next := make([]item, min(2*len(q.items), q.size))
	for i := 0; i < q.n; i++ {
		next[i] = q.items[(q.head+i)%len(q.items)]
	}
	q.items, q.head = next, 0
}

// idle reports whether nothing is queued and the queue is open.
func (q *queue) idle() bool {
	q.mu.Lock()
	ok := q.n == 0 && !q.closed
	q.mu.Unlock()
	return ok
}

// pushMedia queues one media frame (at: its sampled push time, or 0),
// dropping the oldest media frame when the media bound is reached. It
// reports false when the queue is closed.
func (q *queue) pushMedia(f *Flow, track Track, index uint64, at int64, payload []byte) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	if q.media >= q.maxMed || q.n == q.size {
		q.dropOldestMediaLocked()
	}
	it := q.tailLocked()
	if it == nil {
		q.mu.Unlock()
		return false
	}
	it.kind = itemMedia
	it.flow = f
	it.track = track
	it.index = index
	it.at = at
	n := copy(it.payload[:], payload)
	for i := n; i < FrameBytes; i++ {
		it.payload[i] = 0xFF // µ-law silence pads a short frame
	}
	q.media++
	q.mu.Unlock()
	q.ring()
	return true
}

// pushControl queues a control item. It reports false when the queue is closed
// or, after a close item, when nothing more may follow.
func (q *queue) pushControl(kind itemKind, f *Flow, digit byte, code int, text string) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	if q.n == q.size {
		q.dropOldestMediaLocked()
	}
	it := q.tailLocked()
	if it == nil {
		q.mu.Unlock()
		return false
	}
	it.kind = kind
	it.flow = f
	it.at = 0
	it.digit = digit
	it.code = code
	it.text = text
	if kind == itemClose {
		q.closed = true
	}
	q.mu.Unlock()
	q.ring()
	return true
}

// tailLocked claims the slot after the last item, or nil when full.
func (q *queue) tailLocked() *item {
	if q.n == len(q.items) {
		if len(q.items) == q.size {
			return nil
		}
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
	q.head = (q.head + 1) % len(q.items)
	q.n--
	if dst.kind == itemMedia {
		q.media--
	}
	q.mu.Unlock()
	return true
}

// stats returns the queued media frames and the frames dropped so far.
func (q *queue) stats() (queued int, dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.media, q.dropped
}

// closeNow stops accepting items; what is queued may still be popped.
func (q *queue) closeNow() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.ring()
}
