package servetest

import (
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// A gateway process starts healthy, exports its figures and stops on the
// cleanup's SIGTERM.
func TestStartScrapeStop(t *testing.T) {
	dir := t.TempDir()
	app := dir + "/app.xml"
	if err := os.WriteFile(app, []byte(`<Response><Hangup/></Response>`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := Start(t, Options{Args: []string{"--app", app}, NoFile: 512})
	m := p.Metrics(t)
	if m.Get("go_goroutines") == 0 {
		t.Fatal("no go_goroutines in /metrics")
	}
	if p.FDs() <= 0 || p.RSS() <= 0 {
		t.Fatalf("fds %d rss %d", p.FDs(), p.RSS())
	}
	if got := m.Get("process_max_fds"); got != 512 {
		t.Fatalf("process_max_fds %v, want the 512 set", got)
	}
	b := p.Baseline(t)
	p.Settled(t, b, 5*time.Second)
}

func TestSeriesKeyAndNormalize(t *testing.T) {
	if got, want := normalize(`x{b="2",a="1"}`), `x{a="1",b="2"}`; got != want {
		t.Fatalf("normalize %s, want %s", got, want)
	}
	if got, want := SeriesKey("x", "b=2", "a=1"), `x{a="1",b="2"}`; got != want {
		t.Fatalf("SeriesKey %s, want %s", got, want)
	}
	m := Metrics{`x{a="1"}`: 2, `x{a="2"}`: 3, "xy": 10}
	if m.Sum("x") != 5 {
		t.Fatal("Sum")
	}
}

// A bystander call comes through an idle gateway intact, and the process
// returns to its baseline after it.
func TestBystander(t *testing.T) {
	env := StartEnv(t, EnvOptions{})
	base := env.Baseline(t)
	b := env.Bystander(t)
	b.Check(t)
	if b.rounds < 1 || b.Frames() < 50*b.rounds {
		t.Fatalf("%d frames for %d s of speech", b.Frames(), b.rounds)
	}
	env.Settled(t, base, 5*time.Second)
}
