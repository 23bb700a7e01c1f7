package rush

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"

	"vaxbook"
	"vaxbook/waitroom"
)

// Audit is what the rush finds in the target's database afterwards: the
// store's own invariants, every booking the simulator saw acknowledged, the
// quotas per clinic and cohort, and the waiting room's fairness (the
// pre-queue draw is recomputed from the key the server wrote to its audit
// log; admission order is checked against what the simulator observed).
type Audit struct {
	Store      string                  `json:"store"`
	Invariants vaxbook.InvariantReport `json:"invariants"`
	// Acknowledged bookings (dose 1 and dose 2) looked up by id; Missing
	// are absent or of another person or slot; WrongStatus active where
	// cancelled was acknowledged or the reverse.
	Acknowledged int `json:"acknowledged"`
	Missing      int `json:"missing"`
	WrongStatus  int `json:"wrong_status"`
	// InDoubt: acknowledged bookings whose person had a change or
	// cancellation sent and not answered when the simulation ended (a
	// timeout or Ctrl-C): the server may have applied it, so the slot and
	// status may be either; only person and dose are checked.
	InDoubt int `json:"in_doubt,omitempty"`
	// CohortMismatch: dose-1 bookings not taken from the person's rotation
	// cohort's quota row.
	CohortMismatch int `json:"cohort_mismatch"`
	// ClinicCohorts (clinic, cohort) pairs with quota; Over of them with
	// more booked than their capacity.
	ClinicCohorts    int   `json:"clinic_cohorts"`
	ClinicCohortOver int   `json:"clinic_cohort_over"`
	BookedPlaces     int64 `json:"booked_places"`
	// Tickets observed; FIFOChecked of them were seen both waiting and
	// admitted or compared; FIFOInversions tickets were seen still waiting
	// after a ticket placed behind them was seen admitted.
	Tickets        int `json:"tickets"`
	FIFOChecked    int `json:"fifo_checked"`
	FIFOInversions int `json:"fifo_inversions"`
	// The pre-queue draw from the server's audit log.
	PrequeueDrawn   bool    `json:"prequeue_drawn"`
	Prequeue        int64   `json:"prequeue"`
	PrequeueSeen    int     `json:"prequeue_seen"`
	PrequeueWrong   int     `json:"prequeue_misplaced"` // tickets whose pre-queue membership disagrees with the draw
	ShuffleKey      string  `json:"shuffle_key,omitempty"`
	ChiSquare       float64 `json:"chi_square"`
	ChiDOF          int     `json:"chi_dof"`
	ChiP            float64 `json:"chi_p"`
	RankCorrelation float64 `json:"rank_correlation"`
	// Violations lists every invariant that does not hold.
	Violations []string `json:"violations"`
	Examples   []string `json:"examples,omitempty"`
}

// chiAlpha is the significance below which the draw is declared not uniform.
const chiAlpha = 0.001

func (s *sim) audit(ctx context.Context) (*Audit, error) {
	st, err := s.t.Store(ctx)
	if err != nil {
		return nil, err
	}
	a := &Audit{Store: redact(s.t.DB)}
	if a.Invariants, err = st.CheckInvariants(ctx, s.camp.ID); err != nil {
		return nil, fmt.Errorf("check invariants: %w", err)
	}
	if !a.Invariants.OK() {
		a.Violations = append(a.Violations, fmt.Sprintf("store invariants: over capacity %d, counter mismatch %d, double booked %d, orphan dose 2 %d",
			a.Invariants.OverCapacity, a.Invariants.CounterMismatch, a.Invariants.DoubleBooked, a.Invariants.OrphanDose2))
		a.Examples = append(a.Examples, a.Invariants.Examples...)
	}
	if err := s.auditBookings(ctx, st, a); err != nil {
		return nil, err
	}
	if err := s.auditQuotas(ctx, st, a); err != nil {
		return nil, err
	}
	if err := s.auditQueue(ctx, st, a); err != nil {
		return nil, err
	}
	return a, nil
}

