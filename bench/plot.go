package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// series is one line of a panel.
type series struct {
	name   string
	color  string
	dashed bool
	pts    [][2]float64
}

// panel is one chart of the plot.
type panel struct {
	title, ylabel string
	lines         []series
}

// Plot geometry.
const (
	plotW, plotH   = 480, 360
	padL, padR     = 64, 16
	padT, padB     = 40, 90
	gatewayColor   = "#1f77b4"
	baselineColor  = "#d62728"
	legendRowSpace = 16
)

// WriteSVG draws the report: latency percentiles (or, in bidi, the caller's
// inter-arrival p99 and the round trip) and the target's CPU against the
// number of concurrent calls, gateway and baseline side by side.
func (r *Report) WriteSVG(w io.Writer) error {
	var results []*Result
	for _, res := range []*Result{r.Gateway, r.Baseline} {
		if res != nil && len(res.Steps) > 0 {
			results = append(results, res)
		}
	}
	if len(results) == 0 {
		return fmt.Errorf("%w: nothing to plot", ErrConfig)
	}
	mode := results[0].Mode
	lat := panel{title: "Added latency, RTP sent → WebSocket message (" + string(mode) + ")", ylabel: "ms"}
	cpu := panel{title: "CPU of the system under test", ylabel: "% of one core"}
	for _, res := range results {
		color := gatewayColor
		if res.Target == "baseline" {
			color = baselineColor
		}
		p50 := series{name: res.Target + " p50", color: color, dashed: true}
		p99 := series{name: res.Target + " p99", color: color}
		c := series{name: res.Target, color: color}
		var gap, rtt series
		if mode == ModeBidi {
			gap = series{name: res.Target + " caller gap p99", color: color}
			rtt = series{name: res.Target + " round trip p99", color: color, dashed: true}
		}
		for _, s := range res.Steps {
			x := float64(s.Calls)
			p50.pts = append(p50.pts, [2]float64{x, s.Latency.P50})
			p99.pts = append(p99.pts, [2]float64{x, s.Latency.P99})
			c.pts = append(c.pts, [2]float64{x, s.Target.CPUPercent})
			if mode == ModeBidi {
				gap.pts = append(gap.pts, [2]float64{x, dget(s.Gaps).P99})
				rtt.pts = append(rtt.pts, [2]float64{x, dget(s.RoundTrip).P99})
			}
		}
		if mode == ModeBidi {
			lat.lines = append(lat.lines, gap, rtt)
			lat.title = "Caller inter-arrival p99 and round trip p99 (bidi)"
		} else {
			lat.lines = append(lat.lines, p50, p99)
		}
		cpu.lines = append(cpu.lines, c)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		2*plotW, plotH, 2*plotW, plotH)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	drawPanel(&b, lat, 0)
	drawPanel(&b, cpu, plotW)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#555">%s, %d CPUs, %s</text>`+"\n",
		plotW, plotH-8, html.EscapeString(r.Date.Format("2006-01-02")), r.Machine.CPUs, html.EscapeString(r.Machine.GoVersion))
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// niceStep returns a round tick step for a span of about n ticks.
func niceStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

func drawPanel(b *strings.Builder, p panel, x0 int) {
	var xmax, ymax float64
	for _, s := range p.lines {
		for _, pt := range s.pts {
			xmax = math.Max(xmax, pt[0])
			ymax = math.Max(ymax, pt[1])
		}
	}
	xstep := niceStep(xmax, 5)
	ystep := niceStep(ymax, 5)
	xmax = math.Ceil(xmax*1.05/xstep) * xstep
	ymax = math.Max(math.Ceil(ymax*1.1/ystep)*ystep, ystep)
	left, right := float64(x0+padL), float64(x0+plotW-padR)
	top, bottom := float64(padT), float64(plotH-padB)
	px := func(x float64) float64 { return left + x/xmax*(right-left) }
	py := func(y float64) float64 { return bottom - y/ymax*(bottom-top) }

	fmt.Fprintf(b, `<text x="%.0f" y="20" text-anchor="middle" font-weight="bold">%s</text>`+"\n", (left+right)/2, html.EscapeString(p.title))
	for y := 0.0; y <= ymax+ystep/2; y += ystep {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, py(y), right, py(y))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-4, py(y)+4, trimFloat(y))
	}
	for x := 0.0; x <= xmax+xstep/2; x += xstep {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999"/>`+"\n", px(x), bottom, px(x), bottom+4)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(x), bottom+16, trimFloat(x))
	}
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", left, top, right-left, bottom-top)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">concurrent calls</text>`+"\n", (left+right)/2, bottom+32)
	fmt.Fprintf(b, `<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", left-44, (top+bottom)/2, html.EscapeString(p.ylabel))
	for i, s := range p.lines {
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts []string
		for _, pt := range s.pts {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(pt[0]), py(pt[1])))
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), s.color, dash)
		for _, pt := range s.pts {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(pt[0]), py(pt[1]), s.color)
		}
		ly := bottom + 48 + float64(i/2*legendRowSpace)
		lx := left + float64(i%2)*(right-left)/2
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", lx, ly-4, lx+24, ly-4, s.color, dash)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+30, ly, html.EscapeString(s.name))
	}
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}
