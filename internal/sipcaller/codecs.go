package sipcaller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/callstream/callstream/internal/codec"
	gwsip "github.com/callstream/callstream/internal/sip"
)

// lookupCodec finds the audio codec a Config names: "PCMU" (also ""),
// "PCMA", "G722" or "opus", in any case. Opus needs a build with the opus
// tag.
func lookupCodec(name string) (*codec.Codec, error) {
	clock, channels := 8000, 0
	if strings.EqualFold(name, codec.NameOpus) {
		clock, channels = 48000, 2
	}
	if name == "" {
		name = codec.NamePCMU
	}
	k, ok := codec.Lookup(name, clock, channels)
	if !ok || k.Name == codec.NameL16 {
		return nil, fmt.Errorf("%w: %q (want PCMU, PCMA, G722 or opus)", ErrUnsupportedCodec, name)
	}
	if !k.Available {
		return nil, fmt.Errorf("%w: %q: %w", ErrUnsupportedCodec, name, codec.ErrUnavailable)
	}
	return k, nil
}

// offerEntry is k as an m= line lists it, on pt when not 0, else its
// static payload type (opus: 111).
func offerEntry(k *codec.Codec, pt uint8) sdpCodec {
	if pt == 0 {
		if k.StaticPT >= 0 {
			pt = uint8(k.StaticPT)
		} else {
			pt = opusPayloadType
		}
	}
	c := sdpCodec{pt: pt, name: k.Name, clock: k.Clock}
	if k.Channels > 1 {
		c.channels = k.Channels
	}
	return c
}

