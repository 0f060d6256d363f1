package sip

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/callstream/callstream/internal/codec"
)

// gatewayOfferFormats is the m= line format list of the gateway's own offer
// in this build: "0 8 9 101 13", with opus "0 8 9 111 101 102 13";
// wideband first with preferWideband.
func gatewayOfferFormats(preferWideband bool) string {
	var f []string
	for _, c := range gatewayCodecs(preferWideband) {
		f = append(f, fmt.Sprint(c.PayloadType))
	}
	f = append(f, "101")
	if codec.OpusAvailable {
		f = append(f, "102")
	}
	return strings.Join(append(f, "13"), " ")
}

// offerOf parses an offer of the audio formats and attribute lines given.
func offerOf(t *testing.T, formats string, attrs ...string) (Offer, error) {
	t.Helper()
	return ParseOffer([]byte(offerLines(30000, formats, attrs...)))
}

var (
	pcmu = func(pt uint8) Codec { return Codec{Name: "PCMU", PayloadType: pt, ClockRate: 8000, Channels: 1} }
	pcma = func(pt uint8) Codec { return Codec{Name: "PCMA", PayloadType: pt, ClockRate: 8000, Channels: 1} }
	g722 = func(pt uint8) Codec { return Codec{Name: "G722", PayloadType: pt, ClockRate: 8000, Channels: 1} }
	opus = func(pt uint8, fmtp string) Codec {
		return Codec{Name: "opus", PayloadType: pt, ClockRate: 48000, Channels: 2, Fmtp: fmtp}
	}
)

// Codecs are told by rtpmap name (any case), clock and channels, never by
// payload type number; static 0, 8 and 9 need no rtpmap; what the gateway
// does not take is skipped and named in the error.
func TestParseOfferCodecsByName(t *testing.T) {
	tests := map[string]struct {
		formats string
		attrs   []string
		want    []Codec
		wantErr string // in the error when no codec is left
	}{
		"dynamic A-law":             {formats: "96", attrs: []string{"a=rtpmap:96 PCMA/8000"}, want: []Codec{pcma(96)}},
		"lower-case µ-law":          {formats: "97", attrs: []string{"a=rtpmap:97 pcmu/8000"}, want: []Codec{pcmu(97)}},
		"static G722, no rtpmap":    {formats: "9", want: []Codec{g722(9)}},
		"static G722 with rtpmap":   {formats: "9 0", attrs: []string{"a=rtpmap:9 G722/8000"}, want: []Codec{g722(9), pcmu(0)}},
		"dynamic g722":              {formats: "98", attrs: []string{"a=rtpmap:98 g722/8000"}, want: []Codec{g722(98)}},
		"rtpmap renames static 9":   {formats: "9", attrs: []string{"a=rtpmap:9 PCMA/8000"}, want: []Codec{pcma(9)}},
		"G722 at 16000 is not G722": {formats: "9", attrs: []string{"a=rtpmap:9 G722/16000"}, wantErr: "G722/16000"},
		"mono G.711 channel count":  {formats: "96", attrs: []string{"a=rtpmap:96 PCMA/8000/1"}, want: []Codec{pcma(96)}},
		"stereo G.711 is unknown":   {formats: "96", attrs: []string{"a=rtpmap:96 PCMA/8000/2"}, wantErr: "PCMA/8000/2"},
		"unknown codecs skipped": {formats: "18 3 97 8", attrs: []string{"a=rtpmap:18 G729/8000", "a=rtpmap:97 iLBC/8000"},
			want: []Codec{pcma(8)}},
		"only unknown codecs": {formats: "18 97 120", attrs: []string{"a=rtpmap:18 G729/8000", "a=rtpmap:97 iLBC/8000"},
			wantErr: "G729/8000, iLBC/8000, pt 120"},
		"opus without channels is not opus": {formats: "111", attrs: []string{"a=rtpmap:111 opus/48000"}, wantErr: "opus/48000"},
		"L16 is not taken on RTP":           {formats: "100", attrs: []string{"a=rtpmap:100 L16/16000"}, wantErr: "L16/16000"},
	}
	if codec.OpusAvailable {
		tests["opus with its fmtp"] = struct {
			formats string
			attrs   []string
			want    []Codec
			wantErr string
		}{formats: "111 0", attrs: []string{"a=rtpmap:111 OPUS/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1"},
			want: []Codec{opus(111, "minptime=10;useinbandfec=1"), pcmu(0)}}
	} else {
		tests["opus needs the opus build"] = struct {
			formats string
			attrs   []string
			want    []Codec
			wantErr string
		}{formats: "111", attrs: []string{"a=rtpmap:111 opus/48000/2"}, wantErr: "opus/48000/2 (not in this build)"}
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			off, err := offerOf(t, tc.formats, tc.attrs...)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrNoCommonCodec) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want ErrNoCommonCodec naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(off.Codecs, tc.want) {
				t.Fatalf("codecs %v, want %v", off.Codecs, tc.want)
			}
		})
	}
}

