package booking

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"vaxbook"
	"vaxbook/campaign"
)

// aggCols is the number of availability columns kept per clinic and day:
// one per dose-1 quota row (cohorts 0–9 and CohortPool) and one for the
// total (what a pooled booking, or an anonymous visitor, can get).
const (
	aggCols  = vaxbook.CohortPool + 2
	colTotal = aggCols - 1
)

// index is the engine's in-memory copy of the campaign's catalog and of the
// remaining places. It is built once by load; afterwards only the quota
// counters change, through apply* under the engine's update lock, and
// readers (search) load them atomically without locks.
//
// Memory: a slot costs one slotRec (40 bytes) plus 8 bytes per quota row; a
// clinic-day costs aggCols int32 counters.
type index struct {
	c         vaxbook.Campaign
	loc       *time.Location
	dose1     vaxbook.DateRange
	days      []vaxbook.Date // dose-1 dates; a slot's day is an index into it
	twoDoses  bool
	interval  int
	regions   []vaxbook.Region
	regionSet map[string]bool

	clinics   []clinicRec // by id
	bySigungu map[string][]int32
	grid      grid

	slots       []slotRec // by id
	clinicStart []int32   // CSR: the slots of clinic i are bySlotStart[clinicStart[i]:clinicStart[i+1]]
	byStart     []int32   // slot indices grouped by clinic, each group sorted by StartsAt
	revExtra    map[int32][]int32

	capacity []int32 // per quota row
	booked   []int32 // per quota row; atomic
	agg      []int32 // (clinic*len(days)+day)*aggCols + col; atomic
}

type clinicRec struct {
	vaxbook.Clinic
	lname, lvaccine string
	pt              point
}

type slotRec struct {
	id     int64
	start  int64 // Unix seconds
	clinic int32
	day    int32 // index into days; -1 when not a dose-1 date
	pair   int32 // dose-2 slot of a dose-1 slot; -1 if none
	rev    int32 // a dose-1 slot whose pair this is; -1 if none (more in revExtra)
	rowOff int32
	mask   uint16 // bit k: the slot has a quota row for cohort k
}

// source is what the index is loaded from: a vaxbook.Store's catalog and
// quota rows.
type source interface {
	Regions(ctx context.Context) ([]vaxbook.Region, error)
	Clinics(ctx context.Context) ([]vaxbook.Clinic, error)
	Slots(ctx context.Context, campaignID string, fn func(vaxbook.Slot) error) error
	Quotas(ctx context.Context, campaignID string, fn func(vaxbook.Quota) error) (int64, error)
}

