// Package wire holds the small JSON helpers the stream dialects share:
// appenders that write JSON strings, numbers and base64 into a caller's
// buffer without allocating when it has room, and a tolerant reader that
// walks an object's members as raw slices of the message.
//
// The reader validates every value it steps over (RFC 8259 grammar), so a
// caller that walks an object to its end has checked the whole text.
package wire
