package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// chart is a PNG written by a run.
type chart struct{ title, path string }

// writeCharts draws two horizontal bar charts: each target's ratio to direct
// anonymous MinIO per scenario, and MiB/s of the large-object scenarios.
func writeCharts(dir string, e *env, list []*scenario) ([]chart, error) {
	series := []*endpoint{e.direct, e.directSigV4, e.nginx, e.oauth2, e.bearer, e.sigv4, e.ref}
	var names []string
	for _, ep := range series {
		if ep != nil {
			names = append(names, ep.name)
		} else {
			names = append(names, "")
		}
	}
	var ratios, mibs barChart
	ratios = barChart{title: "Throughput relative to MinIO direct (anonymous) = 1.00, median of rounds", series: names, ref: 1, format: "%.2f"}
	mibs = barChart{title: "Large objects: MiB/s, median of rounds", series: names, format: "%.0f"}
	for _, s := range list {
		if s.res == nil || s.index(e.direct) != 0 {
			continue
		}
		g := group{label: s.label()}
		for k, ep := range series[1:] {
			if r := s.ratio(ep, e.direct); r > 0 {
				g.bars = append(g.bars, bar{series: k + 1, value: r})
			}
		}
		ratios.groups = append(ratios.groups, g)
		if s.kind == transfer {
			g := group{label: s.label()}
			for k, ep := range series {
				if i := s.index(ep); i >= 0 {
					g.bars = append(g.bars, bar{series: k, value: s.value(i)})
				}
			}
			mibs.groups = append(mibs.groups, g)
		}
	}
	var out []chart
	for _, c := range []struct {
		name string
		c    barChart
	}{{"ratios.png", ratios}, {"throughput.png", mibs}} {
		if len(c.c.groups) == 0 {
			continue
		}
		p := filepath.Join(dir, c.name)
		if err := c.c.write(p); err != nil {
			return nil, err
		}
		out = append(out, chart{title: c.c.title, path: p})
	}
	return out, nil
}

// label is the scenario's name on a chart axis.
func (s *scenario) label() string {
	switch s.id {
	case "list":
		return fmt.Sprintf("List 1,000 keys x%d", s.conns)
	case "mixed":
		return fmt.Sprintf("Mixed x%d", s.conns)
	}
	if s.kind == transfer {
		dir := "GET"
		if s.id[:3] == "put" {
			dir = "PUT"
		}
		return fmt.Sprintf("%s %s x%d", dir, sizeLabel(s.size), s.conns)
	}
	return fmt.Sprintf("%s 4 KiB x%d", map[string]string{"get": "GET", "put": "PUT"}[s.id[:3]], s.conns)
}

type bar struct {
	series int
	value  float64
}

type group struct {
	label string
	bars  []bar
}

type barChart struct {
	title  string
	series []string
	groups []group
	ref    float64 // a vertical reference line, 0 for none
	format string  // of the value printed after each bar
}

var palette = []color.RGBA{
	{0x4c, 0x72, 0xb0, 0xff}, {0xdd, 0x84, 0x52, 0xff}, {0x55, 0xa8, 0x68, 0xff},
	{0xc4, 0x4e, 0x52, 0xff}, {0x81, 0x72, 0xb3, 0xff}, {0x93, 0x78, 0x60, 0xff},
	{0x8c, 0x8c, 0x8c, 0xff},
}

const (
	barH     = 11
	barGap   = 2
	groupGap = 14
	labelW   = 150
	plotW    = 640
	valueW   = 60
	margin   = 16
)

func (c barChart) write(path string) error {
	face := basicfont.Face7x13
	used := map[int]bool{}
	for _, g := range c.groups {
		for _, b := range g.bars {
			used[b.series] = true
		}
	}
	legendRows := len(used)
	top := margin + 20 + legendRows*16 + 24
	h := top
	for _, g := range c.groups {
		h += len(g.bars)*(barH+barGap) + groupGap
	}
	h += 30
	w := margin + labelW + plotW + valueW + margin
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	black := color.RGBA{0x20, 0x20, 0x20, 0xff}
	grey := color.RGBA{0xdd, 0xdd, 0xdd, 0xff}

	text := func(x, y int, s string, col color.Color) {
		d := font.Drawer{Dst: img, Src: image.NewUniform(col), Face: face, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	textWidth := func(s string) int { return font.MeasureString(face, s).Round() }
	rect := func(x0, y0, x1, y1 int, col color.Color) {
		draw.Draw(img, image.Rect(x0, y0, x1, y1), image.NewUniform(col), image.Point{}, draw.Src)
	}

	text(margin, margin+10, c.title, black)
	row := 0
	for i, s := range c.series {
		if !used[i] {
			continue
		}
		y := margin + 24 + row*16
		rect(margin, y, margin+12, y+11, palette[i%len(palette)])
		text(margin+18, y+10, s, black)
		row++
	}

	var maxV float64
	for _, g := range c.groups {
		for _, b := range g.bars {
			maxV = max(maxV, b.value)
		}
	}
	maxV = max(maxV, c.ref*1.1)
	step := niceStep(maxV / 6)
	maxV = math.Ceil(maxV/step) * step
	x0 := margin + labelW
	xOf := func(v float64) int { return x0 + int(v/maxV*float64(plotW)) }

	plotBottom := h - 30
	for v := 0.0; v <= maxV+step/2; v += step {
		x := xOf(v)
		rect(x, top-6, x+1, plotBottom, grey)
		lbl := trimFloat(v)
		text(x-textWidth(lbl)/2, plotBottom+16, lbl, black)
	}
	if c.ref > 0 {
		x := xOf(c.ref)
		rect(x, top-6, x+2, plotBottom, black)
	}

	y := top
	for _, g := range c.groups {
		gh := len(g.bars)*(barH+barGap) - barGap
		text(x0-8-textWidth(g.label), y+gh/2+5, g.label, black)
		for _, b := range g.bars {
			rect(x0, y, xOf(b.value), y+barH, palette[b.series%len(palette)])
			text(xOf(b.value)+4, y+barH-1, fmt.Sprintf(c.format, b.value), black)
			y += barH + barGap
		}
		y += groupGap - barGap
	}

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 0 {
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

func trimFloat(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}