// auditBookings looks up every acknowledged booking by id.
func (s *sim) auditBookings(ctx context.Context, st vaxbook.Store, a *Audit) error {
	type check struct {
		uid  int32
		id   int64
		dose int
		slot int64
	}
	var checks []check
	for i := range s.users {
		u := &s.users[i]
		if u.b1 > 0 {
			checks = append(checks, check{int32(i), u.b1, 1, u.s1})
		}
		if u.b2 > 0 {
			checks = append(checks, check{int32(i), u.b2, 2, u.s2})
		}
	}
	a.Acknowledged = len(checks)
	var mu sync.Mutex
	var firstErr error
	work := make(chan check)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				u := &s.users[c.uid]
				b, err := st.Booking(ctx, c.id)
				inDoubt := u.phase > 0 && u.sess != nil && u.sess.idem != ""
				mu.Lock()
				switch {
				case vaxbook.ErrorCode(err) == vaxbook.CodeNotFound:
					a.Missing++
					a.example(fmt.Sprintf("booking %d of person %d acknowledged but not in the database", c.id, u.person))
				case err != nil:
					if firstErr == nil {
						firstErr = err
					}
				case inDoubt && b.PersonID == u.person && b.Dose == c.dose && b.CampaignID == s.camp.ID:
					a.InDoubt++
				case b.PersonID != u.person || b.SlotID != c.slot || b.Dose != c.dose || b.CampaignID != s.camp.ID:
					a.Missing++
					a.example(fmt.Sprintf("booking %d: database has person %d slot %d dose %d, acknowledged person %d slot %d dose %d",
						c.id, b.PersonID, b.SlotID, b.Dose, u.person, c.slot, c.dose))
				default:
					want := vaxbook.BookingActive
					if u.status == 2 {
						want = vaxbook.BookingCancelled
					}
					if b.Status != want {
						a.WrongStatus++
						a.example(fmt.Sprintf("booking %d of person %d is %s, acknowledged %s", c.id, u.person, b.Status, want))
					}
					if c.dose == 1 && b.Cohort != int(u.cohort) {
						a.CohortMismatch++
						a.example(fmt.Sprintf("booking %d of person %d (cohort %d) took a place of row %d", c.id, u.person, u.cohort, b.Cohort))
					}
				}
				mu.Unlock()
			}
		}()
	}
	for _, c := range checks {
		if ctx.Err() != nil {
			break
		}
		work <- c
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("read bookings: %w", firstErr)
	}
	if a.Missing > 0 {
		a.Violations = append(a.Violations, fmt.Sprintf("%d acknowledged bookings missing or different in the database", a.Missing))
	}
	if a.WrongStatus > 0 {
		a.Violations = append(a.Violations, fmt.Sprintf("%d bookings with another status than acknowledged", a.WrongStatus))
	}
	if a.CohortMismatch > 0 {
		a.Violations = append(a.Violations, fmt.Sprintf("%d dose-1 bookings not from the person's rotation cohort", a.CohortMismatch))
	}
	return nil
}

func (a *Audit) example(e string) {
	if len(a.Examples) < 20 {
		a.Examples = append(a.Examples, e)
	}
}

// auditQuotas sums quota rows per clinic and cohort: booked ≤ capacity.
func (s *sim) auditQuotas(ctx context.Context, st vaxbook.Store, a *Audit) error {
	clinicOf := map[int64]int64{}
	if err := st.Slots(ctx, s.camp.ID, func(sl vaxbook.Slot) error {
		clinicOf[sl.ID] = sl.ClinicID
		return nil
	}); err != nil {
		return fmt.Errorf("read slots: %w", err)
	}
	type key struct {
		clinic int64
		cohort int
	}
	sum := map[key][2]int64{}
	if _, err := st.Quotas(ctx, s.camp.ID, func(q vaxbook.Quota) error {
		k := key{clinicOf[q.SlotID], q.Cohort}
		v := sum[k]
		v[0] += int64(q.Capacity)
		v[1] += int64(q.Booked)
		sum[k] = v
		return nil
	}); err != nil {
		return fmt.Errorf("read quotas: %w", err)
	}
	a.ClinicCohorts = len(sum)
	for k, v := range sum {
		a.BookedPlaces += v[1]
		if v[1] > v[0] || v[1] < 0 {
			a.ClinicCohortOver++
			a.example(fmt.Sprintf("clinic %d cohort %d: %d booked of %d", k.clinic, k.cohort, v[1], v[0]))
		}
	}
	if a.ClinicCohortOver > 0 {
		a.Violations = append(a.Violations, fmt.Sprintf("%d (clinic, cohort) quotas over capacity", a.ClinicCohortOver))
	}
	return nil
}

