// Package voxtest holds what the scenario runtime's tests share, inside the
// package and outside it: the Voximplant WebSocket media messages as a
// remote sees them, and test signals (a clip, tones and their power at a
// frequency).
package voxtest

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/wsapp"
)

// Message is a message of the Voximplant wire format: start, media or
// stop of a tagged stream.
type Message struct {
	Event          string          `json:"event"`
	SequenceNumber json.RawMessage `json:"sequenceNumber"`
	Start          *struct {
		Tag         string `json:"tag"`
		MediaFormat struct {
			Encoding   string `json:"encoding"`
			SampleRate int    `json:"sampleRate"`
		} `json:"mediaFormat"`
		CustomParameters map[string]string `json:"customParameters"`
	} `json:"start"`
	Media *struct {
		Tag       string          `json:"tag"`
		Chunk     json.RawMessage `json:"chunk"`
		Timestamp json.RawMessage `json:"timestamp"`
		Payload   string          `json:"payload"`
	} `json:"media"`
	Stop *struct {
		Tag       string `json:"tag"`
		MediaInfo struct {
			BytesSent json.RawMessage `json:"bytesSent"`
			Duration  json.RawMessage `json:"duration"`
		} `json:"mediaInfo"`
	} `json:"stop"`
	At time.Time `json:"-"` // when the remote got it
}

// Parse parses every one of msgs as a Message; one that is not JSON is an
// error.
func Parse(msgs []wsapp.Message) ([]Message, error) {
	out := make([]Message, 0, len(msgs))
	for _, m := range msgs {
		var v Message
		if err := json.Unmarshal(m.Data, &v); err != nil {
			return out, fmt.Errorf("message %q: %w", m.Data, err)
		}
		v.At = m.At
		out = append(out, v)
	}
	return out, nil
}

// Stream returns the stream messages among msgs, skipping those without an
// event (a scenario's own text messages).
func Stream(msgs []wsapp.Message) []Message {
	var out []Message
	for _, m := range msgs {
		var v Message
		if json.Unmarshal(m.Data, &v) != nil || v.Event == "" {
			continue
		}
		v.At = m.At
		out = append(out, v)
	}
	return out
}

// Clip returns n bytes of µ-law audio with no silence in it (neither code
// of zero): a 440 Hz tone with a slower wobble, so that any cut, repeat or
// reordering shows.
func Clip(n int) []byte {
	pcm := Tone(n, 8000, 440, 8000)
	for i := range pcm {
		pcm[i] += int16(1000 * math.Sin(float64(i)*0.37))
	}
	b := codec.EncodeULaw(nil, pcm)
	for i := range b {
		if b[i] == 0xFF || b[i] == 0x7F {
			b[i] = 0xFE
		}
	}
	return b
}

// Tone returns n samples at rate of a sine at f Hz of amplitude amp.
func Tone(n, rate int, f, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * math.Sin(2*math.Pi*f*float64(i)/float64(rate)))
	}
	return out
}

// Power returns the power of x (at rate) at f Hz: one DFT bin, normalised
// so that a sine of amplitude a has power a²/4 in its bin.
func Power(x []int16, rate int, f float64) float64 {
	var re, im float64
	for i, v := range x {
		a := 2 * math.Pi * f * float64(i) / float64(rate)
		re += float64(v) * math.Cos(a)
		im -= float64(v) * math.Sin(a)
	}
	n := float64(len(x))
	return (re*re + im*im) / (n * n)
}

// MeanPower returns the mean power of x on Power's scale: Power(x, f) /
// MeanPower(x) is the share of x's power at f.
func MeanPower(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s / float64(len(x)) / 2
}
