package booking

import (
	"container/heap"
	"encoding/base64"
	"math"
	"strconv"
	"strings"
	"time"

	"vaxbook"
)

// Search limits.
const (
	DefaultLimit    = 20
	MaxLimit        = 100
	DefaultRadiusKm = 5.0
	MaxRadiusKm     = 50.0
	maxQueryRunes   = 100
)

// Query selects clinics. Sigungu and Near may be combined (both must hold);
// with neither, every clinic is a candidate. Results are ordered by distance
// then id with Near, by id otherwise.
type Query struct {
	Sigungu   string       // 시군구 code (KOSTAT, 5 digits)
	Near      *LatLng      // center of a radius search
	RadiusKm  float64      // with Near; 0 means DefaultRadiusKm, at most MaxRadiusKm
	Date      vaxbook.Date // zero, or one dose-1 date: Remaining and Available look at that day only
	Vaccine   string       // exact vaccine name, case-insensitive
	Available bool         // only clinics with a remaining place (on Date, or on some day)
	Q         string       // substring of the clinic name, case-insensitive (Korean works)
	Limit     int          // 0 means DefaultLimit; at most MaxLimit
	Cursor    string       // NextCursor of the previous page, or ""
	Cohort    int          // the asker's cohort 0–9 (or CohortPool); -1 for totals
	At        time.Time    // the instant that decides pooling and which days are past
}

// Result is one page of clinics.
type Result struct {
	Clinics    []ClinicView `json:"clinics"`
	Total      int          `json:"total"`                 // clinics matching the query, all pages
	NextCursor string       `json:"next_cursor,omitempty"` // "" on the last page
}

// ClinicView is a clinic with what it offers.
type ClinicView struct {
	vaxbook.Clinic
	DistanceKm *float64  `json:"distance_km,omitempty"` // with Near
	Remaining  int       `json:"remaining"`             // on Query.Date, or over all days
	Days       []DayView `json:"days"`                  // every dose-1 date of the campaign
}

// DayView is one clinic's remaining places on one date for the asker's
// cohort (or pooled, or in total).
type DayView struct {
	Date      vaxbook.Date `json:"date"`
	Remaining int          `json:"remaining"`
}

// SlotView is one dose-1 appointment time with its remaining places for the
// asker (capped by the room of its dose-2 pair).
type SlotView struct {
	ID        int64      `json:"id"`
	StartsAt  time.Time  `json:"starts_at"`
	Remaining int        `json:"remaining"`
	Dose2     *Dose2View `json:"dose2,omitempty"` // the paired dose-2 appointment (two-dose campaigns)
}

// Dose2View is the dose-2 appointment paired with a dose-1 slot.
type Dose2View struct {
	SlotID   int64     `json:"slot_id"`
	StartsAt time.Time `json:"starts_at"`
}

// candidate is a matching clinic; with Near, dist is the haversine term of
// its distance (ordering by it is ordering by distance).
type candidate struct {
	ci   int32
	dist float64
}

// cursor is the position after the last clinic of a page: (haversine term
// of the distance, id) in distance order, id otherwise.
type cursor struct {
	near bool
	dist float64
	id   int64
}

