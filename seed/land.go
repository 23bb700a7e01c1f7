package seed

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sync"
)

// Land holds the boundary polygons of the 250 districts (KOSTAT/SGIS 2018,
// the same source as the centroids of regions.csv), used to keep generated
// clinics on land and inside their own district.
type Land struct {
	byCode map[string]*district
}

type point struct{ lng, lat float64 }

type district struct {
	rings [][]point // outer rings and holes, even-odd rule
	// bounding box
	minLng, minLat, maxLng, maxLat float64
}

// LoadLand decodes the embedded district polygons. The result is immutable
// and safe for concurrent use; it is decoded once per process.
func LoadLand() (*Land, error) { return loadLand() }

var loadLand = sync.OnceValues(func() (*Land, error) {
	raw, err := dataFS.ReadFile("data/" + topoFile)
	if err != nil {
		return nil, fmt.Errorf("seed: district polygons: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("seed: district polygons: %w", err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("seed: district polygons: %w", err)
	}
	return parseTopo(data)
})

// topojson is the subset of TopoJSON the SGIS file uses: one geometry
// collection of (Multi)Polygons over quantised, delta-encoded arcs.
type topojson struct {
	Transform struct {
		Scale     [2]float64 `json:"scale"`
		Translate [2]float64 `json:"translate"`
	} `json:"transform"`
	Objects map[string]struct {
		Geometries []struct {
			Type       string          `json:"type"`
			Arcs       json.RawMessage `json:"arcs"`
			Properties struct {
				Code string `json:"code"`
			} `json:"properties"`
		} `json:"geometries"`
	} `json:"objects"`
	Arcs [][][2]float64 `json:"arcs"`
}

func parseTopo(data []byte) (*Land, error) {
	var t topojson
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("seed: district polygons: %w", err)
	}
	arcs := make([][]point, len(t.Arcs))
	for i, a := range t.Arcs {
		var x, y float64
		pts := make([]point, len(a))
		for j, d := range a {
			x += d[0]
			y += d[1]
			pts[j] = point{x*t.Transform.Scale[0] + t.Transform.Translate[0], y*t.Transform.Scale[1] + t.Transform.Translate[1]}
		}
		arcs[i] = pts
	}
	ring := func(idx []int) ([]point, error) {
		var r []point
		for _, i := range idx {
			rev := i < 0
			if rev {
				i = ^i
			}
			if i >= len(arcs) {
				return nil, fmt.Errorf("arc %d out of range", i)
			}
			a := arcs[i]
			start := len(r)
			if start > 0 {
				// consecutive arcs share their joining point
				if rev {
					a = a[:len(a)-1]
				} else {
					a = a[1:]
				}
			}
			if rev {
				for k := len(a) - 1; k >= 0; k-- {
					r = append(r, a[k])
				}
			} else {
				r = append(r, a...)
			}
		}
		return r, nil
	}
	l := &Land{byCode: map[string]*district{}}
	for _, obj := range t.Objects {
		for _, g := range obj.Geometries {
			var polys [][][]int
			switch g.Type {
			case "Polygon":
				var p [][]int
				if err := json.Unmarshal(g.Arcs, &p); err != nil {
					return nil, fmt.Errorf("seed: district %s: %w", g.Properties.Code, err)
				}
				polys = [][][]int{p}
			case "MultiPolygon":
				if err := json.Unmarshal(g.Arcs, &polys); err != nil {
					return nil, fmt.Errorf("seed: district %s: %w", g.Properties.Code, err)
				}
			default:
				return nil, fmt.Errorf("seed: district %s: unexpected geometry %s", g.Properties.Code, g.Type)
			}
			d := &district{minLng: math.Inf(1), minLat: math.Inf(1), maxLng: math.Inf(-1), maxLat: math.Inf(-1)}
			for _, p := range polys {
				for _, idx := range p {
					r, err := ring(idx)
					if err != nil {
						return nil, fmt.Errorf("seed: district %s: %w", g.Properties.Code, err)
					}
					for _, q := range r {
						d.minLng, d.maxLng = min(d.minLng, q.lng), max(d.maxLng, q.lng)
						d.minLat, d.maxLat = min(d.minLat, q.lat), max(d.maxLat, q.lat)
					}
					d.rings = append(d.rings, r)
				}
			}
			l.byCode[g.Properties.Code] = d
		}
	}
	return l, nil
}

