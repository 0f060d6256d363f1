// Command wsapp is the smallest WebSocket app for callstream's streams: it
// accepts every stream, logs its events, and sends the caller's audio
// straight back, so a <Connect><Stream> call hears itself (an echo). Audio
// it sends on a <Start><Stream> is ignored by the gateway, as streams
// started that way only listen.
//
//	go run ./examples/wsapp [-addr 127.0.0.1:8770]
//
// It speaks the CarrierX dialect (the default) and the Twilio one: under
// --stream-dialect twilio, every message it sends carries the streamSid of
// the start message.
package main

import (
	"encoding/json"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/gorilla/websocket"
)

// maxMessage bounds one message read from the gateway: a media message
// carries 20 ms, far below this.
const maxMessage = 64 << 10

// message holds the fields of the gateway's messages this app reads.
type message struct {
	Event     string `json:"event"`
	StreamSid string `json:"streamSid,omitempty"` // Twilio dialect
	Start     *struct {
		CallID           string            `json:"callId"`  // CarrierX dialect
		CallSid          string            `json:"callSid"` // Twilio dialect
		Tracks           []string          `json:"tracks"`
		CustomParameters map[string]string `json:"customParameters"`
		MediaFormat      json.RawMessage   `json:"mediaFormat"`
	} `json:"start,omitempty"`
	Media *struct {
		Track   string `json:"track"`
		Payload string `json:"payload"`
	} `json:"media,omitempty"`
}

// reply is the media message that plays audio back into the call.
type reply struct {
	Event     string       `json:"event"`
	StreamSid string       `json:"streamSid,omitempty"`
	Media     replyPayload `json:"media"`
}

type replyPayload struct {
	Payload string `json:"payload"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8770", "address to listen on")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("listen", "error", err)
		os.Exit(1)
	}
	log.Info("listening", "url", "ws://"+ln.Addr().String()+"/echo")
	srv := &http.Server{Handler: handler(log), ReadHeaderTimeout: 5 * time.Second}
	if err := srv.Serve(ln); err != nil {
		log.Error("serve", "error", err)
		os.Exit(1)
	}
}

// handler upgrades every request on any path to a WebSocket and runs one
// stream on it.
func handler(log *slog.Logger) http.Handler {
	upgrader := websocket.Upgrader{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered the request with the error
		}
		defer conn.Close()
		conn.SetReadLimit(maxMessage)
		stream(conn, log.With("path", r.URL.Path))
	})
}

// stream reads the gateway's messages until the socket closes, logging
// each event (media in a count, not one line per 20 ms) and echoing audio.
func stream(conn *websocket.Conn, log *slog.Logger) {
	var streamSid string
	frames := 0
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			log.Info("closed", "media_frames", frames)
			return
		}
		var m message
		if err := json.Unmarshal(data, &m); err != nil {
			log.Warn("not JSON", "error", err)
			continue
		}
		switch {
		case m.Event == "start" && m.Start != nil:
			streamSid = m.StreamSid
			log.Info("start", "call", m.Start.CallID+m.Start.CallSid, "tracks", m.Start.Tracks,
				"parameters", m.Start.CustomParameters, "format", string(m.Start.MediaFormat))
		case m.Event == "media" && m.Media != nil:
			frames++
			if m.Media.Track != "" && m.Media.Track != "inbound" {
				continue // echo only what the caller says
			}
			out := reply{Event: "media", StreamSid: streamSid, Media: replyPayload{Payload: m.Media.Payload}}
			if err := conn.WriteJSON(out); err != nil {
				log.Info("closed while echoing", "error", err, "media_frames", frames)
				return
			}
		case m.Event == "stop":
			log.Info("stop", "media_frames", frames)
		default:
			log.Info(m.Event)
		}
	}
}
