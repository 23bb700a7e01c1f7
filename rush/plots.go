package rush

import (
	"fmt"
	"image/color"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plot files written next to report.json.
const (
	PlotWaiting  = "waiting.png"
	PlotRates    = "rates.png"
	PlotLatency  = "latency.png"
	PlotLights   = "lights.png"
	PlotJourney  = "journey_cdf.png"
	PlotMemory   = "memory.png"
	plotW, plotH = 8 * vg.Inch, 4 * vg.Inch
)

var (
	colBlue   = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	colOrange = color.RGBA{R: 255, G: 127, B: 14, A: 255}
	colGreen  = color.RGBA{R: 44, G: 160, B: 44, A: 255}
	colYellow = color.RGBA{R: 230, G: 190, B: 0, A: 255}
	colRed    = color.RGBA{R: 214, G: 39, B: 40, A: 255}
	colGrey   = color.RGBA{R: 200, G: 200, B: 200, A: 255}
)

func (r *Report) plots(dir string) error {
	for _, f := range []func(string) error{r.plotWaiting, r.plotRates, r.plotLatency, r.plotLights, r.plotJourney, r.plotMemory} {
		if err := f(dir); err != nil {
			return err
		}
	}
	return nil
}

// seconds since the opening of series index i.
func (r *Report) t(i int) float64 { return float64(i) - r.LeadS }

// lineSeries is one per-second series of the report, drawn as a line.
type lineSeries struct {
	name string
	c    color.Color
	v    []int32
}

// seriesLines draws each series against r.t(i+shift): 0 for counts over
// second i, 1 for gauges sampled at its end.
func (r *Report) seriesLines(p *plot.Plot, shift int, ss []lineSeries) error {
	for _, s := range ss {
		xy := make(plotter.XYs, 0, len(s.v)+1)
		for i, v := range s.v {
			xy = append(xy, plotter.XY{X: r.t(i + shift), Y: float64(v)})
		}
		if len(xy) == 0 {
			xy = append(xy, plotter.XY{}) // an empty line is an error to gonum/plot
		}
		if err := line(p, s.name, s.c, xy); err != nil {
			return err
		}
	}
	return nil
}

func line(p *plot.Plot, name string, c color.Color, xy plotter.XYs) error {
	l, err := plotter.NewLine(xy)
	if err != nil {
		return err
	}
	l.Color = c
	l.Width = vg.Points(1.2)
	p.Add(l)
	if name != "" {
		p.Legend.Add(name, l)
	}
	return nil
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	return p
}

func (r *Report) plotWaiting(dir string) error {
	p := newPlot("People waiting (pre-queue and line)", "seconds since the opening", "people")
	xy := make(plotter.XYs, 0, len(r.Series.Waiting)+1)
	for i, v := range r.Series.Waiting {
		xy = append(xy, plotter.XY{X: r.t(i + 1), Y: float64(v)})
	}
	if len(xy) == 0 {
		xy = append(xy, plotter.XY{})
	}
	if err := line(p, "waiting", colBlue, xy); err != nil {
		return err
	}
	return p.Save(plotW, plotH, filepath.Join(dir, PlotWaiting))
}

func (r *Report) plotRates(dir string) error {
	p := newPlot("Admitted and booked per second", "seconds since the opening", "people per second")
	if err := r.seriesLines(p, 0, []lineSeries{{"admitted/s", colOrange, r.Series.Admitted},
		{"bookings/s", colGreen, r.Series.Booked}, {"logins/s", colGrey, r.Series.Logins}}); err != nil {
		return err
	}
	return p.Save(plotW, plotH, filepath.Join(dir, PlotRates))
}

func (r *Report) plotLatency(dir string) error {
	p := newPlot("Latency per step (p50, p90, p99)", "", "milliseconds (log scale)")
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var names []string
	var pts [3]plotter.XYs
	for i := range r.steps {
		l := r.steps[i]
		if l.Count == 0 {
			continue
		}
		x := float64(len(names))
		names = append(names, stepNames[i])
		for k, v := range []float64{l.P50MS, l.P90MS, l.P99MS} {
			pts[k] = append(pts[k], plotter.XY{X: x, Y: max(v, 0.01)})
		}
	}
	if len(names) == 0 {
		names = []string{"none"}
		for k := range pts {
			pts[k] = plotter.XYs{{X: 0, Y: 0.01}}
		}
	}
	for k, s := range []struct {
		name  string
		c     color.Color
		shape draw.GlyphDrawer
	}{{"p50", colGreen, draw.CircleGlyph{}}, {"p90", colOrange, draw.SquareGlyph{}}, {"p99", colRed, draw.TriangleGlyph{}}} {
		sc, err := plotter.NewScatter(pts[k])
		if err != nil {
			return err
		}
		sc.GlyphStyle.Color = s.c
		sc.GlyphStyle.Shape = s.shape
		sc.GlyphStyle.Radius = vg.Points(4)
		p.Add(sc)
		p.Legend.Add(s.name, sc)
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(names))-0.5
	// A log axis must stay above 0: the automatic range pads a single
	// value (a rush stopped before anyone booked) into negative numbers.
	lo, hi := pts[0][0].Y, pts[0][0].Y
	for _, s := range pts {
		for _, pt := range s {
			lo, hi = min(lo, pt.Y), max(hi, pt.Y)
		}
	}
	p.Y.Min, p.Y.Max = lo/2, hi*2
	return p.Save(plotW+2*vg.Inch, plotH, filepath.Join(dir, PlotLatency))
}

// lightsPlotter draws one band per provider, coloured by its light each
// second.
type lightsPlotter struct {
	names  []string
	lights map[string][]int8
	x0     float64
}

func (l lightsPlotter) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	for row, n := range l.names {
		for i, v := range l.lights[n] {
			col := color.Color(colGrey)
			switch v {
			case 0:
				col = colGreen
			case 1:
				col = colYellow
			case 2:
				col = colRed
			}
			x0, x1 := tx(l.x0+float64(i)), tx(l.x0+float64(i+1))
			y0, y1 := ty(float64(row)+0.1), ty(float64(row)+0.9)
			c.FillPolygon(col, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
		}
	}
}

func (l lightsPlotter) DataRange() (xmin, xmax, ymin, ymax float64) {
	n := 1
	for _, v := range l.lights {
		n = max(n, len(v))
	}
	return l.x0, l.x0 + float64(n), 0, float64(len(l.names))
}

func (r *Report) plotLights(dir string) error {
	p := newPlot("Identity providers' traffic lights", "seconds since the opening", "")
	names := make([]string, 0, len(r.Series.Lights))
	for n := range r.Series.Lights {
		names = append(names, n)
	}
	sort.Strings(names)
	p.Add(lightsPlotter{names: names, lights: r.Series.Lights, x0: r.t(1)})
	ticks := make([]plot.Tick, len(names))
	for i, n := range names {
		ticks[i] = plot.Tick{Value: float64(i) + 0.5, Label: n}
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Min, p.Y.Max = 0, float64(max(1, len(names)))
	return p.Save(plotW, plotH, filepath.Join(dir, PlotLights))
}

func (r *Report) plotJourney(dir string) error {
	p := newPlot("Arrival to confirmed booking (CDF)", "minutes", "share of people who booked")
	js := sortedCopy(r.journey)
	xy := make(plotter.XYs, 0, 1001)
	if len(js) == 0 {
		xy = append(xy, plotter.XY{})
	}
	step := max(1, len(js)/1000)
	for i := 0; i < len(js); i += step {
		xy = append(xy, plotter.XY{X: js[i], Y: float64(i+1) / float64(len(js))})
	}
	if n := len(js); n > 0 {
		xy = append(xy, plotter.XY{X: js[n-1], Y: 1})
	}
	if err := line(p, fmt.Sprintf("%d people", len(js)), colBlue, xy); err != nil {
		return err
	}
	p.Y.Min, p.Y.Max = 0, 1
	return p.Save(plotW, plotH, filepath.Join(dir, PlotJourney))
}

func (r *Report) plotMemory(dir string) error {
	p := newPlot("Memory of the process (server and simulator when in process)", "seconds since the opening", "MiB")
	if err := r.seriesLines(p, 1, []lineSeries{{"resident set", colBlue, r.Series.RSSMiB},
		{"Go runtime total", colOrange, r.Series.GoTotalMiB}, {"live Go heap", colGreen, r.Series.GoHeapMiB}}); err != nil {
		return err
	}
	return p.Save(plotW, plotH, filepath.Join(dir, PlotMemory))
}