// auditQueue checks the waiting room's order: the pre-queue draw is
// recomputed from the key in the audit log (and tested for uniformity),
// and no ticket may be seen waiting after a ticket behind it was seen
// admitted.
func (s *sim) auditQueue(ctx context.Context, st vaxbook.Store, a *Audit) error {
	obs := s.obs.all()
	a.Tickets = len(obs)
	var perm *waitroom.Perm
	n := uint64(0)
	entry, found, err := findShuffle(ctx, st, s.room)
	if err != nil {
		return err
	}
	if found {
		key, err := hex.DecodeString(entry.Key)
		if err != nil || len(key) != 16 {
			a.Violations = append(a.Violations, "the pre-queue draw's audit entry has no valid key")
		} else {
			var k [16]byte
			copy(k[:], key)
			p := waitroom.NewPerm(k, uint64(entry.Prequeue))
			perm, n = &p, uint64(entry.Prequeue)
			a.PrequeueDrawn, a.Prequeue, a.ShuffleKey = true, entry.Prequeue, entry.Key
		}
	}
	place := func(seq uint32) uint64 {
		if perm != nil && uint64(seq) < n {
			return perm.At(uint64(seq))
		}
		return uint64(seq)
	}
	for _, o := range obs {
		if o.pre {
			a.PrequeueSeen++
			if perm == nil || uint64(o.seq) >= n {
				a.PrequeueWrong++
			}
		} else if perm != nil && uint64(o.seq) < n {
			a.PrequeueWrong++
		}
	}
	if a.PrequeueSeen > 0 && !a.PrequeueDrawn {
		a.Violations = append(a.Violations, "people waited in the pre-queue but the server's audit log has no draw for the room")
	}
	if a.PrequeueWrong > 0 {
		a.Violations = append(a.Violations, fmt.Sprintf("%d tickets on the wrong side of the pre-queue draw", a.PrequeueWrong))
	}
	// FIFO: walk places from the back; a ticket seen waiting after a ticket
	// behind it was seen admitted (by more than the staleness margin) was
	// overtaken.
	type pt struct {
		place     uint64
		wait, adm int32
	}
	pts := make([]pt, 0, len(obs))
	for _, o := range obs {
		pts = append(pts, pt{place(o.seq), o.wait, o.adm})
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].place > pts[j].place })
	margin := int32(s.t.StalenessMargin.Milliseconds()) + 5
	minAdm := int32(math.MaxInt32)
	for _, p := range pts {
		if p.wait != math.MinInt32 {
			if minAdm != math.MaxInt32 {
				a.FIFOChecked++
			}
			if minAdm != math.MaxInt32 && p.wait > minAdm+margin {
				a.FIFOInversions++
				a.example(fmt.Sprintf("place %d seen waiting at %d ms, after a later place was admitted at %d ms", p.place, p.wait, minAdm))
			}
		}
		minAdm = min(minAdm, p.adm)
	}
	if a.FIFOInversions > 0 {
		a.Violations = append(a.Violations, fmt.Sprintf("%d FIFO inversions after the opening", a.FIFOInversions))
	}
	if perm != nil && n >= 20 {
		a.ChiSquare, a.ChiDOF, a.ChiP = chiSquareDraw(n, perm.At)
		a.RankCorrelation = rankCorrelation(n, perm.At)
		if a.ChiP < chiAlpha {
			a.Violations = append(a.Violations, fmt.Sprintf("the pre-queue order is not uniform: χ² %.1f, %d dof, p %.2g", a.ChiSquare, a.ChiDOF, a.ChiP))
		}
	}
	return nil
}

