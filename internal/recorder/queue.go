package recorder

import "io"

// ChunksQueued bounds the chunks waiting for the disk: beyond them a chunk
// is lost (and counted) rather than the media clock waiting.
const ChunksQueued = 16

// Queue carries a recording's audio from the media clock to the disk:
// Append copies frames into fixed-size chunks and hands full ones to its
// writer goroutine without waiting (a chunk the bounded queue cannot take
// is lost and counted); written chunks come back for reuse, so that a
// steady recording allocates nothing. The owner serializes Append and
// stops calling it before Close, which ends the writer goroutine.
type Queue struct {
	size   int         // bytes of a chunk
	chunks chan []byte // full chunks, to the writer; closed by Close
	free   chan []byte // written chunks, for reuse
	wrote  chan error  // the writer's result

	cur     []byte // the chunk being filled
	lost    int    // bytes lost to a slow disk
	written int64  // bytes handed to the writer (lost ones included)
}

// NewQueue starts the writer of chunks of size bytes into w.
func NewQueue(w io.Writer, size int) *Queue {
	q := &Queue{
		size:   size,
		chunks: make(chan []byte, ChunksQueued),
		free:   make(chan []byte, ChunksQueued),
		wrote:  make(chan error, 1),
	}
	go q.write(w)
	return q
}

// Append copies audio into chunks.
func (q *Queue) Append(audio []byte) {
	q.written += int64(len(audio))
	for len(audio) > 0 {
		if q.cur == nil {
			select {
			case c := <-q.free:
				q.cur = c[:0]
			default:
				q.cur = make([]byte, 0, q.size)
			}
		}
		n := copy(q.cur[len(q.cur):cap(q.cur)], audio)
		q.cur = q.cur[:len(q.cur)+n]
		audio = audio[n:]
		if len(q.cur) == cap(q.cur) {
			select {
			case q.chunks <- q.cur:
			default:
				q.lost += len(q.cur)
			}
			q.cur = nil
		}
	}
}

// Written returns the bytes appended so far, lost ones included.
func (q *Queue) Written() int64 { return q.written }

// Lost returns the bytes lost because the disk did not keep up.
func (q *Queue) Lost() int { return q.lost }

// write writes chunks to w until Close closes them.
func (q *Queue) write(w io.Writer) {
	var err error
	for c := range q.chunks {
		if err == nil {
			_, err = w.Write(c)
		}
		select {
		case q.free <- c:
		default:
		}
	}
	q.wrote <- err
}

// Close hands on the chunk being filled, waits for the writer to write
// everything and returns its error. Append is not called any more.
func (q *Queue) Close() error {
	if len(q.cur) > 0 {
		q.chunks <- q.cur // the writer is draining: this waits for the disk, not the media clock
	}
	q.cur = nil
	close(q.chunks)
	return <-q.wrote
}
