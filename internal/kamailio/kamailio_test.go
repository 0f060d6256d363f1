package kamailio

import (
	"os/exec"
	"strings"
	"testing"
)

// The project's dispatcher configuration passes Kamailio's own check, with
// its defaults, with every setting given on the command line, and as its
// WEIGHTED variant (call-load distribution).
func TestConfigChecks(t *testing.T) {
	bin := Require(t)
	cfg := ConfigFile(t)
	list := strings.TrimSuffix(cfg, "kamailio.cfg") + "dispatcher.list"
	for _, extra := range [][]string{
		{"-A", `DISPATCHER_LIST="` + list + `"`},
		{"-A", `DISPATCHER_LIST="` + list + `"`, "-A", "LISTEN=udp:127.0.0.1:5099", "-A", "PING_INTERVAL=1",
			"-A", "NODE_TIMEOUT=500", "-A", `DS_ALG="9"`},
		{"-A", `DISPATCHER_LIST="` + list + `"`, "-A", "WEIGHTED"},
		{"-A", `DISPATCHER_LIST="` + list + `"`, "-A", "WEIGHTED", "-A", "CALL_RING_LIMIT=30", "-A", "CALL_LIMIT=3600"},
	} {
		out, err := exec.Command(bin, append([]string{"-c", "-f", cfg}, extra...)...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "config file ok") {
			t.Fatalf("kamailio -c -f %s %v: %v\n%s", cfg, extra, err, out)
		}
	}
}

// Start runs Kamailio with the project's configuration and it answers
// OPTIONS addressed to itself.
func TestStartAnswersOptions(t *testing.T) {
	p := Start(t, Options{Nodes: []string{"127.0.0.1:9"}})
	if p.Addr() == "" {
		t.Fatal("no address")
	}
	p.Stop()
	select {
	case <-p.exited:
	default:
		t.Fatal("Stop returned with Kamailio still running")
	}
}
