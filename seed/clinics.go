package seed

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"vaxbook"
)

// landMarginM is how far inside its district polygon (hence on land) every
// generated clinic lies.
const landMarginM = 150

// townCentres are the anchors used instead of the polygon centroid for the
// seven districts whose centroid lies at sea: hand-picked town centres (the
// city hall or county office town), each checked by a test to lie inside the
// district polygon.
var townCentres = map[string][2]float64{
	"23320": {37.2400, 126.4600}, // 옹진군: 영흥면, 영흥도 (the county office itself sits in mainland Incheon)
	"31092": {37.3219, 126.8309}, // 안산시 단원구: 고잔동, Ansan city hall
	"36020": {34.7604, 127.6622}, // 여수시: 학동, Yeosu city hall
	"36460": {34.3110, 126.7551}, // 완도군: 완도읍
	"36480": {34.8266, 126.3515}, // 신안군: 압해읍, county office on 압해도
	"38060": {35.0036, 128.0645}, // 사천시: 용현면, Sacheon city hall
	"38350": {34.8376, 127.8924}, // 남해군: 남해읍
}

// ClinicCounts returns how many of n clinics each district gets (by
// sigungu code): one each, the rest by population share (largest remainder).
func (g *Generator) ClinicCounts(n int) map[string]int {
	counts := apportion(n-len(g.regions), g.districtW, 0)
	out := make(map[string]int, len(g.regions))
	for i, r := range g.regions {
		out[r.SigunguCode] = counts[i] + 1
	}
	return out
}

// Clinics returns Config.Clinics clinics, ids 1…n, ordered by district
// code: at least one per district, the rest by population. The first
// clinic of each district is its vaccination centre ("종로구 예방접종센터",
// Pfizer); the others are private clinics with plausible names
// ("수원연세내과의원"), half Pfizer and half Moderna. Coordinates are near
// the district's centroid (or, for the seven districts whose centroid is at
// sea, its town centre) and always at least 150 m inside the district's
// polygon, hence on land.
func (g *Generator) Clinics() ([]vaxbook.Clinic, error) {
	land, err := LoadLand()
	if err != nil {
		return nil, err
	}
	counts := apportion(g.cfg.Clinics-len(g.regions), g.districtW, 0)
	out := make([]vaxbook.Clinic, 0, g.cfg.Clinics)
	id := int64(0)
	for i, d := range g.regions {
		if !land.Has(d.SigunguCode) {
			return nil, errorf("no polygon for district %s", d.SigunguCode)
		}
		anchor := g.anchor(land, d)
		radius := min(3, max(0.5, 0.35*math.Sqrt(land.areaKm2(d.SigunguCode)/math.Pi)))
		names := map[string]bool{}
		for k := 0; k < counts[i]+1; k++ {
			id++
			r := newRNG(g.cfg.Seed, streamClinic, uint64(id))
			c := vaxbook.Clinic{ID: id, SidoCode: d.SidoCode, SigunguCode: d.SigunguCode}
			if k == 0 {
				c.Name = d.SigunguKo + " 예방접종센터"
				c.Vaccine = "pfizer"
			} else {
				c.Name = g.clinicName(&r, d, names)
				c.Vaccine = "pfizer"
				if r.float() < 0.5 {
					c.Vaccine = "moderna"
				}
			}
			names[c.Name] = true
			c.Address = address(&r, d)
			c.Phone = clinicPhone(&r, d.SidoCode)
			c.Lat, c.Lng = place(&r, land, d.SigunguCode, anchor, radius)
			out = append(out, c)
		}
	}
	return out, nil
}

// anchor is the point clinics of the district cluster around: the town
// centre for the seven at-sea centroids, otherwise the centroid, moved to
// the nearest point at least landMarginM inside the polygon if it is closer
// to the boundary than that.
func (g *Generator) anchor(land *Land, d vaxbook.Region) [2]float64 {
	a := [2]float64{d.Lat, d.Lng}
	if t, ok := townCentres[d.SigunguCode]; ok {
		a = t
	}
	if land.InsideBy(d.SigunguCode, a[0], a[1], landMarginM) {
		return a
	}
	for km := 0.1; km <= 20; km += 0.1 {
		for k := 0; k < 36; k++ {
			th := float64(k) * math.Pi / 18
			lat := a[0] + km*math.Cos(th)/kmPerDegLat
			lng := a[1] + km*math.Sin(th)/(kmPerDegLat*math.Cos(a[0]*math.Pi/180))
			if land.InsideBy(d.SigunguCode, lat, lng, landMarginM) {
				return [2]float64{lat, lng}
			}
		}
	}
	return a
}