// offerCodecs returns what a call offers: cfg.Codec first (on
// cfg.PayloadType when set), then, unless cfg.Only, the G.711 laws not
// offered yet, µ-law first.
func offerCodecs(cfg Config) ([]sdpCodec, error) {
	first, err := lookupCodec(cfg.Codec)
	if err != nil {
		return nil, err
	}
	out := []sdpCodec{offerEntry(first, cfg.PayloadType)}
	if cfg.Only {
		return out, nil
	}
	fallbacks := []string{codec.NamePCMU, codec.NamePCMA}
	if first.Name == codec.NamePCMA {
		fallbacks = []string{codec.NamePCMU}
	}
	for _, name := range fallbacks {
		if name == first.Name {
			continue
		}
		k, err := lookupCodec(name)
		if err != nil {
			return nil, err
		}
		e := offerEntry(k, 0)
		if e.pt == out[0].pt { // a dynamic number taken by the first codec
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// pickCodec returns the first codec of the gateway's list that the caller
// offered (same name, clock and channels) or, for a late offer, that it
// wants, with the gateway's payload type and its Format.
func pickCodec(remote []sdpCodec, wanted []sdpCodec) (sdpCodec, codec.Format, error) {
	for _, r := range remote {
		rf, ok := r.format()
		if !ok {
			continue
		}
		for _, w := range wanted {
			if wf, ok := w.format(); ok && wf == rf {
				return r, rf, nil
			}
		}
	}
	return sdpCodec{}, codec.Format{}, fmt.Errorf("sipcaller: the gateway's codecs %v have none of %v: %w", remote, wanted, gwsip.ErrNoCommonCodec)
}

// String renders c as an rtpmap value ("96 PCMA/8000").
func (c sdpCodec) String() string {
	s := fmt.Sprintf("%d %s/%d", c.pt, c.name, c.clock)
	if c.channels > 1 {
		s += fmt.Sprintf("/%d", c.channels)
	}
	return s
}

// byteStream reports whether f's payloads are a byte stream cut anywhere:
// one byte per RTP clock tick (G.711; G.722, whose byte holds two 16 kHz
// samples, one tick of its 8000 Hz clock). Opus packets are not.
func byteStream(f codec.Format) bool {
	switch f.Name {
	case codec.NamePCMU, codec.NamePCMA, codec.NameG722:
		return true
	}
	return false
}

// ticks is how far payload advances the RTP timestamp in f: a tick per
// byte of a byte stream, else one frame.
func ticks(f codec.Format, payload []byte) uint32 {
	if byteStream(f) {
		return uint32(len(payload))
	}
	return uint32(f.FrameTicks())
}

// Format returns the negotiated codec's Format: what SendFrame's payloads
// and the gateway's media packets are.
func (c *Call) Format() codec.Format { return c.format }

// PayloadType returns the RTP payload type the call sends its audio with.
func (c *Call) PayloadType() uint8 { return c.pt }

// CNType returns the payload type of comfort noise (RFC 3389) when the
// call offered it and the gateway kept it, else 0.
func (c *Call) CNType() uint8 { return c.cnPT }

// SendPCM encodes pcm (mono, at the call's Format().Rate) in the call's
// codec and sends it as paced 20 ms frames, like SendAudio; a short last
// frame is padded with silence.
func (c *Call) SendPCM(ctx context.Context, pcm []int16) error {
	n := c.format.FrameSamples()
	var frame []int16
	var payload []byte
	return c.pace(ctx, (len(pcm)+n-1)/n, func(i int) error {
		chunk := pcm[i*n : min((i+1)*n, len(pcm))]
		if len(chunk) < n {
			frame = append(frame[:0], chunk...)
			frame = append(frame, make([]int16, n-len(chunk))...)
			chunk = frame
		}
		var err error
		c.sendMu.Lock()
		if c.enc == nil {
			c.enc, err = codec.NewEncoder(c.format)
		}
		if err == nil {
			payload, err = c.enc.Encode(payload[:0], chunk)
		}
		c.sendMu.Unlock()
		if err != nil {
			return fmt.Errorf("sipcaller: encode %s: %w", c.format, err)
		}
		return c.SendFrame(payload)
	})
}

// pace calls send(i) for i in [0, frames) at start + i*20 ms (absolute
// deadlines, so the pace does not drift), stopping at ctx's end or the
// call's.
func (c *Call) pace(ctx context.Context, frames int, send func(i int) error) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	start := time.Now()
	for i := range frames {
		if err := c.waitUntil(ctx, timer, start.Add(time.Duration(i)*frameDuration)); err != nil {
			return err
		}
		if err := send(i); err != nil {
			return err
		}
	}
	return nil
}

// waitUntil waits for the deadline at on timer (stopped, drained).
func (c *Call) waitUntil(ctx context.Context, timer *time.Timer, at time.Time) error {
	wait := time.Until(at)
	if wait <= 0 {
		return nil
	}
	timer.Reset(wait)
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		timer.Stop()
		return ctx.Err()
	case <-c.ended:
		timer.Stop()
		return ErrCallEnded
	}
}

// DecodePackets decodes the audio packets (payload type pt) of packets in
// their order with a new decoder of f, to mono PCM at f.Rate; other
// payload types (DTMF, CN) are skipped. The PCM of a payload the decoder
// refuses is concealed, and the first such error returned with the rest.
func DecodePackets(f codec.Format, pt uint8, packets []Packet) ([]int16, error) {
	dec, err := codec.NewDecoder(f)
	if err != nil {
		return nil, fmt.Errorf("sipcaller: decoder for %s: %w", f, err)
	}
	var (
		pcm   []int16
		first error
	)
	for _, p := range packets {
		if p.PayloadType != pt {
			continue
		}
		out, err := dec.Decode(pcm, p.Payload)
		if err != nil {
			first = cmpOr(first, fmt.Errorf("sipcaller: packet %d: %w", p.Seq, err))
			out = dec.Conceal(pcm, f.FrameSamples())
		}
		pcm = out
	}
	return pcm, first
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// HeardPCM decodes the audio the call has received so far (Received, in
// arrival order) to PCM at Format().Rate.
func (c *Call) HeardPCM() ([]int16, error) {
	return DecodePackets(c.format, c.pt, c.Received())
}

// errNoFrameCut means SendAudio was asked to cut a codec's bytes that are
// not a byte stream (opus).
var errNoFrameCut = errors.New("sipcaller: SendAudio cuts G.711 and G.722 bytes only; use SendPCM or SendFrame")