type shuffleEntry struct {
	Prequeue int64  `json:"prequeue"`
	Key      string `json:"key"`
	Epoch    uint64 `json:"epoch"`
}

// findShuffle reads the newest waitroom.shuffle audit entry of room.
func findShuffle(ctx context.Context, st vaxbook.AuditLog, room string) (shuffleEntry, bool, error) {
	before := int64(0)
	for page := 0; page < 200; page++ {
		es, err := st.AuditEntries(ctx, before, 500)
		if err != nil {
			return shuffleEntry{}, false, fmt.Errorf("read audit log: %w", err)
		}
		for _, e := range es {
			if e.Action == "waitroom.shuffle" && e.Target == room {
				var d shuffleEntry
				if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
					return shuffleEntry{}, false, fmt.Errorf("audit entry %d: %w", e.ID, err)
				}
				return d, true, nil
			}
			before = e.ID
		}
		if len(es) < 500 {
			break
		}
	}
	return shuffleEntry{}, false, nil
}

// chiSquareDraw tests the independence of arrival order and drawn place:
// B×B table of (arrival bucket, place bucket), B as large as keeps ≥ 5
// expected per cell (at most 10).
func chiSquareDraw(n uint64, at func(uint64) uint64) (chi float64, dof int, pval float64) {
	b := uint64(min(10, int(math.Sqrt(float64(n)/5))))
	if b < 2 {
		return 0, 0, 1
	}
	obs := make([]float64, b*b)
	rows := make([]float64, b)
	cols := make([]float64, b)
	for i := uint64(0); i < n; i++ {
		r, c := i*b/n, at(i)*b/n
		obs[r*b+c]++
		rows[r]++
		cols[c]++
	}
	for r := uint64(0); r < b; r++ {
		for c := uint64(0); c < b; c++ {
			e := rows[r] * cols[c] / float64(n)
			d := obs[r*b+c] - e
			chi += d * d / e
		}
	}
	dof = int((b - 1) * (b - 1))
	return chi, dof, chiSquareSurvival(chi, dof)
}

// rankCorrelation is Spearman's ρ between arrival rank and drawn place.
func rankCorrelation(n uint64, at func(uint64) uint64) float64 {
	var d2 float64
	for i := uint64(0); i < n; i++ {
		d := float64(at(i)) - float64(i)
		d2 += d * d
	}
	f := float64(n)
	return 1 - 6*d2/(f*(f*f-1))
}

// chiSquareSurvival is P(X ≥ x) for X ~ χ²(k): the regularised upper
// incomplete gamma function Q(k/2, x/2).
func chiSquareSurvival(x float64, k int) float64 {
	if x <= 0 {
		return 1
	}
	return gammaQ(float64(k)/2, x/2)
}

func gammaQ(a, x float64) float64 {
	lg, _ := math.Lgamma(a)
	if x < a+1 {
		// Series for P, then Q = 1 − P.
		sum, term := 1/a, 1/a
		for n := 1; n < 1000; n++ {
			term *= x / (a + float64(n))
			sum += term
			if math.Abs(term) < math.Abs(sum)*1e-15 {
				break
			}
		}
		return 1 - sum*math.Exp(-x+a*math.Log(x)-lg)
	}
	// Continued fraction (Lentz) for Q.
	const tiny = 1e-300
	b := x + 1 - a
	c := 1 / tiny
	d := 1 / b
	h := d
	for i := 1; i < 1000; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-15 {
			break
		}
	}
	return math.Exp(-x+a*math.Log(x)-lg) * h
}

// redact hides a password in a database URL.
func redact(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if c := strings.Index(rest[:at], ":"); c >= 0 {
				return s[:i+3] + rest[:c+1] + "***" + rest[at:]
			}
		}
	}
	return s
}