// Has reports whether the district code has a polygon.
func (l *Land) Has(code string) bool { return l.byCode[code] != nil }

// Contains reports whether (lat, lng) lies inside the district's polygon
// (islands included, holes excluded).
func (l *Land) Contains(code string, lat, lng float64) bool {
	d := l.byCode[code]
	if d == nil || lng < d.minLng || lng > d.maxLng || lat < d.minLat || lat > d.maxLat {
		return false
	}
	in := false
	for _, r := range d.rings {
		for i, j := 0, len(r)-1; i < len(r); j, i = i, i+1 {
			a, b := r[i], r[j]
			if (a.lat > lat) != (b.lat > lat) && lng < (b.lng-a.lng)*(lat-a.lat)/(b.lat-a.lat)+a.lng {
				in = !in
			}
		}
	}
	return in
}

// Inside returns how far (in metres) (lat, lng) lies inside the district:
// the distance to its nearest boundary if the point is inside, a negative
// number otherwise.
func (l *Land) Inside(code string, lat, lng float64) float64 {
	if !l.Contains(code, lat, lng) {
		return -1
	}
	return l.boundaryDist(code, lat, lng, math.Inf(1))
}

// InsideBy reports whether (lat, lng) lies inside the district and at least
// margin metres from its boundary.
func (l *Land) InsideBy(code string, lat, lng, margin float64) bool {
	return l.Contains(code, lat, lng) && l.boundaryDist(code, lat, lng, margin) >= margin
}

// boundaryDist returns the distance in metres from the point to the
// district's boundary, or any value below limit as soon as one is found.
func (l *Land) boundaryDist(code string, lat, lng, limit float64) float64 {
	d := l.byCode[code]
	// Local equirectangular projection around the point: metres per degree.
	const r = 6371008.8
	ky := r * math.Pi / 180
	kx := ky * math.Cos(lat*math.Pi/180)
	best := math.Inf(1)
	for _, ring := range d.rings {
		for i := 1; i < len(ring); i++ {
			ax, ay := (ring[i-1].lng-lng)*kx, (ring[i-1].lat-lat)*ky
			bx, by := (ring[i].lng-lng)*kx, (ring[i].lat-lat)*ky
			// Skip segments whose bounding box is farther than the best so far.
			if (ax > best && bx > best) || (ax < -best && bx < -best) || (ay > best && by > best) || (ay < -best && by < -best) {
				continue
			}
			best = min(best, segDist(ax, ay, bx, by))
			if best < limit && limit != math.Inf(1) {
				return best
			}
		}
	}
	return best
}

// segDist is the distance from the origin to the segment a–b.
func segDist(ax, ay, bx, by float64) float64 {
	dx, dy := bx-ax, by-ay
	l2 := dx*dx + dy*dy
	t := 0.0
	if l2 > 0 {
		t = max(0, min(1, -(ax*dx+ay*dy)/l2))
	}
	x, y := ax+t*dx, ay+t*dy
	return math.Hypot(x, y)
}

// areaKm2 returns the district's area (islands included, holes excluded) in
// km², from a local equirectangular projection.
func (l *Land) areaKm2(code string) float64 {
	d := l.byCode[code]
	if d == nil {
		return 0
	}
	lat0 := (d.minLat + d.maxLat) / 2
	ky := 6371.0088 * math.Pi / 180
	kx := ky * math.Cos(lat0*math.Pi/180)
	var sum float64
	for _, r := range d.rings {
		var a float64
		for i, j := 0, len(r)-1; i < len(r); j, i = i, i+1 {
			a += (r[j].lng*kx)*(r[i].lat*ky) - (r[i].lng*kx)*(r[j].lat*ky)
		}
		sum += a / 2 // holes are wound the other way: they subtract
	}
	return math.Abs(sum)
}
