package booking

import (
	"math"
)

// LatLng is a point in WGS84 decimal degrees.
type LatLng struct {
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
}

// earthRadiusKm is the mean Earth radius (IUGG).
const earthRadiusKm = 6371.0088

const rad = math.Pi / 180

// DistanceKm returns the great-circle (haversine) distance between a and b.
func DistanceKm(a, b LatLng) float64 {
	return havKm(hav(newPoint(a), newPoint(b)))
}

// point is a position prepared for haversine: radians and cos(latitude).
type point struct{ lat, lng, cos float64 }

func newPoint(p LatLng) point {
	lat := p.Lat * rad
	return point{lat, p.Lng * rad, math.Cos(lat)}
}

// hav is the haversine term of the distance between a and b (monotone in
// the distance, cheaper: no inverse sine).
func hav(a, b point) float64 {
	sLat := math.Sin((b.lat - a.lat) / 2)
	sLng := math.Sin((b.lng - a.lng) / 2)
	return sLat*sLat + a.cos*b.cos*sLng*sLng
}

// havKm turns a haversine term into kilometres.
func havKm(h float64) float64 { return 2 * earthRadiusKm * math.Asin(math.Min(1, math.Sqrt(h))) }

// havOf returns the haversine term of a distance.
func havOf(km float64) float64 {
	s := math.Sin(km / (2 * earthRadiusKm))
	return s * s
}

// gridCellDeg is the side of a grid cell in degrees (about 5.5 km north–south).
const gridCellDeg = 0.05

// grid buckets clinics by (lat, lng) cell so that a radius query visits only
// the cells of the query's bounding box. Distances are then checked exactly,
// so the grid only has to never miss a cell.
type grid struct {
	cells map[int64][]int32
	nLng  int64 // cells around a parallel
}

func cellOf(p LatLng) (int64, int64) {
	return int64(math.Floor(p.Lat / gridCellDeg)), int64(math.Floor(p.Lng / gridCellDeg))
}

func (g *grid) key(la, lo int64) int64 {
	lo %= g.nLng
	if lo < 0 {
		lo += g.nLng
	}
	return la*g.nLng + lo
}

func newGrid(clinics []clinicRec) grid {
	g := grid{cells: map[int64][]int32{}, nLng: int64(math.Round(360 / gridCellDeg))}
	for i, c := range clinics {
		la, lo := cellOf(LatLng{c.Lat, c.Lng})
		k := g.key(la, lo)
		g.cells[k] = append(g.cells[k], int32(i))
	}
	return g
}

// near calls fn with every clinic index whose cell intersects the bounding
// box of the circle (center, radiusKm); it may call fn for clinics outside
// the circle but never misses one inside. all is called instead when the
// box is too large to be worth walking (polar or antimeridian-wide circles).
func (g *grid) near(center LatLng, radiusKm float64, fn func(ci int32), all func()) {
	// One degree of latitude is at least 110.57 km; use a slightly smaller
	// figure so the box is never too tight.
	const kmPerDegLat = 110.0
	dLat := radiusKm / kmPerDegLat
	latLo, latHi := center.Lat-dLat, center.Lat+dLat
	if latLo <= -89 || latHi >= 89 {
		all()
		return
	}
	// The box's widest parallel is the one farthest from the equator.
	maxAbsLat := math.Max(math.Abs(latLo), math.Abs(latHi))
	cos := math.Cos(maxAbsLat * math.Pi / 180)
	dLng := radiusKm / (kmPerDegLat * cos)
	if dLng >= 170 {
		all()
		return
	}
	la0, lo0 := cellOf(LatLng{latLo, center.Lng - dLng})
	la1, lo1 := cellOf(LatLng{latHi, center.Lng + dLng})
	if (la1-la0+1)*(lo1-lo0+1) > int64(len(g.cells))*4+64 {
		all()
		return
	}
	for la := la0; la <= la1; la++ {
		for lo := lo0; lo <= lo1; lo++ {
			for _, ci := range g.cells[g.key(la, lo)] {
				fn(ci)
			}
		}
	}
}
