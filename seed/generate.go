// Package seed creates the synthetic country vaxbook runs its demo, tests
// and rush simulations against, and imports real clinics and people from CSV.
//
// Everything synthetic is a pure function of a Config and a campaign: person
// n is Generator.Citizen(n), computed in about a microsecond without any
// state, so the built-in identity provider can regenerate anyone (name,
// birth date, the provider identifier "CI") from the registry id alone, and
// two runs with the same Config produce the same country. See docs/seed.md
// for the model (who lives where, birth dates, names, clinics, supply) and
// the CSV formats.
//
// Reference data (embedded, see data/README.md): the 250 districts of the
// KOSTAT 2018 division set with their centroids and polygons (출처 통계청
// SGIS, KOGL Type 1), and the 2021 population of the 17 시도 (MOIS).
package seed

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"vaxbook"
	"vaxbook/campaign"
)

// Defaults and limits of Config.
const (
	DefaultPeople  = 1_000_000
	MaxPeople      = 20_000_000
	DefaultClinics = 14_000
	// MinClinics is one clinic per district.
	MinClinics = 250
	MaxClinics = 200_000
)

// Config says what country to generate. Start from DefaultConfig: every
// field is used as given (a zero share means none).
type Config struct {
	People  int    // people, ids 1..People (1 … MaxPeople)
	Clinics int    // clinics, ids 1..Clinics (MinClinics … MaxClinics)
	Seed    uint64 // everything random derives from it
	// SupplyFactor is total dose-1 capacity ÷ people of the campaign's group.
	SupplyFactor float64
	// ForeignShare is the share of registered foreigners (0 … 1).
	ForeignShare float64
	// OutOfGroupShare is the share of people born outside the campaign's
	// group (older and younger), so that "not in the age group" can be shown.
	OutOfGroupShare float64
}

// DefaultConfig returns 1,000,000 people, 14,000 clinics, seed 1, supply
// 1.1× the group, 4 % registered foreigners and 8 % out of the age group.
func DefaultConfig() Config {
	return Config{People: DefaultPeople, Clinics: DefaultClinics, Seed: 1, SupplyFactor: 1.1, ForeignShare: 0.04, OutOfGroupShare: 0.08}
}

// Validate reports the first out-of-range field as a *vaxbook.Error
// (CodeInvalid) naming it.
func (c Config) Validate() error {
	switch {
	case c.People < 1 || c.People > MaxPeople:
		return vaxbook.InvalidParam("people", "people: %d is out of range 1…%d", c.People, MaxPeople)
	case c.Clinics < MinClinics || c.Clinics > MaxClinics:
		return vaxbook.InvalidParam("clinics", "clinics: %d is out of range %d…%d (at least one per district)", c.Clinics, MinClinics, MaxClinics)
	case !(c.SupplyFactor > 0 && c.SupplyFactor <= 100):
		return vaxbook.InvalidParam("supply-factor", "supply factor: %v is out of range (0, 100]", c.SupplyFactor)
	case !(c.ForeignShare >= 0 && c.ForeignShare <= 1):
		return vaxbook.InvalidParam("foreign-share", "foreign share: %v is out of range [0, 1]", c.ForeignShare)
	case !(c.OutOfGroupShare >= 0 && c.OutOfGroupShare < 1):
		return vaxbook.InvalidParam("out-of-group-share", "out-of-group share: %v is out of range [0, 1)", c.OutOfGroupShare)
	}
	return nil
}

// Citizen is one synthetic person as the identity provider and the registry
// know them. CI is the provider's stable identifier (88 characters of base64,
// like the Korean CI); the registry stores only its blind index.
type Citizen struct {
	ID          int64
	CI          string
	Name        string
	Phone       string
	BirthDate   vaxbook.Date
	Nationality vaxbook.Nationality
	Sigungu     string
}

