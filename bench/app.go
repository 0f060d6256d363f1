package bench

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/callstream/callstream/internal/assets"
)

// callUser is the To user of call i; the app and the baseline find the call
// from it (the WebSocket path is WSBase + "/" + the To user).
func callUser(i int) string { return "bench" + strconv.Itoa(i) }

// callIndex parses a To user made by callUser.
func callIndex(user string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(user, "bench"))
	if err != nil || !strings.HasPrefix(user, "bench") || n < 0 {
		return 0, false
	}
	return n, true
}

// sink receives what the app's WebSocket connections bring.
type sink interface {
	// streamStarted is called on a stream's start message.
	streamStarted(call int)
	// media is called for each media message with its chunk number (0
	// when it has none) and decoded payload; at is the arrival time on
	// the run's clock.
	media(call int, inbound bool, chunk uint64, payload []byte, at int64)
	// echoed is called when the echo of a payload has been written (bidi).
	echoed(call int, payload []byte, at int64)
}

// App is the generator's FlexML app and WebSocket app on one HTTP
// listener: POST /flexml answers each call's document, GET /prompt.wav the
// prompt, and /ws/<user> accepts the gateway's stream connections. It keeps
// no message: each one is decoded, timed and dropped (or echoed in bidi).
type App struct {
	mode Mode
	ln   net.Listener
	srv  *http.Server
	sink sink
	log  *slog.Logger
	up   websocket.Upgrader
	wav  []byte

	wg    sync.WaitGroup // WebSocket handlers
	mu    sync.Mutex
	conns map[*websocket.Conn]struct{}
	shut  bool
}

func newApp(addr string, mode Mode, s sink, log *slog.Logger) (*App, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench: app listen %s: %w", addr, err)
	}
	a := &App{
		mode:  mode,
		ln:    ln,
		sink:  s,
		log:   log,
		wav:   assets.PromptWAV(),
		conns: map[*websocket.Conn]struct{}{},
		up: websocket.Upgrader{
			ReadBufferSize:  4096,
			WriteBufferSize: 1024,
			CheckOrigin:     func(*http.Request) bool { return true },
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/flexml", a.serveDocument)
	mux.HandleFunc("GET /prompt.wav", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(a.wav)
	})
	mux.HandleFunc("GET /ws/{user}", a.serveWS)
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		_ = a.srv.Serve(ln)
	}()
	return a, nil
}

// DocumentURL returns the URL the gateway fetches FlexML from.
func (a *App) DocumentURL() string { return "http://" + a.ln.Addr().String() + "/flexml" }

// WSBase returns the WebSocket base URL; a call's stream goes to
// WSBase()+"/"+its To user.
func (a *App) WSBase() string { return "ws://" + a.ln.Addr().String() + "/ws" }

// Mode returns the mode the app serves.
func (a *App) Mode() Mode { return a.mode }

// Close stops the app, closes every stream connection and waits for their
// handlers.
func (a *App) Close() error {
	a.mu.Lock()
	a.shut = true
	for c := range a.conns {
		_ = c.Close()
	}
	a.mu.Unlock()
	err := a.srv.Close()
	a.wg.Wait()
	return err
}

// document returns the FlexML for the call whose stream URL is wsURL.
func (a *App) document(wsURL string) string {
	switch a.mode {
	case ModeBidi:
		return `<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="` + wsURL + `"/></Connect></Response>`
	case ModeBothTracks:
		return `<?xml version="1.0" encoding="UTF-8"?><Response><Start><Stream url="` + wsURL + `" track="both"/></Start>` +
			`<Play loop="0">http://` + a.ln.Addr().String() + `/prompt.wav</Play></Response>`
	}
	return `<?xml version="1.0" encoding="UTF-8"?><Response><Start><Stream url="` + wsURL + `"/></Start><Pause length="3600"/></Response>`
}