// Codec.Format is the registry's format: G722 runs on the 8000 clock with
// 16 kHz audio, opus on 48000 with two channels on the SDP line.
func TestCodecFormat(t *testing.T) {
	for _, tc := range []struct {
		c    Codec
		want codec.Format
		str  string
	}{
		{pcmu(0), codec.PCMU, "PCMU/8000"},
		{pcma(96), codec.PCMA, "PCMA/8000"},
		{g722(9), codec.G722, "G722/8000(16000)"},
		{Codec{Name: "g722", PayloadType: 97, ClockRate: 8000}, codec.G722, "G722/8000(16000)"},
		{opus(111, ""), codec.Opus, "opus/48000/2"},
		{Codec{}, codec.Format{}, "/0"},
	} {
		f := tc.c.Format()
		if f != tc.want || (tc.c.Name != "" && f.String() != tc.str) {
			t.Errorf("%v.Format() = %v (%s), want %v (%s)", tc.c, f, f, tc.want, tc.str)
		}
	}
	if r := g722(9).Format().Rate; r != 16000 {
		t.Errorf("G722 audio rate %d, want 16000", r)
	}
	if n := g722(9).Format().FrameTicks(); n != 160 {
		t.Errorf("G722 timestamp step %d, want 160", n)
	}
}

// The telephone-events of every clock are kept; DTMFType is the 8000 one.
// CN/8000 is found static or dynamic; CN at another clock is not it.
func TestParseOfferEventsAndCN(t *testing.T) {
	off, err := offerOf(t, "9 0 101 100 13",
		"a=rtpmap:101 telephone-event/48000", "a=rtpmap:100 telephone-event/8000", "a=fmtp:100 0-15")
	if err != nil {
		t.Fatal(err)
	}
	wantDTMF := []Codec{
		{Name: "telephone-event", PayloadType: 101, ClockRate: 48000, Channels: 1},
		{Name: "telephone-event", PayloadType: 100, ClockRate: 8000, Channels: 1, Fmtp: "0-15"},
	}
	if off.DTMFType != 100 || !slices.Equal(off.DTMF, wantDTMF) || off.CNType != 13 {
		t.Fatalf("DTMFType %d DTMF %v CNType %d", off.DTMFType, off.DTMF, off.CNType)
	}
	for name, tc := range map[string]struct {
		formats string
		attrs   []string
		want    int
	}{
		"dynamic CN":          {"0 118", []string{"a=rtpmap:118 CN/8000"}, 118},
		"lower-case cn":       {"0 118", []string{"a=rtpmap:118 cn/8000"}, 118},
		"wideband CN ignored": {"0 118", []string{"a=rtpmap:118 CN/16000"}, -1},
		"no CN":               {"0", nil, -1},
	} {
		off, err := offerOf(t, tc.formats, tc.attrs...)
		if err != nil || off.CNType != tc.want {
			t.Errorf("%s: CNType %d (err %v), want %d", name, off.CNType, err, tc.want)
		}
	}
}

