package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/callstream/callstream/internal/nodeid"
)

// serve refuses a --peers it cannot use before it listens, naming the
// problem: two node ids with one CallSid tag, a URL without a scheme.
func TestServeRefusesBadPeers(t *testing.T) {
	seen := map[string]string{}
	var x, y string
	for i := 0; x == ""; i++ {
		id := fmt.Sprintf("n%d", i)
		if other, ok := seen[nodeid.Tag(id)]; ok {
			x, y = other, id
		}
		seen[nodeid.Tag(id)] = id
	}
	for peers, want := range map[string]string{
		x + "=http://127.0.0.1:8081," + y + "=http://127.0.0.1:8082": fmt.Sprintf("--peers: node ids %q and %q share the CallSid tag", x, y),
		"b=127.0.0.1:8082": `--peers: entry 1 (node b): URL "127.0.0.1:8082": want http://`,
		"dns:callstream":   "--peers: dns:callstream: want dns:NAME:PORT",
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), []string{"serve", "--app", "x.xml", "--node-id", "a", "--rtp-ports", "20000-20010",
			"--http", "127.0.0.1:0", "--sip", "127.0.0.1:0", "--peers", peers}, &stderr, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), want) {
			t.Errorf("serve --peers %s: code %d, %s; want %q", peers, code, stderr.String(), want)
		}
	}
}
