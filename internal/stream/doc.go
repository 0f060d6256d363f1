// Package stream is the stream engine: it carries a call's audio to an app
// over one WebSocket per Socket, in the JSON dialect of a Dialect, and the
// app's audio, clear and marks back into a Playout.
//
// A Socket has one writer goroutine that owns the connection's writes and
// one reader goroutine per connection. The media path hands typed frames
// (codec.Frame: the call's format, or L16 for the mixed track) to a Flow,
// which queues them inline without blocking or allocating; the writer
// converts each track to the flow's wire format with its own codec chain
// (the bytes themselves when the formats are the same encoding), frames
// what it finds queued and writes it with one write(). A Flow's first slot
// is fixed by Attach: the same slot has the same chunk and timestamp on
// every track it carries. A Playout converts the app's audio from the wire
// format into the call's once, as it arrives.
//
// Everything an app can send has a bound:
//   - a message is read up to SocketConfig.MaxMessage (1 MiB): a larger one
//     is not read whole, the socket closes with 1009 (ErrMessageTooBig);
//   - marks waiting for their audio are capped per Playout (MaxMarks,
//     1,000, and 1 MiB of names): past the cap the oldest is answered at
//     once, as if played;
//   - answers to the app (marks, dtmf, text) wait in a bounded control
//     queue; the reader reads the app's next message only once few of them
//     are queued, so an app is read no faster than it is answered, and one
//     over the bound (a call's dtmf, say) is dropped and counted, never
//     silently;
//   - media wait in a bounded queue (SocketConfig.QueueFrames) whose oldest
//     frame is dropped and counted when the app is slow or away.
//
// A socket with SocketConfig.Reconnect dials its app again when the
// connection drops without a close frame (a reset, a read or write error),
// for up to that long, with a short back-off capped at 250 ms. The new
// connection gets connected, a new start for every running flow (same ids
// and parameters, sequence numbers going on), the media frames written in
// the last 500 ms before the drop (the old connection may have taken them
// without the app reading them: they keep their chunk and timestamp, so an
// app can tell them), then what queued meanwhile. A clean close frame from
// the app, and the gateway closing, end the socket.
package stream