// place draws a point within radiusKm of the anchor (denser near it) that
// lies at least landMarginM inside the district, shrinking the radius when
// draws fall outside; after 32 misses it returns the anchor.
func place(r *rng, land *Land, code string, anchor [2]float64, radiusKm float64) (float64, float64) {
	cos := math.Cos(anchor[0] * math.Pi / 180)
	for try := 0; try < 32; try++ {
		rad := radiusKm * math.Pow(0.8, float64(try/4)) * r.float()
		th := 2 * math.Pi * r.float()
		lat := round6(anchor[0] + rad*math.Cos(th)/kmPerDegLat)
		lng := round6(anchor[1] + rad*math.Sin(th)/(kmPerDegLat*cos))
		if land.InsideBy(code, lat, lng, landMarginM) {
			return lat, lng
		}
	}
	return anchor[0], anchor[1]
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// clinicName returns a name not yet in used: "{place}{core}{kind}".
func (g *Generator) clinicName(r *rng, d vaxbook.Region, used map[string]bool) string {
	places := []string{"", sidoShort(d.SidoKo), districtShort(d.SigunguKo)}
	for try := 0; ; try++ {
		p := places[r.intn(len(places))]
		name := p + clinicCores[r.intn(len(clinicCores))] + clinicKinds[g.kinds.pick(r.float())].s
		if try >= 20 {
			name = fmt.Sprintf("%s %d호점", name, try-18)
		}
		if !used[name] {
			return name
		}
	}
}

// sidoShort returns the usual short name of a 시도: 서울, 부산, 경기, 충북, 전남, 제주 …
func sidoShort(ko string) string {
	r := []rune(ko)
	if len(r) == 4 && r[3] == '도' && (r[0] == '충' || r[0] == '전' || r[0] == '경') && r[1] != '기' {
		return string([]rune{r[0], r[2]})
	}
	return string(r[:2])
}

// districtShort returns a district's name without its suffix, the city for
// the 구 of a general city: 종로구 → 종로, 수원시 장안구 → 수원, 중구 → "".
func districtShort(ko string) string {
	if city, _, ok := strings.Cut(ko, " "); ok {
		ko = city
	}
	r := []rune(ko)
	if len(r) <= 2 {
		return ""
	}
	return string(r[:len(r)-1])
}

// address returns a synthetic road-name address in the district:
// "경기도 수원시 장안구 중앙로 123" (세종 has no district level).
func address(r *rng, d vaxbook.Region) string {
	road := roadNames[r.intn(len(roadNames))]
	if r.float() < 0.4 {
		road += fmt.Sprintf("%d번길", 1+r.intn(60))
	}
	area := d.SidoKo + " " + d.SigunguKo
	if d.SidoCode == "29" {
		area = d.SidoKo
	}
	return fmt.Sprintf("%s %s %d", area, road, 1+r.intn(300))
}

// clinicPhone returns a landline number with the 시도's area code.
func clinicPhone(r *rng, sido string) string {
	area := sidoPhoneArea[sido]
	if area == "02" {
		return fmt.Sprintf("02-%d-%04d", 2000+r.intn(8000), r.intn(10000))
	}
	return fmt.Sprintf("%s-%d-%04d", area, 200+r.intn(800), r.intn(10000))
}

// apportion splits total over weights by largest remainder; ties go to the
// lowest index counted from rot (so callers can rotate who wins ties).
func apportion(total int, w []float64, rot int) []int {
	carry := make([]float64, len(w))
	return apportionCarry(total, w, carry, rot)
}

// apportionCarry is apportion with carried fractions: carry[i] (updated in
// place) is what index i was owed or overpaid in earlier rounds, so that
// repeated rounds keep every index's running total within one of its exact
// share while every round's total is exact.
func apportionCarry(total int, w []float64, carry []float64, rot int) []int {
	var sum float64
	for _, x := range w {
		sum += x
	}
	out := make([]int, len(w))
	if total <= 0 || sum <= 0 {
		return out
	}
	q := make([]float64, len(w))
	given := 0
	for i, x := range w {
		q[i] = float64(total)*x/sum + carry[i]
		out[i] = max(0, int(math.Floor(q[i])))
		given += out[i]
	}
	left := total - given
	if left > 0 {
		idx := make([]int, len(w))
		for i := range idx {
			idx[i] = i
		}
		n := len(w)
		slices.SortFunc(idx, func(a, b int) int {
			fa, fb := q[a]-float64(out[a]), q[b]-float64(out[b])
			if fa != fb {
				if fa > fb {
					return -1
				}
				return 1
			}
			return ((a-rot)%n+n)%n - ((b-rot)%n+n)%n
		})
		for k := 0; k < left; k++ {
			out[idx[k%n]]++
		}
	}
	for left < 0 { // overpaid indexes clamped at 0: take back from the least owed
		best := -1
		for i := range w {
			if out[i] > 0 && (best < 0 || q[i]-float64(out[i]) < q[best]-float64(out[best])) {
				best = i
			}
		}
		out[best]--
		left++
	}
	for i := range w {
		carry[i] = q[i] - float64(out[i])
	}
	return out
}