// Generator generates a country. It is immutable and safe for concurrent
// use.
type Generator struct {
	cfg       Config
	camp      vaxbook.Campaign
	loc       *time.Location
	regions   []vaxbook.Region
	regionIdx map[string]int // sigungu code → index into regions
	// districtW is each district's share of the population, districtCDF its
	// cumulative form (by regions index).
	districtW   []float64
	districtCDF cdf
	inGroup     birthSampler
	outGroup    birthSampler
	oog         float64 // effective out-of-group share (0 when no such birth dates exist)
	ciKey       [32]byte
	surnames    cdf
	given       []string
	foreign     cdf
	kinds       cdf
}

// NewGenerator prepares a generator for the campaign c (its group decides
// who is in and out of the age group; its vaccination dates, doses, time
// zone and quota policy decide the supply). People depend only on cfg and
// c.Group, so a campaign shifted in time (campaign.Shift) generates the same
// people.
func NewGenerator(cfg Config, c vaxbook.Campaign) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if c.Group.BornFrom.IsZero() || c.Group.BornTo.IsZero() || c.Group.BornTo.Before(c.Group.BornFrom) {
		return nil, vaxbook.InvalidParam("campaign", "campaign %s: group birth-date range is missing or empty", c.ID)
	}
	loc, err := campaign.Location(c)
	if err != nil {
		return nil, vaxbook.InvalidParam("campaign", "campaign %s: %v", c.ID, err)
	}
	if c.Doses != 1 && c.Doses != 2 {
		return nil, vaxbook.InvalidParam("campaign", "campaign %s: doses must be 1 or 2", c.ID)
	}
	regions, err := loadRegions()
	if err != nil {
		return nil, err
	}
	sidos, err := loadSidos()
	if err != nil {
		return nil, err
	}
	g := &Generator{cfg: cfg, camp: c, loc: loc, regions: regions, regionIdx: map[string]int{}, given: givenSyllables}
	g.districtW = districtWeights(regions, sidos)
	g.districtCDF = cumulative(g.districtW)
	for i, r := range regions {
		g.regionIdx[r.SigunguCode] = i
	}
	g.inGroup = newBirthSampler([][2]vaxbook.Date{{c.Group.BornFrom, c.Group.BornTo}})
	g.outGroup = newBirthSampler([][2]vaxbook.Date{
		{c.Group.BornFrom.AddDays(-30 * 365), c.Group.BornFrom.AddDays(-1)}, // up to 30 years older
		{c.Group.BornTo.AddDays(1), c.Group.BornTo.AddDays(17 * 365)},       // up to 17 years younger
	})
	if g.inGroup.empty() {
		// A group born where the population table has no weight (e.g.
		// before 1921): uniform over the group's dates.
		g.inGroup = uniformBirths(c.Group.BornFrom, c.Group.BornTo)
	}
	if !g.outGroup.empty() {
		g.oog = cfg.OutOfGroupShare
	}
	var seedBytes [8]byte
	binary.BigEndian.PutUint64(seedBytes[:], cfg.Seed)
	g.ciKey = sha256.Sum256(append([]byte("vaxbook seed CI v1\x00"), seedBytes[:]...))
	g.surnames = newCDF(koreanSurnames)
	fw := make([]weighted, len(foreignNames))
	for i, f := range foreignNames {
		fw[i] = weighted{w: f.w}
	}
	g.foreign = newCDF(fw)
	g.kinds = newCDF(clinicKinds)
	return g, nil
}

// Config returns the generator's configuration.
func (g *Generator) Config() Config { return g.cfg }

// Campaign returns the campaign the generator was made for.
func (g *Generator) Campaign() vaxbook.Campaign { return g.camp }

// Regions returns the districts (a copy).
func (g *Generator) Regions() []vaxbook.Region { return append([]vaxbook.Region(nil), g.regions...) }

// DistrictShare returns the share of the population living in the district
// (0 for an unknown code). Shares sum to 1.
func (g *Generator) DistrictShare(sigungu string) float64 {
	i, ok := g.regionIdx[sigungu]
	if !ok {
		return 0
	}
	return g.districtW[i]
}

// Random streams: each kind of draw has its own, so adding draws to one kind
// never changes another.
const (
	streamPerson uint64 = 0x9e37_79b9_0000_0001
	streamClinic uint64 = 0x9e37_79b9_0000_0002
	streamHours  uint64 = 0x9e37_79b9_0000_0003
)

