package wsapp

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A message read from Repeated arrives whole and of the given size, and
// MediaCount counts the media messages among those received.
func TestRepeatedAndMediaCount(t *testing.T) {
	srv, err := Listen(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client, _, err := websocket.DefaultDialer.Dial(srv.URL("/x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := srv.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{
		`{"event":"connected"}`,
		`{"event":"media","media":{"payload":"AAAA"}}`,
		`{"event":"media","media":{"payload":"AAAA"}}`,
		`{"event":"stop"}`,
	} {
		if err := client.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.WaitFor(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if n := conn.MediaCount(); n != 2 {
		t.Fatalf("MediaCount %d, want 2", n)
	}

	const size = 3<<20 + 5
	if err := conn.SendFrom(false, Repeated('y', size)); err != nil {
		t.Fatal(err)
	}
	_, r, err := client.NextReader()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil || len(b) != size || strings.Trim(string(b), "y") != "" {
		t.Fatalf("read %d bytes (%v), want %d of 'y'", len(b), err, size)
	}
}

// Several goroutines waiting on one connection all wake for the messages
// they wait for; a wait the closed connection cannot satisfy ends with an
// error that says so, as does one whose context ends.
func TestWaitersWakeAndClose(t *testing.T) {
	srv, err := Listen(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client, _, err := websocket.DefaultDialer.Dial(srv.URL("/x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := srv.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 3)
	go func() { errs <- conn.WaitFor(ctx, 3) }()
	go func() { errs <- conn.WaitMedia(ctx, 2) }()
	go func() {
		errs <- conn.WaitUntil(ctx, "a stop", func(msgs []Message) bool {
			return len(msgs) > 0 && strings.Contains(string(msgs[len(msgs)-1].Data), "stop")
		})
	}()
	for _, m := range []string{`{"event":"media"}`, `{"event":"media"}`, `{"event":"stop"}`} {
		if err := client.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	short, stop := context.WithTimeout(ctx, 20*time.Millisecond)
	defer stop()
	if err := conn.WaitMedia(short, 3); err == nil || !strings.Contains(err.Error(), "no 3 media messages after 3 messages") {
		t.Fatalf("wait past its context: %v", err)
	}
	client.Close()
	if err := conn.WaitFor(ctx, 4); err == nil || !strings.Contains(err.Error(), "closed after 3 messages") {
		t.Fatalf("wait on a closed connection: %v", err)
	}
	if err := conn.WaitMedia(ctx, 2); err != nil {
		t.Fatalf("a wait already satisfied on a closed connection: %v", err)
	}
}