func (a *App) serveDocument(w http.ResponseWriter, r *http.Request) {
	to := r.URL.Query().Get("To")
	if r.Method == http.MethodPost {
		var body struct{ To string }
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil {
			http.Error(w, "bad request body", http.StatusBadRequest)
			return
		}
		to = body.To
	}
	if _, ok := callIndex(to); !ok {
		http.Error(w, "unknown call "+strconv.Quote(to), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	_, _ = io.WriteString(w, a.document(a.WSBase()+"/"+to))
}

func (a *App) serveWS(w http.ResponseWriter, r *http.Request) {
	call, ok := callIndex(r.PathValue("user"))
	if !ok {
		http.Error(w, "unknown call", http.StatusNotFound)
		return
	}
	conn, err := a.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	a.mu.Lock()
	if a.shut {
		a.mu.Unlock()
		_ = conn.Close()
		return
	}
	a.conns[conn] = struct{}{}
	a.wg.Add(1)
	a.mu.Unlock()
	defer a.wg.Done()
	defer func() {
		a.mu.Lock()
		delete(a.conns, conn)
		a.mu.Unlock()
		_ = conn.Close()
	}()
	a.readLoop(conn, call)
}

// Keys located in the gateway's (and the baseline's) JSON messages.
var (
	keyEvent   = []byte(`"event":"`)
	keyTrack   = []byte(`"track":"`)
	keyPayload = []byte(`"payload":"`)
	keyChunk   = []byte(`"chunk":`)
)

// chunkOf returns the media message's chunk number (a JSON number or a
// string of digits), 0 when it has none.
func chunkOf(msg []byte) uint64 {
	i := bytes.Index(msg, keyChunk)
	if i < 0 {
		return 0
	}
	v := bytes.TrimPrefix(msg[i+len(keyChunk):], []byte(`"`))
	var n uint64
	for _, b := range v {
		if b < '0' || b > '9' {
			break
		}
		n = n*10 + uint64(b-'0')
	}
	return n
}

// field returns the string value following key in msg (up to the next quote).
func field(msg, key []byte) []byte {
	i := bytes.Index(msg, key)
	if i < 0 {
		return nil
	}
	v := msg[i+len(key):]
	if j := bytes.IndexByte(v, '"'); j >= 0 {
		return v[:j]
	}
	return nil
}

// readLoop reads one stream's messages until the connection ends.
func (a *App) readLoop(conn *websocket.Conn, call int) {
	buf := make([]byte, 8192)
	echo := make([]byte, 0, 512)
	var pcm [FrameBytes * 2]byte
	for {
		kind, rd, err := conn.NextReader()
		if err != nil {
			return
		}
		n, err := readMessage(rd, buf)
		if err != nil {
			a.log.Debug("app: message dropped", "call", call, "err", err)
			continue
		}
		at := now()
		msg := buf[:n]
		if kind != websocket.TextMessage {
			continue
		}
		switch string(field(msg, keyEvent)) {
		case "media":
			b64 := field(msg, keyPayload)
			m, err := base64.StdEncoding.Decode(pcm[:], b64)
			if err != nil {
				m = 0
			}
			inbound := !bytes.Equal(field(msg, keyTrack), []byte("outbound"))
			a.sink.media(call, inbound, chunkOf(msg), pcm[:m], at)
			if a.mode == ModeBidi && inbound {
				echo = append(echo[:0], `{"event":"media","media":{"payload":"`...)
				echo = append(echo, b64...)
				echo = append(echo, `"}}`...)
				if err := conn.WriteMessage(websocket.TextMessage, echo); err != nil {
					return
				}
				a.sink.echoed(call, pcm[:m], now())
			}
		case "start":
			a.sink.streamStarted(call)
		}
	}
}

// errTooLarge means a message did not fit the read buffer.
var errTooLarge = errors.New("message larger than the read buffer")

// readMessage reads one whole message into buf.
func readMessage(r io.Reader, buf []byte) (int, error) {
	n := 0
	for {
		if n == len(buf) {
			_, _ = io.Copy(io.Discard, r)
			return 0, errTooLarge
		}
		m, err := r.Read(buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