// load reads the catalog and the quota rows of campaign c.
func load(ctx context.Context, store source, c vaxbook.Campaign) (*index, int64, error) {
	loc, err := campaign.Location(c)
	if err != nil {
		return nil, 0, fmt.Errorf("booking: campaign %s: %w", c.ID, err)
	}
	ix := &index{c: c, loc: loc, dose1: campaign.Dose1Dates(c), twoDoses: c.Doses == 2, interval: c.DoseIntervalDays,
		bySigungu: map[string][]int32{}, revExtra: map[int32][]int32{}, regionSet: map[string]bool{}}
	for d := ix.dose1.From; !d.After(ix.dose1.To); d = d.AddDays(1) {
		ix.days = append(ix.days, d)
		if len(ix.days) > 3660 {
			return nil, 0, fmt.Errorf("booking: campaign %s: dose-1 dates %v span more than ten years", c.ID, ix.dose1)
		}
	}
	if ix.regions, err = store.Regions(ctx); err != nil {
		return nil, 0, fmt.Errorf("booking: load regions: %w", err)
	}
	for _, r := range ix.regions {
		ix.regionSet[r.SigunguCode] = true
	}
	clinics, err := store.Clinics(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("booking: load clinics: %w", err)
	}
	slices.SortFunc(clinics, func(a, b vaxbook.Clinic) int { return cmp64(a.ID, b.ID) })
	ix.clinics = make([]clinicRec, len(clinics))
	for i, cl := range clinics {
		ix.clinics[i] = clinicRec{Clinic: cl, lname: strings.ToLower(cl.Name), lvaccine: strings.ToLower(cl.Vaccine),
			pt: newPoint(LatLng{cl.Lat, cl.Lng})}
		ix.bySigungu[cl.SigunguCode] = append(ix.bySigungu[cl.SigunguCode], int32(i))
	}
	ix.grid = newGrid(ix.clinics)

	err = store.Slots(ctx, c.ID, func(s vaxbook.Slot) error {
		ci, ok := ix.clinicIndex(s.ClinicID)
		if !ok {
			return fmt.Errorf("slot %d: clinic %d unknown", s.ID, s.ClinicID)
		}
		if n := len(ix.slots); n > 0 && ix.slots[n-1].id >= s.ID {
			return fmt.Errorf("slot %d: slots not in ascending id order", s.ID)
		}
		ix.slots = append(ix.slots, slotRec{id: s.ID, start: s.StartsAt.Unix(), clinic: int32(ci),
			day: int32(ix.dayOf(s.StartsAt)), pair: -1, rev: -1, rowOff: -1})
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("booking: load slots: %w", err)
	}
	ix.slots = slices.Clip(ix.slots)
	ix.buildClinicSlots()
	ix.pairSlots()

	// Quota rows arrive ordered by slot then cohort, so each slot's rows
	// are contiguous.
	last := -1
	seq, err := store.Quotas(ctx, c.ID, func(q vaxbook.Quota) error {
		si, ok := ix.slotIndex(q.SlotID)
		if !ok {
			return fmt.Errorf("quota row of unknown slot %d", q.SlotID)
		}
		if q.Cohort < 0 || q.Cohort > vaxbook.CohortDose2 {
			return fmt.Errorf("slot %d: quota cohort %d out of range", q.SlotID, q.Cohort)
		}
		s := &ix.slots[si]
		bit := uint16(1) << q.Cohort
		switch {
		case si == last && s.mask < bit:
		case si != last && s.rowOff < 0:
			s.rowOff = int32(len(ix.capacity))
		default:
			return fmt.Errorf("slot %d cohort %d: quota rows not ordered by slot then cohort", q.SlotID, q.Cohort)
		}
		last = si
		s.mask |= bit
		ix.capacity = append(ix.capacity, int32(q.Capacity))
		ix.booked = append(ix.booked, int32(q.Booked))
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("booking: load quotas: %w", err)
	}
	ix.capacity, ix.booked = slices.Clip(ix.capacity), slices.Clip(ix.booked)
	ix.agg = make([]int32, len(ix.clinics)*len(ix.days)*aggCols)
	var e [aggCols]int32
	for si := range ix.slots {
		s := &ix.slots[si]
		if s.day < 0 {
			continue
		}
		ix.effective(si, &e)
		base := ix.aggBase(int(s.clinic), int(s.day))
		for k, v := range e {
			ix.agg[base+k] += v
		}
	}
	return ix, seq, nil
}

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// dayOf returns the dose-1 day index of instant t, or -1.
func (ix *index) dayOf(t time.Time) int {
	d := vaxbook.DateOf(t.In(ix.loc))
	if !ix.dose1.Contains(d) {
		return -1
	}
	return ix.dose1.From.DaysUntil(d)
}

// dayIndex returns the index of a dose-1 date, or -1.
func (ix *index) dayIndex(d vaxbook.Date) int {
	if !ix.dose1.Contains(d) {
		return -1
	}
	return ix.dose1.From.DaysUntil(d)
}

func (ix *index) clinicIndex(id int64) (int, bool) {
	i := sort.Search(len(ix.clinics), func(i int) bool { return ix.clinics[i].ID >= id })
	return i, i < len(ix.clinics) && ix.clinics[i].ID == id
}

func (ix *index) slotIndex(id int64) (int, bool) {
	i := sort.Search(len(ix.slots), func(i int) bool { return ix.slots[i].id >= id })
	return i, i < len(ix.slots) && ix.slots[i].id == id
}

func (ix *index) buildClinicSlots() {
	ix.clinicStart = make([]int32, len(ix.clinics)+1)
	for _, s := range ix.slots {
		ix.clinicStart[s.clinic+1]++
	}
	for i := 1; i < len(ix.clinicStart); i++ {
		ix.clinicStart[i] += ix.clinicStart[i-1]
	}
	ix.byStart = make([]int32, len(ix.slots))
	fill := slices.Clone(ix.clinicStart[:len(ix.clinics)])
	for si, s := range ix.slots {
		ix.byStart[fill[s.clinic]] = int32(si)
		fill[s.clinic]++
	}
	for ci := range ix.clinics {
		group := ix.byStart[ix.clinicStart[ci]:ix.clinicStart[ci+1]]
		slices.SortFunc(group, func(a, b int32) int {
			if k := cmp64(ix.slots[a].start, ix.slots[b].start); k != 0 {
				return k
			}
			return cmp64(ix.slots[a].id, ix.slots[b].id)
		})
	}
}

// clinicSlots returns the clinic's slot indices starting in [from, to)
// (Unix seconds), ordered by start.
func (ix *index) clinicSlots(ci int, from, to int64) []int32 {
	group := ix.byStart[ix.clinicStart[ci]:ix.clinicStart[ci+1]]
	lo := sort.Search(len(group), func(i int) bool { return ix.slots[group[i]].start >= from })
	hi := sort.Search(len(group), func(i int) bool { return ix.slots[group[i]].start >= to })
	return group[lo:hi]
}

// pairSlots links each dose-1 slot to the slot of the same clinic that
// starts DoseIntervalDays later (in the campaign's time zone).
func (ix *index) pairSlots() {
	if !ix.twoDoses {
		return
	}
	for si := range ix.slots {
		s := &ix.slots[si]
		if s.day < 0 {
			continue
		}
		want := time.Unix(s.start, 0).In(ix.loc).AddDate(0, 0, ix.interval).Unix()
		cand := ix.clinicSlots(int(s.clinic), want, want+1)
		if len(cand) == 0 {
			continue
		}
		p := cand[0]
		s.pair = p
		if ix.slots[p].rev < 0 {
			ix.slots[p].rev = int32(si)
		} else {
			ix.revExtra[p] = append(ix.revExtra[p], int32(si))
		}
	}
}

// row returns the position of slot si's quota row for cohort k, or -1.
func (ix *index) row(si int, k int) int {
	s := &ix.slots[si]
	bit := uint16(1) << k
	if s.mask&bit == 0 {
		return -1
	}
	return int(s.rowOff) + bits.OnesCount16(s.mask&(bit-1))
}

// remaining returns the free places of slot si's row k (0 without a row).
func (ix *index) remaining(si, k int) int32 {
	r := ix.row(si, k)
	if r < 0 {
		return 0
	}
	return max(0, ix.capacity[r]-atomic.LoadInt32(&ix.booked[r]))
}

// dose2Room returns how many dose-2 places the pair of dose-1 slot si has
// (unbounded for one-dose campaigns, 0 without a pair).
func (ix *index) dose2Room(si int) int32 {
	if !ix.twoDoses {
		return math.MaxInt32
	}
	p := ix.slots[si].pair
	if p < 0 {
		return 0
	}
	return ix.remaining(int(p), vaxbook.CohortDose2)
}

// effective computes what dose-1 slot si offers: per dose-1 row, its free
// places capped by the dose-2 room, and the capped total.
func (ix *index) effective(si int, e *[aggCols]int32) {
	d2 := ix.dose2Room(si)
	var total int32
	for k := 0; k <= vaxbook.CohortPool; k++ {
		r := ix.remaining(si, k)
		total += r
		e[k] = min(r, d2)
	}
	e[colTotal] = min(total, d2)
}

func (ix *index) aggBase(ci, day int) int { return (ci*len(ix.days) + day) * aggCols }

// affected returns the dose-1 slots whose offer depends on slot si's rows.
func (ix *index) affected(si int, buf []int32) []int32 {
	buf = buf[:0]
	s := &ix.slots[si]
	if s.day >= 0 {
		buf = append(buf, int32(si))
	}
	if s.rev >= 0 {
		buf = append(buf, s.rev)
		buf = append(buf, ix.revExtra[int32(si)]...)
	}
	return buf
}

// setBooked changes the booked counter of slot si's row k with fn and keeps
// the clinic-day aggregates in step. Callers serialize calls (the engine's
// apply lock); readers may run concurrently.
func (ix *index) setBooked(si, k int, fn func(old int32) int32) {
	r := ix.row(si, k)
	if r < 0 {
		return
	}
	var buf [4]int32
	aff := ix.affected(si, buf[:0])
	olds := make([][aggCols]int32, len(aff))
	for i, a := range aff {
		ix.effective(int(a), &olds[i])
	}
	atomic.StoreInt32(&ix.booked[r], fn(atomic.LoadInt32(&ix.booked[r])))
	var e [aggCols]int32
	for i, a := range aff {
		ix.effective(int(a), &e)
		s := &ix.slots[a]
		base := ix.aggBase(int(s.clinic), int(s.day))
		for col := range e {
			if d := e[col] - olds[i][col]; d != 0 {
				atomic.AddInt32(&ix.agg[base+col], d)
			}
		}
	}
}

// addBooked moves a row's booked counter by delta (an outcome of this node).
func (ix *index) addBooked(slotID int64, cohort int, delta int32) bool {
	si, ok := ix.slotIndex(slotID)
	if !ok || ix.row(si, cohort) < 0 {
		return false
	}
	ix.setBooked(si, cohort, func(old int32) int32 { return old + delta })
	return true
}

// putQuota sets a row to the values read from the store (refresh).
func (ix *index) putQuota(q vaxbook.Quota) bool {
	si, ok := ix.slotIndex(q.SlotID)
	if !ok || q.Cohort < 0 || q.Cohort > vaxbook.CohortDose2 {
		return false
	}
	r := ix.row(si, q.Cohort)
	if r < 0 || ix.capacity[r] != int32(q.Capacity) {
		// A new row or a capacity change is a catalog change: the engine
		// does not follow those (restart the node); count the row as unknown.
		return false
	}
	ix.setBooked(si, q.Cohort, func(int32) int32 { return int32(q.Booked) })
	return true
}

// col returns the aggregate column for a cohort (-1: totals) at instant at.
func (ix *index) col(cohort int, at time.Time) int {
	if cohort < 0 || cohort > vaxbook.CohortPool || campaign.Pooled(ix.c, at) {
		return colTotal
	}
	return cohort
}

// dayRemaining returns clinic ci's remaining places on day d in column col.
func (ix *index) dayRemaining(ci, day, col int) int {
	return int(atomic.LoadInt32(&ix.agg[ix.aggBase(ci, day)+col]))
}

// slotOffer returns what dose-1 slot si offers in column col.
func (ix *index) slotOffer(si, col int) int {
	var e [aggCols]int32
	ix.effective(si, &e)
	return int(e[col])
}
