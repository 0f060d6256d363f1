package sip

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func sdpBody(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

func TestParseOffer(t *testing.T) {
	head := []string{"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0"}
	body := func(lines ...string) []byte { return sdpBody(append(append([]string{}, head...), lines...)...) }

	tests := map[string]struct {
		body    []byte
		want    Offer
		wantErr error
	}{
		"pcma first, dtmf dynamic": {
			body: body("m=audio 4000 RTP/AVP 8 0 96", "a=rtpmap:8 PCMA/8000", "a=rtpmap:0 PCMU/8000",
				"a=rtpmap:96 telephone-event/8000", "a=fmtp:96 0-15"),
			want: Offer{
				RTPAddr:   netip.MustParseAddrPort("192.0.2.1:4000"),
				Codecs:    []Codec{{"PCMA", 8, 8000, 1, ""}, {"PCMU", 0, 8000, 1, ""}},
				DTMFType:  96,
				DTMF:      []Codec{{Name: "telephone-event", PayloadType: 96, ClockRate: 8000, Channels: 1, Fmtp: "0-15"}},
				CNType:    -1,
				Direction: "sendrecv",
			},
		},
		"static types without rtpmap, others dropped": {
			body: body("m=audio 5000 RTP/AVP 18 0 3 8"),
			want: Offer{
				RTPAddr:   netip.MustParseAddrPort("192.0.2.1:5000"),
				Codecs:    []Codec{{"PCMU", 0, 8000, 1, ""}, {"PCMA", 8, 8000, 1, ""}},
				Direction: "sendrecv",
				CNType:    -1,
			},
		},
		"media-level c= and direction win": {
			body: sdpBody("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0", "a=recvonly",
				"m=audio 6000 RTP/AVP 0", "c=IN IP4 198.51.100.7", "a=sendonly"),
			want: Offer{
				RTPAddr:   netip.MustParseAddrPort("198.51.100.7:6000"),
				Codecs:    []Codec{{"PCMU", 0, 8000, 1, ""}},
				Direction: "sendonly",
				CNType:    -1,
			},
		},
		"session-level direction": {
			body: sdpBody("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0", "a=inactive",
				"m=audio 6000 RTP/AVP 0"),
			want: Offer{
				RTPAddr:   netip.MustParseAddrPort("192.0.2.1:6000"),
				Codecs:    []Codec{{"PCMU", 0, 8000, 1, ""}},
				Direction: "inactive",
				CNType:    -1,
			},
		},
		"skips rejected and video streams": {
			body: body("m=video 7000 RTP/AVP 96", "a=rtpmap:96 H264/90000", "m=audio 0 RTP/AVP 0", "m=audio 7002 RTP/AVP 0"),
			want: Offer{
				RTPAddr:   netip.MustParseAddrPort("192.0.2.1:7002"),
				Codecs:    []Codec{{"PCMU", 0, 8000, 1, ""}},
				Direction: "sendrecv",
				CNType:    -1,
			},
		},
		"wideband pcmu is not pcmu": {
			body:    body("m=audio 4000 RTP/AVP 97", "a=rtpmap:97 PCMU/16000"),
			wantErr: ErrNoCommonCodec,
		},
		"g729 only":       {body: body("m=audio 4000 RTP/AVP 18", "a=rtpmap:18 G729/8000"), wantErr: ErrNoCommonCodec},
		"empty body":      {body: nil, wantErr: ErrNoAudio},
		"not sdp":         {body: []byte("hello"), wantErr: ErrNoAudio},
		"video only":      {body: body("m=video 7000 RTP/AVP 96"), wantErr: ErrNoAudio},
		"srtp profile":    {body: body("m=audio 4000 RTP/SAVP 0"), wantErr: ErrNoAudio},
		"no c= line":      {body: sdpBody("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 0"), wantErr: ErrNoAudio},
		"bad c= address":  {body: body("m=audio 4000 RTP/AVP 0", "c=IN IP4 example.com"), wantErr: ErrNoAudio},
		"ipv6 connection": {body: sdpBody("v=0", "o=- 1 1 IN IP6 ::1", "s=-", "c=IN IP6 2001:db8::5", "t=0 0", "m=audio 4000 RTP/AVP 8"), want: Offer{RTPAddr: netip.MustParseAddrPort("[2001:db8::5]:4000"), Codecs: []Codec{{"PCMA", 8, 8000, 1, ""}}, Direction: "sendrecv", CNType: -1}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseOffer(tc.body)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseOffer: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestAnswerSDPMarshal(t *testing.T) {
	a := &answerSDP{
		ip: netip.MustParseAddr("203.0.113.9"), port: 40000,
		codec: Codec{"PCMU", 0, 8000, 1, ""}, events: []Codec{{Name: "telephone-event", PayloadType: 101, ClockRate: 8000}},
		sessionID: 77, version: 3, direction: "sendrecv",
	}
	b, err := a.marshal("callstream")
	if err != nil {
		t.Fatal(err)
	}
	want := "v=0\r\n" +
		"o=callstream 77 3 IN IP4 203.0.113.9\r\n" +
		"s=callstream\r\n" +
		"c=IN IP4 203.0.113.9\r\n" +
		"t=0 0\r\n" +
		"m=audio 40000 RTP/AVP 0 101\r\n" +
		"a=rtpmap:0 PCMU/8000\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\n" +
		"a=fmtp:101 0-16\r\n" +
		"a=ptime:20\r\n" +
		"a=sendrecv\r\n"
	if string(b) != want {
		t.Fatalf("answer sdp:\n%s\nwant:\n%s", b, want)
	}

	a.events, a.codec, a.direction = nil, Codec{"PCMA", 8, 8000, 1, ""}, "recvonly"
	b, err = a.marshal("my gateway")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"o=my-gateway 77 3 ", "m=audio 40000 RTP/AVP 8\r\n", "a=rtpmap:8 PCMA/8000\r\n", "a=recvonly\r\n"} {
		if !strings.Contains(string(b), line) {
			t.Errorf("answer lacks %q:\n%s", line, b)
		}
	}
	if strings.Contains(string(b), "telephone-event") {
		t.Errorf("answer offers DTMF it should not:\n%s", b)
	}
	// The answer must parse back into the same stream.
	off, err := ParseOffer(b)
	if err != nil {
		t.Fatal(err)
	}
	if off.RTPAddr != netip.MustParseAddrPort("203.0.113.9:40000") || off.Codecs[0].Name != "PCMA" || off.Direction != "recvonly" {
		t.Fatalf("round trip: %+v", off)
	}
}

// sdpSeeds are offers and answers as callers send them, for the fuzz targets.
func sdpSeeds(f *testing.F) {
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"))
	f.Add([]byte("v=0\r\nm=audio 1 RTP/AVP 0\r\n"))
	f.Add([]byte{}) // a late offer: INVITE or ACK without SDP
	f.Add([]byte(offerLines(30000, "96 97", "a=rtpmap:96 PCMA/8000", "a=rtpmap:97 telephone-event/8000", "a=recvonly")))
	f.Add([]byte(strings.Replace(offerLines(30000, "0"), "c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0", 1)))
	f.Add([]byte(offerLines(0, "0")))
	f.Add([]byte(offerLines(30000, "111 0", "a=rtpmap:111 opus/48000/2", "a=rtpmap:0 PCMU/8000/1")))
	f.Add([]byte("v=0\r\nc=IN IP6 ::1\r\nm=audio 5 RTP/AVPF 8\r\n"))
	f.Add([]byte(offerLines(30000, "9 97 13 118", "a=rtpmap:97 G722/8000", "a=rtpmap:118 CN/8000")))
	f.Add([]byte(offerLines(30000, "111 101 102", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 useinbandfec=1",
		"a=rtpmap:101 telephone-event/8000", "a=rtpmap:102 telephone-event/48000")))
}

func FuzzParseOffer(f *testing.F) {
	sdpSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		off, err := ParseOffer(b)
		if err == nil && (len(off.Codecs) == 0 || !off.RTPAddr.IsValid()) {
			t.Fatalf("accepted offer without codec or address: %+v", off)
		}
		if err == nil && len(b) > MaxSDPSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
	})
}

// The answer in an ACK to the gateway's offer: whatever the caller sends,
// parsing returns, and an accepted answer picks a codec the gateway offered.
func FuzzParseAnswer(f *testing.F) {
	sdpSeeds(f)
	offered := []Codec{{"PCMU", 0, 8000, 1, ""}, {"PCMA", 8, 8000, 1, ""}}
	f.Fuzz(func(t *testing.T, b []byte) {
		ans, err := ParseAnswer(b, offered)
		if err != nil {
			if !errors.Is(err, ErrNoAudio) && !errors.Is(err, ErrNoCommonCodec) {
				t.Fatalf("error %v wraps neither ErrNoAudio nor ErrNoCommonCodec", err)
			}
			return
		}
		if !ans.RTPAddr.IsValid() || len(ans.Codecs) == 0 {
			t.Fatalf("accepted answer without address or codec: %+v", ans)
		}
		for _, c := range ans.Codecs {
			if c.ClockRate != 8000 || (c.Name != "PCMU" && c.Name != "PCMA") {
				t.Fatalf("answer picked %+v, which was not offered", c)
			}
		}
	})
}

// A dynamic payload type is told by its rtpmap name, not by its number.
func TestParseAnswerByName(t *testing.T) {
	offered := []Codec{{"PCMU", 0, 8000, 1, ""}, {"PCMA", 8, 8000, 1, ""}}
	ans, err := ParseAnswer([]byte(offerLines(30000, "96 0", "a=rtpmap:96 pcma/8000", "a=rtpmap:0 PCMU/8000")), offered)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Codec{{"PCMA", 96, 8000, 1, ""}, {"PCMU", 0, 8000, 1, ""}}; !slices.Equal(ans.Codecs, want) {
		t.Fatalf("codecs %+v, want %+v", ans.Codecs, want)
	}
	if _, err := ParseAnswer([]byte(offerLines(30000, "0")), []Codec{{"PCMA", 8, 8000, 1, ""}}); !errors.Is(err, ErrNoCommonCodec) {
		t.Fatalf("answer with a codec not offered: %v", err)
	}
	big := offerLines(30000, "0", "a="+strings.Repeat("x", MaxSDPSize))
	if _, err := ParseOffer([]byte(big)); !errors.Is(err, ErrNoAudio) || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("oversized SDP: %v", err)
	}
}
