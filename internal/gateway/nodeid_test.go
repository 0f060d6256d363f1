package gateway_test

import (
	"strings"
	"testing"

	"github.com/callstream/callstream/internal/gateway"
	"github.com/callstream/callstream/internal/gatewaytest"
)

// The node id shows in /metrics as the label of callstream_node_info.
func TestNodeInfoMetric(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Configure: func(cfg *gateway.Config) { cfg.NodeID = "gw-7" }})
	m := scrape(t, env)
	if got := m.Get("callstream_node_info", "node=gw-7"); got != 1 {
		t.Fatalf(`callstream_node_info{node="gw-7"} = %v, want 1`, got)
	}
}

// A node id outside [a-z0-9-]{1,16} is refused with an error naming it.
func TestBadNodeIDRefused(t *testing.T) {
	_, err := gateway.New(gateway.Config{App: "doc.xml", SIPAddr: "127.0.0.1:0", RTPPorts: "40000-40010", NodeID: "Node_A"})
	if err == nil || !strings.Contains(err.Error(), `"Node_A"`) {
		t.Fatalf("New with node id Node_A: %v, want an error naming it", err)
	}
}