// Citizen returns person id (1 … Config.People; other positive ids work too
// and extend the same country). It is pure: the same generator config and
// campaign group always give the same citizen.
func (g *Generator) Citizen(id int64) Citizen {
	r := newRNG(g.cfg.Seed, streamPerson, uint64(id))
	d := g.regions[g.districtCDF.pick(r.float())]
	c := Citizen{ID: id, Sigungu: d.SigunguCode, Nationality: vaxbook.National}
	foreign := r.float() < g.cfg.ForeignShare
	if foreign {
		c.Nationality = vaxbook.RegisteredAlien
	}
	if r.float() < g.oog {
		c.BirthDate = g.outGroup.draw(&r)
	} else {
		c.BirthDate = g.inGroup.draw(&r)
	}
	if foreign {
		c.Name = g.foreignName(&r)
	} else {
		c.Name = g.koreanName(&r)
	}
	c.Phone = mobile(&r)
	c.CI = g.ci(id)
	return c
}

// ci derives the 88-character identifier: base64 of two SHA-256 of
// (key ‖ id ‖ counter), the key being derived from Config.Seed.
func (g *Generator) ci(id int64) string {
	var buf [41]byte
	copy(buf[:32], g.ciKey[:])
	binary.BigEndian.PutUint64(buf[32:40], uint64(id))
	var raw [64]byte
	h := sha256.Sum256(buf[:])
	copy(raw[:32], h[:])
	buf[40] = 1
	h = sha256.Sum256(buf[:])
	copy(raw[32:], h[:])
	return base64.StdEncoding.EncodeToString(raw[:])
}

func (g *Generator) koreanName(r *rng) string {
	var b strings.Builder
	b.Grow(16)
	b.WriteString(koreanSurnames[g.surnames.pick(r.float())].s)
	n := 2
	switch x := r.float(); {
	case x < 0.04:
		n = 1
	case x < 0.05:
		n = 3
	}
	rare := -1
	if r.float() < 0.005 {
		rare = r.intn(n)
	}
	for i := 0; i < n; i++ {
		if i == rare {
			b.WriteString(rareSyllables[r.intn(len(rareSyllables))])
		} else {
			b.WriteString(g.given[r.intn(len(g.given))])
		}
	}
	return b.String()
}

func (g *Generator) foreignName(r *rng) string {
	f := foreignNames[g.foreign.pick(r.float())]
	var b strings.Builder
	b.Grow(32)
	b.WriteString(f.family[r.intn(len(f.family))])
	if len(f.middle) > 0 && r.float() < 0.5 {
		b.WriteByte(' ')
		b.WriteString(f.middle[r.intn(len(f.middle))])
	}
	b.WriteByte(' ')
	b.WriteString(f.given[r.intn(len(f.given))])
	if f.twoGiven && r.float() < 0.5 {
		b.WriteByte(' ')
		b.WriteString(f.given[r.intn(len(f.given))])
	}
	return b.String()
}

// mobile returns "010-XXXX-XXXX" (the middle block starts with 2–9).
func mobile(r *rng) string {
	mid := 2000 + r.intn(8000)
	last := r.intn(10000)
	var b [13]byte
	copy(b[:], "010-0000-0000")
	for i, v := 7, mid; i >= 4; i, v = i-1, v/10 {
		b[i] = byte('0' + v%10)
	}
	for i, v := 12, last; i >= 9; i, v = i-1, v/10 {
		b[i] = byte('0' + v%10)
	}
	return string(b[:])
}

// districtWeights spreads each 시도's population over its districts: a
// 군 (county) counts 1, a 시 or 구 counts 4. The resulting shares are
// plausible (a county ~40 K people, a city district ~150–400 K), not
// official district populations, which the reference data does not have.
func districtWeights(regions []vaxbook.Region, sidos []Sido) []float64 {
	pop := map[string]float64{}
	var total float64
	for _, s := range sidos {
		pop[s.Code] = float64(s.Population)
		total += float64(s.Population)
	}
	kind := make([]float64, len(regions))
	sum := map[string]float64{}
	for i, r := range regions {
		kind[i] = 4
		if strings.HasSuffix(r.SigunguKo, "군") {
			kind[i] = 1
		}
		sum[r.SidoCode] += kind[i]
	}
	w := make([]float64, len(regions))
	for i, r := range regions {
		w[i] = pop[r.SidoCode] / total * kind[i] / sum[r.SidoCode]
	}
	return w
}

