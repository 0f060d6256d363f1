//go:build spandsp && cgo

package spandsp

/*
#cgo LDFLAGS: -lspandsp
#include <stdint.h>
#include <stdlib.h>
#include <spandsp/telephony.h>
#include <spandsp/g722.h>
*/
import "C"

import (
	"errors"
	"unsafe"
)

// errInit reports that SpanDSP refused to set up a codec state.
var errInit = errors.New("spandsp: g722 init failed")

// Encoder is SpanDSP's G.722 encoder at 64 kbit/s with 16 kHz input. It is
// not safe for concurrent use; Close frees it.
type Encoder struct{ s *C.g722_encode_state_t }

// NewEncoder returns an encoder in its reset state.
func NewEncoder() (*Encoder, error) {
	s := C.g722_encode_init(nil, 64000, 0)
	if s == nil {
		return nil, errInit
	}
	return &Encoder{s: s}, nil
}

// Encode returns the G.722 bytes of pcm (an even number of samples).
func (e *Encoder) Encode(pcm []int16) []byte {
	if len(pcm) == 0 {
		return nil
	}
	out := make([]byte, len(pcm)/2+1)
	n := C.g722_encode(e.s, (*C.uint8_t)(unsafe.Pointer(&out[0])), (*C.int16_t)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)))
	return out[:int(n)]
}

// Close frees the encoder.
func (e *Encoder) Close() { C.g722_encode_free(e.s) }

// Decoder is SpanDSP's G.722 decoder at 64 kbit/s with 16 kHz output. It is
// not safe for concurrent use; Close frees it.
type Decoder struct{ s *C.g722_decode_state_t }

// NewDecoder returns a decoder in its reset state.
func NewDecoder() (*Decoder, error) {
	s := C.g722_decode_init(nil, 64000, 0)
	if s == nil {
		return nil, errInit
	}
	return &Decoder{s: s}, nil
}

// Decode returns the 16 kHz samples of the G.722 bytes data.
func (d *Decoder) Decode(data []byte) []int16 {
	if len(data) == 0 {
		return nil
	}
	out := make([]int16, 2*len(data))
	n := C.g722_decode(d.s, (*C.int16_t)(unsafe.Pointer(&out[0])), (*C.uint8_t)(unsafe.Pointer(&data[0])), C.int(len(data)))
	return out[:int(n)]
}

// Close frees the decoder.
func (d *Decoder) Close() { C.g722_decode_free(d.s) }