func (c cursor) String() string {
	var s string
	if c.near {
		s = "d" + strconv.FormatUint(math.Float64bits(c.dist), 36) + "." + strconv.FormatInt(c.id, 36)
	} else {
		s = "i" + strconv.FormatInt(c.id, 36)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func parseCursor(s string, near bool) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	bad := vaxbook.InvalidParam("cursor", "the cursor is not one this server gave for this query")
	if err != nil || len(b) < 2 {
		return cursor{}, bad
	}
	c := cursor{near: b[0] == 'd'}
	if c.near != near || (b[0] != 'd' && b[0] != 'i') {
		return cursor{}, bad
	}
	rest := string(b[1:])
	if near {
		d, id, ok := strings.Cut(rest, ".")
		bits, err1 := strconv.ParseUint(d, 36, 64)
		c.id, err = strconv.ParseInt(id, 36, 64)
		c.dist = math.Float64frombits(bits)
		if !ok || err1 != nil || err != nil || math.IsNaN(c.dist) || c.dist < 0 {
			return cursor{}, bad
		}
		return c, nil
	}
	if c.id, err = strconv.ParseInt(rest, 36, 64); err != nil {
		return cursor{}, bad
	}
	return c, nil
}

// after reports whether candidate (dist, id) comes after the cursor.
func (c cursor) before(dist float64, id int64) bool {
	if c.near && dist != c.dist {
		return dist > c.dist
	}
	return id > c.id
}

// less orders candidates: by distance then id with near, by id otherwise.
func (ix *index) less(near bool, a, b candidate) bool {
	if near && a.dist != b.dist {
		return a.dist < b.dist
	}
	return ix.clinics[a.ci].ID < ix.clinics[b.ci].ID
}

// topK keeps the k smallest candidates (a max-heap on the order).
type topK struct {
	ix   *index
	near bool
	k    int
	h    []candidate
}

func (t *topK) Len() int           { return len(t.h) }
func (t *topK) Less(i, j int) bool { return t.ix.less(t.near, t.h[j], t.h[i]) }
func (t *topK) Swap(i, j int)      { t.h[i], t.h[j] = t.h[j], t.h[i] }
func (t *topK) Push(x any)         { t.h = append(t.h, x.(candidate)) }
func (t *topK) Pop() any           { x := t.h[len(t.h)-1]; t.h = t.h[:len(t.h)-1]; return x }

func (t *topK) offer(c candidate) {
	if len(t.h) < t.k {
		heap.Push(t, c)
		return
	}
	if t.ix.less(t.near, c, t.h[0]) {
		t.h[0] = c
		heap.Fix(t, 0)
	}
}

// validQuery normalises q or says which parameter is wrong.
func (ix *index) validQuery(q *Query) (col, day int, cur cursor, hasCur bool, err error) {
	if q.Sigungu != "" && !ix.regionSet[q.Sigungu] {
		return 0, 0, cur, false, vaxbook.InvalidParam("sigungu", "unknown 시군구 code %q", q.Sigungu)
	}
	if q.Near != nil {
		p := *q.Near
		if math.IsNaN(p.Lat) || math.IsNaN(p.Lng) || p.Lat < -90 || p.Lat > 90 || p.Lng < -180 || p.Lng > 180 {
			return 0, 0, cur, false, vaxbook.InvalidParam("near", "latitude must be within ±90 and longitude within ±180")
		}
		switch {
		case q.RadiusKm == 0:
			q.RadiusKm = DefaultRadiusKm
		case math.IsNaN(q.RadiusKm) || q.RadiusKm < 0 || q.RadiusKm > MaxRadiusKm:
			return 0, 0, cur, false, vaxbook.InvalidParam("radius_km", "radius must be more than 0 and at most %g km", MaxRadiusKm)
		}
	} else if q.RadiusKm != 0 {
		return 0, 0, cur, false, vaxbook.InvalidParam("radius_km", "radius_km needs near")
	}
	day = -1
	if !q.Date.IsZero() {
		if day = ix.dayIndex(q.Date); day < 0 {
			return 0, 0, cur, false, vaxbook.InvalidParam("date", "%s is not a dose-1 vaccination date of this campaign (%s to %s)", q.Date, ix.dose1.From, ix.dose1.To)
		}
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultLimit
	case q.Limit < 0 || q.Limit > MaxLimit:
		return 0, 0, cur, false, vaxbook.InvalidParam("limit", "limit must be between 1 and %d", MaxLimit)
	}
	if q.Cohort < -1 || q.Cohort > vaxbook.CohortPool {
		return 0, 0, cur, false, vaxbook.InvalidParam("cohort", "cohort must be -1 (totals) or 0–%d", vaxbook.CohortPool)
	}
	if len([]rune(q.Q)) > maxQueryRunes {
		return 0, 0, cur, false, vaxbook.InvalidParam("q", "the name filter is longer than %d characters", maxQueryRunes)
	}
	q.Q = strings.ToLower(strings.TrimSpace(q.Q))
	q.Vaccine = strings.ToLower(strings.TrimSpace(q.Vaccine))
	if q.Cursor != "" {
		if cur, err = parseCursor(q.Cursor, q.Near != nil); err != nil {
			return 0, 0, cur, false, err
		}
		hasCur = true
	}
	return ix.col(q.Cohort, q.At), day, cur, hasCur, nil
}

// firstDay is the first day index that is not in the past at instant at.
func (ix *index) firstDay(at time.Time) int {
	if at.IsZero() {
		return 0
	}
	today := vaxbook.DateOf(at.In(ix.loc))
	switch {
	case today.Before(ix.dose1.From):
		return 0
	case today.After(ix.dose1.To):
		return len(ix.days)
	}
	return ix.dose1.From.DaysUntil(today)
}

// hasOffer reports whether clinic ci has a place in column col on day (or
// on some day from first when day < 0).
func (ix *index) hasOffer(ci, col, day, first int) bool {
	if day >= 0 {
		return day >= first && ix.dayRemaining(ci, day, col) > 0
	}
	for d := first; d < len(ix.days); d++ {
		if ix.dayRemaining(ci, d, col) > 0 {
			return true
		}
	}
	return false
}

// search answers a query from memory.
func (ix *index) search(q Query) (Result, error) {
	col, day, cur, hasCur, err := ix.validQuery(&q)
	if err != nil {
		return Result{}, err
	}
	first := ix.firstDay(q.At)
	near := q.Near != nil
	top := &topK{ix: ix, near: near, k: q.Limit + 1}
	total := 0
	consider := func(ci int32, dist float64) {
		c := &ix.clinics[ci]
		if q.Sigungu != "" && c.SigunguCode != q.Sigungu {
			return
		}
		if q.Vaccine != "" && c.lvaccine != q.Vaccine {
			return
		}
		if q.Q != "" && !strings.Contains(c.lname, q.Q) {
			return
		}
		if q.Available && !ix.hasOffer(int(ci), col, day, first) {
			return
		}
		total++
		if hasCur && !cur.before(dist, c.ID) {
			return
		}
		top.offer(candidate{ci, dist})
	}
	switch {
	case near:
		center, r := newPoint(*q.Near), q.RadiusKm
		// Inside hLo certainly within r, beyond hHi certainly not; in
		// between, decide with the distance itself, exactly as DistanceKm.
		hr := havOf(r)
		hLo, hHi := hr*(1-1e-9), hr*(1+1e-9)
		visit := func(ci int32) {
			h := hav(center, ix.clinics[ci].pt)
			if h <= hLo || (h <= hHi && havKm(h) <= r) {
				consider(ci, h)
			}
		}
		ix.grid.near(*q.Near, r, visit, func() {
			for ci := range ix.clinics {
				visit(int32(ci))
			}
		})
	case q.Sigungu != "":
		for _, ci := range ix.bySigungu[q.Sigungu] {
			consider(ci, 0)
		}
	default:
		for ci := range ix.clinics {
			consider(int32(ci), 0)
		}
	}
	// Pop the heap into ascending order.
	page := make([]candidate, len(top.h))
	for i := len(page) - 1; i >= 0; i-- {
		page[i] = heap.Pop(top).(candidate)
	}
	res := Result{Total: total, Clinics: make([]ClinicView, 0, min(len(page), q.Limit))}
	if len(page) > q.Limit {
		page = page[:q.Limit]
		last := page[len(page)-1]
		res.NextCursor = cursor{near: near, dist: last.dist, id: ix.clinics[last.ci].ID}.String()
	}
	for _, c := range page {
		v := ix.clinicView(int(c.ci), col, day, first)
		if near {
			d := havKm(c.dist)
			v.DistanceKm = &d
		}
		res.Clinics = append(res.Clinics, v)
	}
	return res, nil
}

func (ix *index) clinicView(ci, col, day, first int) ClinicView {
	v := ClinicView{Clinic: ix.clinics[ci].Clinic, Days: make([]DayView, len(ix.days))}
	for d := range ix.days {
		n := 0
		if d >= first {
			n = ix.dayRemaining(ci, d, col)
		}
		v.Days[d] = DayView{Date: ix.days[d], Remaining: n}
		if day < 0 || d == day {
			v.Remaining += n
		}
	}
	return v
}

// slotViews lists clinic ci's dose-1 slots on a date.
func (ix *index) slotViews(ci int, date vaxbook.Date, cohort int, at time.Time) ([]SlotView, error) {
	day := ix.dayIndex(date)
	if day < 0 {
		return nil, vaxbook.InvalidParam("date", "%s is not a dose-1 vaccination date of this campaign (%s to %s)", date, ix.dose1.From, ix.dose1.To)
	}
	if cohort < -1 || cohort > vaxbook.CohortPool {
		return nil, vaxbook.InvalidParam("cohort", "cohort must be -1 (totals) or 0–%d", vaxbook.CohortPool)
	}
	col := ix.col(cohort, at)
	from := date.In(ix.loc).Unix()
	to := date.AddDays(1).In(ix.loc).Unix()
	out := []SlotView{}
	for _, si := range ix.clinicSlots(ci, from, to) {
		s := &ix.slots[si]
		v := SlotView{ID: s.id, StartsAt: time.Unix(s.start, 0).In(ix.loc)}
		if at.IsZero() || s.start > at.Unix() {
			v.Remaining = ix.slotOffer(int(si), col)
		}
		if s.pair >= 0 {
			p := &ix.slots[s.pair]
			v.Dose2 = &Dose2View{SlotID: p.id, StartsAt: time.Unix(p.start, 0).In(ix.loc)}
		}
		out = append(out, v)
	}
	return out, nil
}