// cdf is a cumulative distribution for picking by a uniform float in [0,1).
type cdf []float64

func cumulative(w []float64) cdf {
	c := make(cdf, len(w))
	var s float64
	for i, x := range w {
		s += x
		c[i] = s
	}
	for i := range c {
		c[i] /= s
	}
	c[len(c)-1] = 1
	return c
}

func newCDF(ws []weighted) cdf {
	w := make([]float64, len(ws))
	for i, x := range ws {
		w[i] = x.w
	}
	return cumulative(w)
}

// pick returns the index i with c[i-1] ≤ u < c[i].
func (c cdf) pick(u float64) int {
	i := sort.SearchFloat64s(c, u)
	if i < len(c) && c[i] == u {
		i++
	}
	return min(i, len(c)-1)
}

// birthSampler draws birth dates: a year segment by weight, then a day
// uniformly inside it (so every day of the month, including the 29th–31st
// and 29 February of leap years, occurs).
type birthSampler struct {
	segs []birthSeg
	cum  cdf
}

type birthSeg struct {
	first int64 // days since 1970-01-01
	days  int
}

func dayNumber(d vaxbook.Date) int64 { return d.In(time.UTC).Unix() / 86400 }

func dateOfDay(n int64) vaxbook.Date { return vaxbook.DateOf(time.Unix(n*86400, 0).UTC()) }

func newBirthSampler(ranges [][2]vaxbook.Date) birthSampler {
	var s birthSampler
	var w []float64
	for _, rg := range ranges {
		from, to := rg[0], rg[1]
		if to.Before(from) {
			continue
		}
		for y := from.Year; y <= to.Year; y++ {
			wy := residentsByBirthYear[y]
			if wy == 0 {
				continue
			}
			lo, hi := vaxbook.Date{Year: y, Month: 1, Day: 1}, vaxbook.Date{Year: y, Month: 12, Day: 31}
			if lo.Before(from) {
				lo = from
			}
			if hi.After(to) {
				hi = to
			}
			days := lo.DaysUntil(hi) + 1
			yearDays := vaxbook.Date{Year: y, Month: 1, Day: 1}.DaysUntil(vaxbook.Date{Year: y + 1, Month: 1, Day: 1})
			s.segs = append(s.segs, birthSeg{first: dayNumber(lo), days: days})
			w = append(w, wy*float64(days)/float64(yearDays))
		}
	}
	if len(w) > 0 {
		s.cum = cumulative(w)
	}
	return s
}

func uniformBirths(from, to vaxbook.Date) birthSampler {
	return birthSampler{segs: []birthSeg{{first: dayNumber(from), days: from.DaysUntil(to) + 1}}, cum: cdf{1}}
}

func (s birthSampler) empty() bool { return len(s.segs) == 0 }

func (s birthSampler) draw(r *rng) vaxbook.Date {
	seg := s.segs[s.cum.pick(r.float())]
	return dateOfDay(seg.first + int64(r.intn(seg.days)))
}

// rng is splitmix64: tiny, fast, and good enough for synthetic data. Each
// (seed, stream, index) starts its own sequence.
type rng struct{ s uint64 }

func newRNG(seed, stream, index uint64) rng {
	return rng{s: mix64(seed ^ mix64(stream^mix64(index)))}
}

func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	x := r.s
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// float returns a uniform float64 in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// intn returns a uniform int in [0, n) for 0 < n < 2^31 (multiply-shift;
// the bias is below 2^-32).
func (r *rng) intn(n int) int { return int((r.next() >> 32) * uint64(n) >> 32) }

// errorf wraps an internal failure.
func errorf(format string, args ...any) error { return fmt.Errorf("seed: "+format, args...) }

// metres → degrees of latitude.
const kmPerDegLat = 6371.0088 * math.Pi / 180
