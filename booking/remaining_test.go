package booking

import (
	"context"
	"fmt"
	"testing"
	"time"

	"vaxbook"
)

// remainingByScan recomputes Remaining from the per-clinic views (Clinic),
// by day and by 시도, counting days from from on.
func remainingByScan(t *testing.T, e *Engine, k *country, from vaxbook.Date) (map[vaxbook.Date]int64, map[string]int64, int64) {
	t.Helper()
	byDay, bySido := map[vaxbook.Date]int64{}, map[string]int64{}
	var total int64
	for _, cl := range k.data.Clinics {
		v, err := e.Clinic(cl.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range v.Days {
			if d.Date.Before(from) {
				continue
			}
			byDay[d.Date] += int64(d.Remaining)
			bySido[cl.SidoCode] += int64(d.Remaining)
			total += int64(d.Remaining)
		}
	}
	return byDay, bySido, total
}

func checkRemaining(t *testing.T, e *Engine, k *country, at time.Time) Remaining {
	t.Helper()
	got := e.Remaining(at)
	byDay, bySido, total := remainingByScan(t, e, k, vaxbook.DateOf(at.In(kst)))
	if got.Total != total {
		t.Errorf("at %s: total %d, scan says %d", at, got.Total, total)
	}
	if len(got.ByDay) != len(byDay) {
		t.Errorf("at %s: %d days, scan has %d", at, len(got.ByDay), len(byDay))
	}
	for _, d := range got.ByDay {
		if d.Remaining != byDay[d.Date] {
			t.Errorf("at %s: day %s has %d, scan says %d", at, d.Date, d.Remaining, byDay[d.Date])
		}
	}
	seen := map[string]bool{}
	for i, s := range got.BySido {
		if i > 0 && got.BySido[i-1].Code >= s.Code {
			t.Errorf("시도 not in code order: %s after %s", s.Code, got.BySido[i-1].Code)
		}
		seen[s.Code] = true
		if s.Remaining != bySido[s.Code] {
			t.Errorf("at %s: 시도 %s has %d, scan says %d", at, s.Code, s.Remaining, bySido[s.Code])
		}
		if s.NameKo == "" || s.NameEn == "" {
			t.Errorf("시도 %s without names: %+v", s.Code, s)
		}
	}
	for code := range bySido {
		if !seen[code] {
			t.Errorf("시도 %s missing", code)
		}
	}
	return got
}

func TestRemaining(t *testing.T) {
	store, k := openCountry(t, spec{Clinics: 12, Days: 4, Hours: []int{9, 14}, Cap: 3, People: 50})
	e := newEngine(t, store, k.c, Config{})
	first := k.c.Vaccination.From
	at := first.In(kst).Add(-48 * time.Hour) // before the first vaccination day: every day counts

	before := checkRemaining(t, e, k, at)
	if before.Total == 0 || len(before.ByDay) != len(e.ix.days) || len(before.BySido) != 6 {
		t.Fatalf("fixture: %+v", before)
	}
	s0 := k.dose1[0]
	if _, err := e.Book(context.Background(), newPerson(9), s0.ID, "", day9Open.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	after := checkRemaining(t, e, k, at)
	if after.Total != before.Total-1 {
		t.Fatalf("a booking took %d places from the total", before.Total-after.Total)
	}
	if after.ByDay[0].Remaining != before.ByDay[0].Remaining-1 {
		t.Fatalf("first day: %d → %d", before.ByDay[0].Remaining, after.ByDay[0].Remaining)
	}

	// From the second vaccination day on, the first day no longer counts.
	later := checkRemaining(t, e, k, first.AddDays(1).In(kst).Add(time.Hour))
	if len(later.ByDay) != len(after.ByDay)-1 || later.ByDay[0].Date != first.AddDays(1) {
		t.Fatalf("from day 2: %+v", later.ByDay[:2])
	}
	// After the last dose-1 date, nothing is left to book.
	end := checkRemaining(t, e, k, e.ix.days[len(e.ix.days)-1].AddDays(1).In(kst))
	if end.Total != 0 || len(end.ByDay) != 0 {
		t.Fatalf("after the last day: %+v", end)
	}
}

// BenchmarkRemaining sums the index for the dashboard: its cost is one
// atomic load per clinic and dose-1 day of the campaign, whatever the slots.
func BenchmarkRemaining(b *testing.B) {
	for _, clinics := range []int{2_000, 14_000} {
		b.Run(fmt.Sprintf("clinics=%d", clinics), func(b *testing.B) {
			store, k := openCountry(b, spec{Clinics: clinics, Days: 1, Hours: []int{9}, Cap: 3, People: 10})
			e := newEngine(b, store, k.c, Config{})
			at := k.c.Vaccination.From.In(kst)
			for b.Loop() {
				e.Remaining(at)
			}
		})
	}
}
