package servetest

import (
	"bufio"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Metrics is one scrape of /metrics: series (name{labels} as exported,
// labels sorted) to value.
type Metrics map[string]float64

// Get returns the value of the series name with the given labels
// ("k=v" each); a missing series is 0.
func (m Metrics) Get(name string, labels ...string) float64 {
	return m[SeriesKey(name, labels...)]
}

// Sum returns the sum of every series of name, whatever its labels.
func (m Metrics) Sum(name string) float64 {
	var s float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

// SeriesKey builds the key Metrics uses for name and labels ("k=v").
func SeriesKey(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	ls := append([]string(nil), labels...)
	sort.Strings(ls)
	parts := make([]string, len(ls))
	for i, l := range ls {
		k, v, _ := strings.Cut(l, "=")
		parts[i] = fmt.Sprintf("%s=%q", k, v)
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

// Scrape reads url (a Prometheus text exposition).
func Scrape(url string) (Metrics, error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	out := Metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[normalize(line[:i])] = v
	}
	return out, sc.Err()
}

// normalize sorts a series' labels so keys compare equal.
func normalize(series string) string {
	open := strings.IndexByte(series, '{')
	if open < 0 || !strings.HasSuffix(series, "}") {
		return series
	}
	body := series[open+1 : len(series)-1]
	var labels []string
	for body != "" {
		eq := strings.IndexByte(body, '=')
		if eq < 0 || eq+1 >= len(body) || body[eq+1] != '"' {
			return series
		}
		j := eq + 2
		for j < len(body) && body[j] != '"' {
			if body[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(body) {
			return series
		}
		labels = append(labels, body[:j+1])
		body = strings.TrimPrefix(body[j+1:], ",")
	}
	sort.Strings(labels)
	return series[:open] + "{" + strings.Join(labels, ",") + "}"
}

// Metrics scrapes the process's /metrics (see MetricsURL).
func (p *Proc) Metrics(t testing.TB) Metrics {
	t.Helper()
	m, err := Scrape(p.MetricsURL("/metrics"))
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return m
}

// Baseline is the resource figures of an idle gateway.
type Baseline struct {
	Goroutines float64
	FDs        int
	Ports      float64
	Calls      float64
}

// Baseline reads the process's figures now.
func (p *Proc) Baseline(t testing.TB) Baseline {
	t.Helper()
	m := p.Metrics(t)
	return Baseline{Goroutines: m.Get("go_goroutines"), FDs: p.FDs(), Ports: m.Get("callstream_rtp_ports_in_use"), Calls: m.Get("callstream_calls_active")}
}

// Settled waits until goroutines, file descriptors, RTP ports and calls
// are back to b (goroutines and fds within a small slack for the HTTP
// client scraping them) within d.
func (p *Proc) Settled(t testing.TB, b Baseline, d time.Duration) {
	t.Helper()
	var last Baseline
	deadline := time.Now().Add(d)
	for {
		m, err := Scrape(p.MetricsURL("/metrics"))
		if err == nil {
			last = Baseline{Goroutines: m.Get("go_goroutines"), FDs: p.FDs(), Ports: m.Get("callstream_rtp_ports_in_use"), Calls: m.Get("callstream_calls_active")}
			if last.Goroutines <= b.Goroutines+4 && last.FDs <= b.FDs+4 && last.Ports <= b.Ports && last.Calls <= b.Calls {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not back to baseline within %s: goroutines %v (was %v), fds %d (was %d), RTP ports %v (was %v), calls %v (was %v)",
				d, last.Goroutines, b.Goroutines, last.FDs, b.FDs, last.Ports, b.Ports, last.Calls, b.Calls)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
