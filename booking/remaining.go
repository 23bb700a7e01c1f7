package booking

import (
	"sort"
	"sync/atomic"
	"time"

	"vaxbook"
)

// Remaining is what is left to book, as the operators' dashboard shows it:
// dose-1 places (capped by the room of their dose-2 pair, as search shows
// them) on the campaign's dose-1 dates from From on, in total, by day and by
// 시도.
type Remaining struct {
	From   vaxbook.Date    `json:"from"`
	Total  int64           `json:"total"`
	ByDay  []DayRemaining  `json:"by_day"`
	BySido []SidoRemaining `json:"by_sido"`
}

// DayRemaining is the places left on one dose-1 date, every clinic.
type DayRemaining struct {
	Date      vaxbook.Date `json:"date"`
	Remaining int64        `json:"remaining"`
}

// SidoRemaining is the places left in one 시도 from From on.
type SidoRemaining struct {
	Code      string `json:"code"`
	NameKo    string `json:"name_ko"`
	NameEn    string `json:"name_en"`
	Clinics   int    `json:"clinics"`
	Remaining int64  `json:"remaining"`
}

// Remaining sums the index's per clinic-day counters from the date of at
// (in the campaign's time zone) on. It reads the index only (atomic loads,
// no lock, no store): one pass over clinics × remaining days, about a
// millisecond for the whole country.
func (e *Engine) Remaining(at time.Time) Remaining {
	ix := e.ix
	out := Remaining{From: vaxbook.DateOf(at.In(ix.loc))}
	first := 0
	switch {
	case out.From.After(ix.dose1.To):
		first = len(ix.days)
	case ix.dose1.From.Before(out.From):
		first = ix.dose1.From.DaysUntil(out.From)
	}
	byDay := make([]int64, len(ix.days))
	type sido struct {
		i       int
		clinics int
		left    int64
	}
	sidos := map[string]*sido{}
	for _, r := range ix.regions {
		if sidos[r.SidoCode] == nil {
			sidos[r.SidoCode] = &sido{i: len(out.BySido)}
			out.BySido = append(out.BySido, SidoRemaining{Code: r.SidoCode, NameKo: r.SidoKo, NameEn: r.SidoEn})
		}
	}
	for ci := range ix.clinics {
		code := ix.clinics[ci].SidoCode
		s := sidos[code]
		if s == nil {
			s = &sido{i: len(out.BySido)}
			sidos[code] = s
			out.BySido = append(out.BySido, SidoRemaining{Code: code, NameKo: code, NameEn: code})
		}
		s.clinics++
		for day := first; day < len(ix.days); day++ {
			v := int64(atomic.LoadInt32(&ix.agg[ix.aggBase(ci, day)+colTotal]))
			byDay[day] += v
			s.left += v
		}
	}
	for _, s := range sidos {
		out.BySido[s.i].Clinics = s.clinics
		out.BySido[s.i].Remaining = s.left
	}
	sort.Slice(out.BySido, func(a, b int) bool { return out.BySido[a].Code < out.BySido[b].Code })
	for day := first; day < len(ix.days); day++ {
		out.ByDay = append(out.ByDay, DayRemaining{Date: ix.days[day], Remaining: byDay[day]})
		out.Total += byDay[day]
	}
	if out.ByDay == nil {
		out.ByDay = []DayRemaining{}
	}
	return out
}
