package audit

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"
)

// chartSeries is one series of a stacked bar chart.
type chartSeries struct {
	name   string
	color  string
	values []float64
}

// barChart is a stacked bar chart over time buckets, drawn as inline SVG.
type barChart struct {
	id     string // element id
	title  string
	times  []time.Time
	step   time.Duration
	series []chartSeries
	format func(float64) string // axis and tooltip values
	binary bool                 // axis steps in powers of 1024 (bytes)
}

// Chart geometry, in SVG user units (the chart scales to its container).
const (
	chartW      = 760
	chartH      = 240
	chartLeft   = 72
	chartRight  = 16
	chartTop    = 36
	chartBottom = 40
)

// kindColors are the role kinds' colours: distinguishable in colour and
// in greyscale print.
var kindColors = map[string]string{
	RoleKindHuman:   "#1f5fa8",
	RoleKindMachine: "#e08a1e",
	RoleKindAgent:   "#3b9c4b",
	RoleKindOther:   "#9a9a9a",
}

// svg draws the chart. Every text it writes is escaped, although none
// comes from the events: series names and times are the review's own.
func (c barChart) svg() template.HTML {
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, `<svg id="%s" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="%s-title">`,
		esc(c.id), chartW, chartH, chartW, chartH, esc(c.id))
	fmt.Fprintf(&b, `<title id="%s-title">%s</title>`, esc(c.id), esc(c.title))
	fmt.Fprintf(&b, `<text x="%d" y="16" class="ct">%s</text>`, chartLeft, esc(c.title))

	// Legend, right-aligned on the title line.
	x := chartW - chartRight
	for i := len(c.series) - 1; i >= 0; i-- {
		s := c.series[i]
		w := 18 + 7*len(s.name)
		x -= w
		fmt.Fprintf(&b, `<rect x="%d" y="7" width="11" height="11" fill="%s"/><text x="%d" y="17" class="cl">%s</text>`, x, esc(s.color), x+15, esc(s.name))
		x -= 8
	}

	plotW := float64(chartW - chartLeft - chartRight)
	plotH := float64(chartH - chartTop - chartBottom)
	max := 0.0
	for i := range c.times {
		sum := 0.0
		for _, s := range c.series {
			sum += s.values[i]
		}
		max = math.Max(max, sum)
	}
	step := niceStep(max / 4)
	if c.binary {
		unit := 1.0
		for max/4/unit >= 1024 {
			unit *= 1024
		}
		step = niceStep(max/4/unit) * unit
	}
	top := step * math.Ceil(max/step)
	if top == 0 {
		top = 1
		step = 1
	}
	y := func(v float64) float64 { return float64(chartTop) + plotH - v/top*plotH }
	for v := 0.0; v <= top+step/2; v += step {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="cg"/>`, chartLeft, chartW-chartRight, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" class="cy">%s</text>`, chartLeft-6, y(v)+4, esc(c.format(v)))
	}
	if len(c.times) == 0 || max == 0 {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="ce">no events in the period</text>`, float64(chartLeft)+plotW/2, float64(chartTop)+plotH/2)
	}

	n := len(c.times)
	if n > 0 {
		slot := plotW / float64(n)
		barW := math.Max(1, slot*0.8)
		labelEvery := int(math.Ceil(float64(n) / 8))
		for i, t := range c.times {
			bx := float64(chartLeft) + float64(i)*slot + (slot-barW)/2
			base := 0.0
			for _, s := range c.series {
				v := s.values[i]
				if v <= 0 {
					continue
				}
				fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`,
					bx, y(base+v), barW, y(base)-y(base+v), esc(s.color), esc(bucketLabel(t, c.step, true)), esc(s.name), esc(c.format(v)))
				base += v
			}
			if i%labelEvery == 0 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="cx">%s</text>`, bx+barW/2, chartH-chartBottom+16, esc(bucketLabel(t, c.step, false)))
			}
		}
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" class="ca"/>`, chartLeft, chartW-chartRight, chartTop+int(plotH), chartTop+int(plotH))
	if n > 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="cs">one bar per %s, UTC</text>`, chartLeft, chartH-6, esc(stepText(c.step)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built above with every text escaped
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten (at least 1).
func niceStep(x float64) float64 {
	if x <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

func bucketLabel(t time.Time, step time.Duration, long bool) string {
	switch {
	case step < 24*time.Hour && long:
		return t.Format("2006-01-02 15:04")
	case step < 24*time.Hour:
		return t.Format("01-02 15h")
	case long:
		return t.Format("2006-01-02")
	}
	return t.Format("Jan 2")
}

func stepText(step time.Duration) string {
	switch {
	case step%(7*24*time.Hour) == 0:
		return countUnit(int(step/(7*24*time.Hour)), "week")
	case step%(24*time.Hour) == 0:
		return countUnit(int(step/(24*time.Hour)), "day")
	}
	return countUnit(int(step/time.Hour), "hour")
}

func countUnit(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// humanBytes prints n in B, KiB, MiB, GiB or TiB.
func humanBytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	i := 0
	for math.Abs(n) >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", n)
	}
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.1f", n), "0"), ".") + " " + units[i]
}

// reviewCharts are the charts of a review: requests and bytes per role
// kind, and denials.
func reviewCharts(s Series) []template.HTML {
	times := make([]time.Time, len(s.Points))
	for i, p := range s.Points {
		times[i] = p.Time
	}
	byKind := func(get func(SeriesPoint) map[string]int64) []chartSeries {
		var out []chartSeries
		for _, k := range ReviewKinds {
			cs := chartSeries{name: k, color: kindColors[k], values: make([]float64, len(s.Points))}
			for i, p := range s.Points {
				cs.values[i] = float64(get(p)[k])
			}
			out = append(out, cs)
		}
		return out
	}
	count := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	denials := chartSeries{name: "denials", color: "#b3261e", values: make([]float64, len(s.Points))}
	for i, p := range s.Points {
		denials.values[i] = float64(p.Denials)
	}
	return []template.HTML{
		barChart{id: "chart-requests", title: "Requests per role kind", times: times, step: s.Step,
			series: byKind(func(p SeriesPoint) map[string]int64 { return p.Requests }), format: count}.svg(),
		barChart{id: "chart-bytes", title: "Bytes read and written per role kind", times: times, step: s.Step,
			series: byKind(func(p SeriesPoint) map[string]int64 { return p.Bytes }), format: humanBytes, binary: true}.svg(),
		barChart{id: "chart-denials", title: "Denied requests", times: times, step: s.Step,
			series: []chartSeries{denials}, format: count}.svg(),
	}
}