// The answer takes the caller's order of preference; with preferWideband
// the caller's first wideband codec wins over narrowband ones.
func TestChoose(t *testing.T) {
	type want struct{ plain, wide Codec }
	tests := map[string]struct {
		formats string
		attrs   []string
		want    want
	}{
		"caller prefers A-law":   {"8 9 0", nil, want{pcma(8), g722(9)}},
		"caller prefers G722":    {"9 8", nil, want{g722(9), g722(9)}},
		"narrowband only":        {"0 8", nil, want{pcmu(0), pcmu(0)}},
		"dynamic G722 last":      {"0 8 97", []string{"a=rtpmap:97 G722/8000"}, want{pcmu(0), g722(97)}},
		"G722 among the skipped": {"18 0 9", []string{"a=rtpmap:18 G729/8000"}, want{pcmu(0), g722(9)}},
	}
	for name, tc := range tests {
		off, err := offerOf(t, tc.formats, tc.attrs...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		plain, err1 := off.Choose(false)
		wide, err2 := off.Choose(true)
		if err1 != nil || err2 != nil || plain != tc.want.plain || wide != tc.want.wide {
			t.Errorf("%s: Choose = %v / wideband %v (%v, %v), want %v / %v", name, plain, wide, err1, err2, tc.want.plain, tc.want.wide)
		}
	}
	if _, err := (Offer{}).Choose(true); !errors.Is(err, ErrNoCommonCodec) {
		t.Errorf("empty offer: %v", err)
	}
}

// With opus built in, the caller's order among wideband codecs is kept.
func TestChooseOpus(t *testing.T) {
	if !codec.OpusAvailable {
		t.Skip("opus needs the opus build tag")
	}
	off, err := offerOf(t, "0 111 9", "a=rtpmap:111 opus/48000/2")
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := off.Choose(true); c != opus(111, "") {
		t.Errorf("wideband choice %v, want opus", c)
	}
	off, _ = offerOf(t, "9 111", "a=rtpmap:111 opus/48000/2")
	if c, _ := off.Choose(true); c != g722(9) {
		t.Errorf("wideband choice %v, want the caller's first, G722", c)
	}
}

// Telephone-event goes with the codec's clock (48000 for opus when offered,
// else 8000); CN only with a codec on the 8000 clock.
func TestDTMFAndCNFor(t *testing.T) {
	off := Offer{
		DTMF:   []Codec{{Name: "telephone-event", PayloadType: 101, ClockRate: 8000}, {Name: "telephone-event", PayloadType: 102, ClockRate: 48000}},
		CNType: 13,
	}
	for _, tc := range []struct {
		c     Codec
		pt    uint8
		clock int
		cn    int
	}{
		{pcmu(0), 101, 8000, 13},
		{g722(9), 101, 8000, 13},
		{opus(111, ""), 102, 48000, -1},
	} {
		pt, clock := off.DTMFFor(tc.c)
		if pt != tc.pt || clock != tc.clock || off.CNFor(tc.c) != tc.cn {
			t.Errorf("%v: DTMFFor %d/%d CNFor %d, want %d/%d %d", tc.c, pt, clock, off.CNFor(tc.c), tc.pt, tc.clock, tc.cn)
		}
	}
	narrow := Offer{DTMF: off.DTMF[:1]}
	if pt, clock := narrow.DTMFFor(opus(111, "")); pt != 101 || clock != 8000 {
		t.Errorf("opus without telephone-event/48000: %d/%d, want 101/8000", pt, clock)
	}
	if pt, clock := (Offer{}).DTMFFor(pcmu(0)); pt != 0 || clock != 0 {
		t.Errorf("no DTMF offered: %d/%d", pt, clock)
	}
}

// The gateway's own offer: PCMU, PCMA, G722 (opus when built in) on their
// static types, wideband first with preferWideband.
func TestGatewayCodecs(t *testing.T) {
	plain := []Codec{pcmu(0), pcma(8), g722(9)}
	wide := []Codec{g722(9), pcmu(0), pcma(8)}
	if codec.OpusAvailable {
		plain = append(plain, opus(opusOfferType, ""))
		wide = []Codec{g722(9), opus(opusOfferType, ""), pcmu(0), pcma(8)}
	}
	if got := gatewayCodecs(false); !slices.Equal(got, plain) {
		t.Errorf("offer %v, want %v", got, plain)
	}
	if got := gatewayCodecs(true); !slices.Equal(got, wide) {
		t.Errorf("wideband-first offer %v, want %v", got, wide)
	}
	ev := gatewayEvents([]Codec{pcmu(0), opus(opusOfferType, "")}, dtmfOfferType)
	if len(ev) != 2 || ev[0].ClockRate != 8000 || ev[0].PayloadType != dtmfOfferType || ev[1].ClockRate != 48000 || ev[1].PayloadType != dtmfWideOfferType {
		t.Errorf("events beside opus: %v", ev)
	}
	if ev := gatewayEvents([]Codec{pcmu(0), g722(9)}, dtmfOfferType); len(ev) != 1 {
		t.Errorf("events without opus: %v", ev)
	}
	if ev := gatewayEvents(plain, 0); ev != nil {
		t.Errorf("events without DTMF: %v", ev)
	}
}

// The SDP the gateway writes: rtpmap with channels for opus, the gateway's
// opus fmtp, CN, and the offer parses back to the same codecs.
func TestAnswerSDPCodecs(t *testing.T) {
	a := &answerSDP{ip: localRTP.Addr(), port: 40000, sessionID: 1, version: 1}
	a.setOffer([]Codec{g722(9), opus(opusOfferType, "stereo=1"), pcmu(0), pcma(8)}, dtmfOfferType)
	b, err := a.marshal("callstream")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"m=audio 40000 RTP/AVP 9 111 0 8 101 102 13\r\n",
		"a=rtpmap:9 G722/8000\r\n",
		"a=rtpmap:111 opus/48000/2\r\n",
		"a=fmtp:111 " + opusFmtp + "\r\n",
		"a=rtpmap:101 telephone-event/8000\r\n",
		"a=rtpmap:102 telephone-event/48000\r\n",
		"a=fmtp:102 0-16\r\n",
		"a=rtpmap:13 CN/8000\r\n",
	} {
		if !strings.Contains(string(b), line) {
			t.Errorf("offer lacks %q:\n%s", line, b)
		}
	}
	if strings.Contains(string(b), "stereo=1") {
		t.Errorf("the caller's fmtp is not the gateway's:\n%s", b)
	}
	if strings.Count(string(b), "a=fmtp:") != 3 {
		t.Errorf("fmtp lines other than opus and telephone-event:\n%s", b)
	}
	off, err := ParseOffer(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []Codec{g722(9), pcmu(0), pcma(8)}
	if codec.OpusAvailable {
		want = []Codec{g722(9), opus(opusOfferType, opusFmtp), pcmu(0), pcma(8)}
	}
	if !slices.Equal(off.Codecs, want) || off.DTMFType != dtmfOfferType || off.CNType != cnStaticType {
		t.Fatalf("round trip: %+v", off)
	}
}

// An answer to the gateway's offer is read by name, clock and channels: the
// answer's payload type is the one to send with, the offer's is remembered,
// the telephone-event and CN the answer kept go with it.
func TestTakeAnswer(t *testing.T) {
	for name, tc := range map[string]struct {
		formats string
		attrs   []string
		want    Media
	}{
		"renumbered G722 with CN": {"97 100 13", []string{"a=rtpmap:97 G722/8000", "a=rtpmap:100 telephone-event/8000"},
			Media{Codec: g722(97), DTMFType: 100, DTMFClock: 8000, OfferedType: 9, CNType: 13}},
		"A-law, no DTMF, no CN": {"8", nil, Media{Codec: pcma(8), OfferedType: 8, CNType: -1}},
		"unknown first":         {"18 0", []string{"a=rtpmap:18 G729/8000"}, Media{Codec: pcmu(0), OfferedType: 0, CNType: -1}},
	} {
		a := &answerSDP{}
		a.setOffer(gatewayCodecs(false), dtmfOfferType)
		ans, err := ParseAnswer([]byte(offerLines(30000, tc.formats, tc.attrs...)), a.offered())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m := a.takeAnswer(ans)
		tc.want.Remote = ans.RTPAddr
		if m != tc.want {
			t.Errorf("%s: agreed %+v, want %+v", name, m, tc.want)
		}
		if a.codec != tc.want.Codec || a.alt != nil || (tc.want.CNType > 0) != (a.cnType != 0) || (tc.want.DTMFType != 0) != (len(a.events) == 1) {
			t.Errorf("%s: the gateway's SDP is now %+v", name, a)
		}
	}
	// An answer must pick a codec of the offer, matched by channels too.
	_, err := ParseAnswer([]byte(offerLines(30000, "96", "a=rtpmap:96 PCMA/8000")), []Codec{pcmu(0), g722(9)})
	if !errors.Is(err, ErrNoCommonCodec) || !strings.Contains(err.Error(), "PCMA/8000 pt 96") {
		t.Errorf("answer with a codec not offered: %v", err)
	}
}

// An offer is looked at up to its 64th format and an a=fmtp up to 256
// bytes: a codec listed further on is not seen (the offer has no usable
// codec), a longer fmtp is dropped, one at the bound is kept.
func TestParseOfferBounds(t *testing.T) {
	var formats, attrs []string
	for pt := 30; pt < 30+maxFormats; pt++ { // 64 formats of a codec nobody takes
		formats = append(formats, fmt.Sprint(pt))
		attrs = append(attrs, fmt.Sprintf("a=rtpmap:%d X-NONE/8000", pt))
	}
	if _, err := offerOf(t, strings.Join(append(formats, "8"), " "), attrs...); !errors.Is(err, ErrNoCommonCodec) {
		t.Fatalf("PCMA as the 65th format: %v, want ErrNoCommonCodec", err)
	}
	off, err := offerOf(t, strings.Join(append(formats[:maxFormats-1], "8"), " "), attrs...)
	if err != nil || len(off.Codecs) != 1 || off.Codecs[0].Name != "PCMA" {
		t.Fatalf("PCMA as the 64th format: %+v, %v", off.Codecs, err)
	}
	for _, tc := range []struct {
		n    int
		kept bool
	}{{maxFmtpLen, true}, {maxFmtpLen + 1, false}} {
		fmtp := strings.Repeat("x", tc.n)
		off, err := offerOf(t, "96", "a=rtpmap:96 PCMA/8000", "a=fmtp:96 "+fmtp)
		if err != nil || len(off.Codecs) != 1 || (off.Codecs[0].Fmtp == fmtp) != tc.kept {
			t.Fatalf("fmtp of %d bytes: %+v, %v; want kept %v", tc.n, off.Codecs, err, tc.kept)
		}
	}
}
