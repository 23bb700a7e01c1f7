package booking

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"vaxbook"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(500 * time.Microsecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// sameIndex checks that the engine's index equals one freshly loaded from
// the store (counters and clinic-day aggregates).
func sameIndex(t testing.TB, e *Engine, store vaxbook.Store) {
	t.Helper()
	fresh, _, err := load(context.Background(), store, e.c)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.ix.booked, fresh.booked) {
		for i := range fresh.booked {
			if e.ix.booked[i] != fresh.booked[i] {
				t.Fatalf("index row %d: booked %d, store says %d", i, e.ix.booked[i], fresh.booked[i])
			}
		}
	}
	if !slices.Equal(e.ix.agg, fresh.agg) {
		for i := range fresh.agg {
			if e.ix.agg[i] != fresh.agg[i] {
				t.Fatalf("index aggregate %d (clinic-day %d, column %d): %d, recomputed %d",
					i, i/aggCols, i%aggCols, e.ix.agg[i], fresh.agg[i])
			}
		}
	}
}

func dayRemaining(t testing.TB, e *Engine, clinicID int64, date vaxbook.Date, cohort int, at time.Time) int {
	t.Helper()
	v, err := e.Clinic(clinicID)
	if err != nil {
		t.Fatal(err)
	}
	if cohort >= 0 {
		slots, err := e.Slots(clinicID, date, cohort, at)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, s := range slots {
			n += s.Remaining
		}
		return n
	}
	for _, d := range v.Days {
		if d.Date == date {
			return d.Remaining
		}
	}
	t.Fatalf("clinic %d has no day %s", clinicID, date)
	return 0
}

func TestBookChangeCancel(t *testing.T) { forKinds(t, testBookChangeCancel) }

func testBookChangeCancel(t *testing.T, kind string) {
	store, k := openCountryOn(t, kind, spec{Clinics: 4, Days: 3, Hours: []int{9, 10}, Cap: 2, People: 100})
	e := newEngine(t, store, k.c, Config{})
	ctx := context.Background()
	p := newPerson(9) // cohort 9: books on Aug 9 from 20:00
	now := day9Open.Add(time.Hour)
	first := k.c.Vaccination.From
	s0 := k.dose1[0] // clinic 1, first day, 09:00
	if s0.ClinicID != 1 || !s0.StartsAt.Equal(first.In(kst).Add(9*time.Hour)) {
		t.Fatalf("fixture: first slot %+v", s0)
	}
	if got := dayRemaining(t, e, 1, first, 9, now); got != 4 {
		t.Fatalf("before: cohort 9 has %d places at clinic 1 on %s, want 4", got, first)
	}

	conf := must[Confirmation](t)(e.Book(ctx, p, s0.ID, "", now))
	if len(conf.Bookings) != 2 || conf.Replayed {
		t.Fatalf("book: %+v", conf)
	}
	d1, d2 := conf.Bookings[0], conf.Bookings[1]
	if d1.Dose != 1 || d1.SlotID != s0.ID || d1.Cohort != 9 || d1.PersonID != p.ID || d1.Status != vaxbook.BookingActive ||
		!d1.CreatedAt.Equal(now) || d1.Clinic.ID != 1 || !d1.StartsAt.Equal(s0.StartsAt) {
		t.Fatalf("dose 1: %+v", d1)
	}
	if d2.Dose != 2 || d2.SlotID != k.dose2Of[s0.ID] || d2.Cohort != vaxbook.CohortDose2 || d2.Clinic.ID != 1 ||
		!d2.StartsAt.Equal(s0.StartsAt.AddDate(0, 0, 28)) {
		t.Fatalf("dose 2: %+v", d2)
	}
	if got := dayRemaining(t, e, 1, first, 9, now); got != 3 {
		t.Fatalf("after book: cohort 9 has %d places, want 3", got)
	}
	if got := dayRemaining(t, e, 1, first, -1, now); got != 2*2*10-1 {
		t.Fatalf("after book: %d places in total, want 39", got)
	}
	checkInvariants(t, store, k.c.ID)
	sameIndex(t, e, store)

	// Change to the other day's 10:00 slot of clinic 2.
	var target vaxbook.Slot
	for _, s := range k.dose1 {
		if s.ClinicID == 2 && s.StartsAt.Equal(first.AddDays(1).In(kst).Add(10*time.Hour)) {
			target = s
		}
	}
	conf = must[Confirmation](t)(e.Change(ctx, p, d2.ID, target.ID, "", now.Add(time.Minute)))
	c1, c2 := conf.Bookings[0], conf.Bookings[1]
	if c1.ID != d1.ID || c2.ID != d2.ID || c1.Version != 2 || c2.Version != 2 || c1.SlotID != target.ID ||
		c2.SlotID != k.dose2Of[target.ID] || c1.Clinic.ID != 2 || !c2.StartsAt.Equal(target.StartsAt.AddDate(0, 0, 28)) ||
		!c1.UpdatedAt.Equal(now.Add(time.Minute)) || !c1.CreatedAt.Equal(now) {
		t.Fatalf("change: %+v", conf.Bookings)
	}
	if got := dayRemaining(t, e, 1, first, 9, now); got != 4 {
		t.Fatalf("after change: old clinic has %d places for cohort 9, want 4 again", got)
	}
	if got := dayRemaining(t, e, 2, first.AddDays(1), 9, now); got != 3 {
		t.Fatalf("after change: new clinic has %d places for cohort 9, want 3", got)
	}
	checkInvariants(t, store, k.c.ID)
	sameIndex(t, e, store)

	mine := must[[]View](t)(e.Mine(ctx, p))
	if len(mine) != 2 || mine[0].SlotID != target.ID || mine[1].Dose != 2 {
		t.Fatalf("mine: %+v", mine)
	}

	conf = must[Confirmation](t)(e.Cancel(ctx, p, d1.ID, "", now.Add(2*time.Minute)))
	if len(conf.Bookings) != 2 || conf.Bookings[0].Status != vaxbook.BookingCancelled || conf.Bookings[1].Status != vaxbook.BookingCancelled {
		t.Fatalf("cancel: %+v", conf.Bookings)
	}
	if got := dayRemaining(t, e, 2, first.AddDays(1), 9, now); got != 4 {
		t.Fatalf("after cancel: %d places for cohort 9, want 4", got)
	}
	rep := checkInvariants(t, store, k.c.ID)
	if rep.ActiveBookings != 0 {
		t.Fatalf("after cancel: %d active bookings", rep.ActiveBookings)
	}
	sameIndex(t, e, store)

	// Booking again after a cancel works.
	conf = must[Confirmation](t)(e.Book(ctx, p, s0.ID, "", now.Add(3*time.Minute)))
	if conf.Bookings[0].ID == d1.ID {
		t.Fatal("a new booking reuses the cancelled booking's id")
	}
	sameIndex(t, e, store)
}

func TestRefusals(t *testing.T) { forKinds(t, testRefusals) }

func testRefusals(t *testing.T, kind string) {
	ctx := context.Background()
	p9 := newPerson(9)   // cohort 9
	p19 := newPerson(19) // cohort 9 too
	old := newPerson(29)
	old.BirthDate = vaxbook.MustDate("1960-03-19")
	now := day9Open.Add(time.Hour)
	type env struct {
		e *Engine
		k *country
	}
	cases := []struct {
		name string
		run  func(t *testing.T, v env) error
		want vaxbook.Code
	}{
		{"before the person's window opens", func(t *testing.T, v env) error {
			_, err := v.e.Book(ctx, p9, v.k.dose1[0].ID, "", day9Open.Add(-time.Second))
			return err
		}, vaxbook.CodeNotEligibleYet},
		{"on another cohort's day", func(t *testing.T, v env) error {
			_, err := v.e.Book(ctx, p9, v.k.dose1[0].ID, "", day9Open.AddDate(0, 0, 2))
			return err
		}, vaxbook.CodeNotEligibleYet},
		{"after every window closed", func(t *testing.T, v env) error {
			_, err := v.e.Book(ctx, p9, v.k.dose1[0].ID, "", poolClose)
			return err
		}, vaxbook.CodeWindowClosed},
		{"outside the age group", func(t *testing.T, v env) error {
			_, err := v.e.Book(ctx, old, v.k.dose1[0].ID, "", poolOpen)
			return err
		}, vaxbook.CodeNotInGroup},
		{"unknown slot", func(t *testing.T, v env) error {
			_, err := v.e.Book(ctx, p9, 987654, "", now)
			return err
		}, vaxbook.CodeNotFound},
		{"a dose-2 slot", func(t *testing.T, v env) error {
			_, err := v.e.Book(ctx, p9, v.k.dose2Of[v.k.dose1[0].ID], "", now)
			return err
		}, vaxbook.CodeSlotNotBookable},
		{"a slot between the dose-1 and dose-2 dates", func(t *testing.T, v env) error {
			_, err := v.e.Book(ctx, p9, v.k.offDay, "", now)
			return err
		}, vaxbook.CodeSlotNotBookable},
		{"a slot that has started", func(t *testing.T, v env) error {
			_, err := v.e.Book(ctx, p9, v.k.dose1[0].ID, "", v.k.dose1[0].StartsAt)
			return err
		}, vaxbook.CodeSlotNotBookable},
		{"a slot without its dose-2 pair", func(t *testing.T, v env) error {
			_, err := v.e.Book(ctx, p9, v.k.lonely, "", now)
			return err
		}, vaxbook.CodeDose2Unavailable},
		{"cohort row full", func(t *testing.T, v env) error {
			must[Confirmation](t)(v.e.Book(ctx, p9, v.k.dose1[0].ID, "", now)) // Cap 1
			_, err := v.e.Book(ctx, p19, v.k.dose1[0].ID, "", now)
			return err
		}, vaxbook.CodeSlotFull},
		{"already booked", func(t *testing.T, v env) error {
			must[Confirmation](t)(v.e.Book(ctx, p9, v.k.dose1[0].ID, "a", now))
			_, err := v.e.Book(ctx, p9, v.k.dose1[1].ID, "b", now)
			return err
		}, vaxbook.CodeAlreadyBooked},
		{"someone else's booking", func(t *testing.T, v env) error {
			c := must[Confirmation](t)(v.e.Book(ctx, p9, v.k.dose1[0].ID, "", now))
			_, err := v.e.Cancel(ctx, p19, c.Bookings[0].ID, "", now)
			return err
		}, vaxbook.CodeNotYourBooking},
		{"change of someone else's booking", func(t *testing.T, v env) error {
			c := must[Confirmation](t)(v.e.Book(ctx, p9, v.k.dose1[0].ID, "", now))
			_, err := v.e.Change(ctx, p19, c.Bookings[0].ID, v.k.dose1[1].ID, "", now)
			return err
		}, vaxbook.CodeNotYourBooking},
		{"cancel twice", func(t *testing.T, v env) error {
			c := must[Confirmation](t)(v.e.Book(ctx, p9, v.k.dose1[0].ID, "", now))
			must[Confirmation](t)(v.e.Cancel(ctx, p9, c.Bookings[0].ID, "", now))
			_, err := v.e.Cancel(ctx, p9, c.Bookings[0].ID, "", now)
			return err
		}, vaxbook.CodeBookingCancelled},
		{"change of a cancelled booking", func(t *testing.T, v env) error {
			c := must[Confirmation](t)(v.e.Book(ctx, p9, v.k.dose1[0].ID, "", now))
			must[Confirmation](t)(v.e.Cancel(ctx, p9, c.Bookings[0].ID, "", now))
			_, err := v.e.Change(ctx, p9, c.Bookings[0].ID, v.k.dose1[1].ID, "", now)
			return err
		}, vaxbook.CodeBookingCancelled},
		{"unknown booking", func(t *testing.T, v env) error {
			_, err := v.e.Cancel(ctx, p9, 424242, "", now)
			return err
		}, vaxbook.CodeNotFound},
		{"idempotency key reused for another request", func(t *testing.T, v env) error {
			must[Confirmation](t)(v.e.Book(ctx, p9, v.k.dose1[0].ID, "key-1", now))
			_, err := v.e.Book(ctx, p9, v.k.dose1[1].ID, "key-1", now)
			return err
		}, vaxbook.CodeIdempotencyReused},
		{"no person", func(t *testing.T, v env) error {
			_, err := v.e.Book(ctx, vaxbook.Person{}, v.k.dose1[0].ID, "", now)
			return err
		}, vaxbook.CodeInvalid},
		{"slot id 0", func(t *testing.T, v env) error {
			_, err := v.e.Book(ctx, p9, 0, "", now)
			return err
		}, vaxbook.CodeInvalid},
		{"idempotency key with a space", func(t *testing.T, v env) error {
			_, err := v.e.Book(ctx, p9, v.k.dose1[0].ID, "a b", now)
			return err
		}, vaxbook.CodeInvalid},
		{"idempotency key too long", func(t *testing.T, v env) error {
			_, err := v.e.Book(ctx, p9, v.k.dose1[0].ID, string(make([]byte, 200)), now)
			return err
		}, vaxbook.CodeInvalid},
		{"booking id 0", func(t *testing.T, v env) error {
			_, err := v.e.Cancel(ctx, p9, 0, "", now)
			return err
		}, vaxbook.CodeInvalid},
		{"no instant", func(t *testing.T, v env) error {
			_, err := v.e.Book(ctx, p9, v.k.dose1[0].ID, "", time.Time{})
			return err
		}, vaxbook.CodeInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store, k := openCountryOn(t, kind, spec{Clinics: 2, Days: 2, Hours: []int{9, 10}, Cap: 1, People: 50})
			e := newEngine(t, store, k.c, Config{})
			v := env{e, k}
			err := tc.run(t, v)
			wantCode(t, err, tc.want)
			var ve *vaxbook.Error
			if !errors.As(err, &ve) || ve.Message == "" {
				t.Fatalf("refusal %v carries no message", err)
			}
			// The refusal changed nothing: the store is sound and the
			// index agrees with it.
			checkInvariants(t, store, k.c.ID)
			sameIndex(t, e, store)
		})
	}
}

// TestEligibilityByServerTime: the instant is the server's (a parameter the
// web layer fills from its clock); each cohort may write from its opening
// second, not one second before.
func TestEligibilityByServerTime(t *testing.T) {
	store, k := openCountry(t, spec{Clinics: 2, Days: 2, Hours: []int{9, 10, 11}, Cap: 2, People: 50})
	e := newEngine(t, store, k.c, Config{})
	ctx := context.Background()
	for digit := range 10 {
		p := newPerson(int64(10 + digit))
		opens := rotationOpen(p)
		closes := time.Date(opens.Year(), opens.Month(), opens.Day()+1, 18, 0, 0, 0, kst)
		steps := []struct {
			at   time.Time
			want vaxbook.Code
		}{
			{opens.Add(-time.Second), vaxbook.CodeNotEligibleYet},
			{opens.UTC(), ""}, // the offset the instant is written in does not matter
		}
		slot := k.dose1[digit%len(k.dose1)].ID
		for _, st := range steps {
			conf, err := e.Book(ctx, p, slot, "", st.at)
			wantCode(t, err, st.want)
			if err == nil {
				if !conf.Bookings[0].CreatedAt.Equal(st.at) || conf.Bookings[0].Cohort != digit {
					t.Fatalf("digit %d: booking %+v", digit, conf.Bookings[0])
				}
				// Cancel at the last second of the window, then not after.
				_, err = e.Cancel(ctx, p, conf.Bookings[0].ID, "", closes)
				wantCode(t, err, vaxbook.CodeNotEligibleYet)
				must[Confirmation](t)(e.Cancel(ctx, p, conf.Bookings[0].ID, "", closes.Add(-time.Second)))
			}
		}
	}
	checkInvariants(t, store, k.c.ID)
	sameIndex(t, e, store)
}

func TestIdempotentRetry(t *testing.T) { forKinds(t, testIdempotentRetry) }

func testIdempotentRetry(t *testing.T, kind string) {
	store, k := openCountryOn(t, kind, spec{Clinics: 2, Days: 2, Hours: []int{9, 10}, Cap: 1, People: 50})
	e := newEngine(t, store, k.c, Config{})
	ctx := context.Background()
	p, q := newPerson(9), newPerson(19)
	now := day9Open.Add(time.Minute)
	s := k.dose1[0].ID

	first := must[Confirmation](t)(e.Book(ctx, p, s, "retry-1", now))
	again := must[Confirmation](t)(e.Book(ctx, p, s, "retry-1", now.Add(time.Second)))
	if !again.Replayed || first.Replayed || again.Bookings[0].ID != first.Bookings[0].ID || again.Bookings[1].ID != first.Bookings[1].ID {
		t.Fatalf("retry: first %+v, again %+v", first, again)
	}
	sameIndex(t, e, store) // the replay did not take a second place
	if got := e.Stats().Replayed; got != 1 {
		t.Fatalf("Stats.Replayed = %d, want 1", got)
	}

	// A refusal is remembered under its key too.
	_, err := e.Book(ctx, q, s, "retry-2", now)
	wantCode(t, err, vaxbook.CodeSlotFull)
	_, err = e.Book(ctx, q, s, "retry-2", now)
	wantCode(t, err, vaxbook.CodeSlotFull)
	// Keys are per person: q may use p's key.
	must[Confirmation](t)(e.Book(ctx, q, k.dose1[1].ID, "retry-1", now))

	// Cancel retried: one cancel, one replay.
	c1 := must[Confirmation](t)(e.Cancel(ctx, p, first.Bookings[0].ID, "cancel-1", now))
	c2 := must[Confirmation](t)(e.Cancel(ctx, p, first.Bookings[0].ID, "cancel-1", now))
	if c1.Replayed || !c2.Replayed || c2.Bookings[0].Status != vaxbook.BookingCancelled {
		t.Fatalf("cancel retry: %+v then %+v", c1, c2)
	}
	checkInvariants(t, store, k.c.ID)
	sameIndex(t, e, store)
}

// TestReplayOnly: Replay answers from a stored outcome and never writes.
func TestReplayOnly(t *testing.T) { forKinds(t, testReplayOnly) }

func testReplayOnly(t *testing.T, kind string) {
	store, k := openCountryOn(t, kind, spec{Clinics: 2, Days: 2, Hours: []int{9, 10}, Cap: 1, People: 50})
	e := newEngine(t, store, k.c, Config{})
	ctx := context.Background()
	p := newPerson(9)
	now := day9Open.Add(time.Minute)
	s := k.dose1[0].ID
	book := Write{Kind: vaxbook.MutationBook, SlotID: s}

	_, err := e.Replay(ctx, p, book, "first", now)
	if !errors.Is(err, vaxbook.ErrNoReplay) {
		t.Fatalf("replay before any write: %v, want ErrNoReplay", err)
	}
	_, err = e.Replay(ctx, p, book, "", now)
	if !errors.Is(err, vaxbook.ErrNoReplay) {
		t.Fatalf("replay without a key: %v, want ErrNoReplay", err)
	}
	if bs, err := store.Bookings(ctx, p.ID, k.c.ID); err != nil || len(bs) != 0 {
		t.Fatalf("a replay wrote: %+v, %v", bs, err)
	}
	first := must[Confirmation](t)(e.Book(ctx, p, s, "first", now))
	again := must[Confirmation](t)(e.Replay(ctx, p, book, "first", now.Add(time.Second)))
	if !again.Replayed || again.Bookings[0].ID != first.Bookings[0].ID {
		t.Fatalf("replay: first %+v, again %+v", first, again)
	}
	_, err = e.Replay(ctx, p, Write{Kind: vaxbook.MutationBook, SlotID: k.dose1[1].ID}, "first", now)
	wantCode(t, err, vaxbook.CodeIdempotencyReused)
	sameIndex(t, e, store)
	checkInvariants(t, store, k.c.ID)
}

func TestWriteString(t *testing.T) {
	for _, tc := range []struct {
		w    Write
		want string
	}{
		{Write{Kind: vaxbook.MutationBook, SlotID: 12}, "book 12"},
		{Write{Kind: vaxbook.MutationChange, BookingID: 3, SlotID: 12}, "change 3 12"},
		{Write{Kind: vaxbook.MutationCancel, BookingID: 3}, "cancel 3"},
	} {
		if got := tc.w.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.w, got, tc.want)
		}
	}
}

// TestPooling: during the rotation a person takes only from their cohort's
// row; once pooled, from any row's remainder.
func TestPooling(t *testing.T) { forKinds(t, testPooling) }

func testPooling(t *testing.T, kind string) {
	store, k := openCountryOn(t, kind, spec{Clinics: 1, Days: 1, Hours: []int{9}, Cap: 1, People: 200})
	e := newEngine(t, store, k.c, Config{})
	ctx := context.Background()
	s := k.dose1[0].ID
	must[Confirmation](t)(e.Book(ctx, newPerson(9), s, "", day9Open))
	_, err := e.Book(ctx, newPerson(19), s, "", day9Open)
	wantCode(t, err, vaxbook.CodeSlotFull)
	date := k.c.Vaccination.From
	if got := dayRemaining(t, e, 1, date, 9, day9Open); got != 0 {
		t.Fatalf("cohort 9 sees %d places in the rotation, want 0", got)
	}
	if got := dayRemaining(t, e, 1, date, 9, poolOpen); got != 9 {
		t.Fatalf("cohort 9 sees %d places once pooled, want 9", got)
	}
	taken := map[int]bool{9: true}
	for i := range 9 {
		c := must[Confirmation](t)(e.Book(ctx, newPerson(int64(29+10*i)), s, "", poolOpen))
		if taken[c.Bookings[0].Cohort] {
			t.Fatalf("pooled booking took row %d twice", c.Bookings[0].Cohort)
		}
		taken[c.Bookings[0].Cohort] = true
	}
	_, err = e.Book(ctx, newPerson(8), s, "", poolOpen)
	wantCode(t, err, vaxbook.CodeSlotFull)
	checkInvariants(t, store, k.c.ID)
	sameIndex(t, e, store)
}

// gatedStore holds its first Apply until released, so that writes pile up.
type gatedStore struct {
	vaxbook.Store
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (g *gatedStore) Apply(ctx context.Context, muts []vaxbook.Mutation) ([]vaxbook.Outcome, error) {
	g.once.Do(func() {
		close(g.entered)
		<-g.release
	})
	return g.Store.Apply(ctx, muts)
}

// TestGroupCommit: writes of many goroutines share transactions, each
// caller gets its own outcome, and refusals do not fail their neighbours.
func TestGroupCommit(t *testing.T) { forKinds(t, testGroupCommit) }

func testGroupCommit(t *testing.T, kind string) {
	inner, k := openCountryOn(t, kind, spec{Clinics: 3, Days: 2, Hours: []int{9, 10, 11}, Cap: 2, People: 400})
	store := &gatedStore{Store: inner, entered: make(chan struct{}), release: make(chan struct{})}
	e := newEngine(t, store, k.c, Config{MaxBatch: 64})
	ctx := context.Background()
	now := poolOpen.Add(time.Hour) // pooled: everyone may book
	tiny := k.dose1[0].ID          // 10 rows × 2 places
	const n = 300

	type res struct {
		p    vaxbook.Person
		slot int64
		conf Confirmation
		err  error
	}
	results := make(chan res, n+1)
	go func() { // the first write enters Apply and holds it
		p := newPerson(n + 1)
		c, err := e.Book(ctx, p, k.dose1[1].ID, "", now)
		results <- res{p, k.dose1[1].ID, c, err}
	}()
	<-store.entered
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := newPerson(int64(i + 1))
			slot := tiny
			if i%3 != 0 {
				slot = k.dose1[2+i%(len(k.dose1)-2)].ID
			}
			c, err := e.Book(ctx, p, slot, "", now)
			results <- res{p, slot, c, err}
		}()
	}
	waitFor(t, "writes to queue up", func() bool { return e.Stats().Queued >= 100 })
	close(store.release)
	wg.Wait()
	close(results)

	perSlot := map[int64]int{}
	ok, full := 0, 0
	for r := range results {
		switch vaxbook.ErrorCode(r.err) {
		case "":
			ok++
			b := r.conf.Bookings
			if len(b) != 2 || b[0].PersonID != r.p.ID || b[1].PersonID != r.p.ID || b[0].SlotID != r.slot {
				t.Fatalf("person %d got someone else's outcome: %+v", r.p.ID, b)
			}
			perSlot[r.slot]++
		case vaxbook.CodeSlotFull:
			full++
			if r.slot != tiny {
				t.Fatalf("person %d: slot %d full, but it has room", r.p.ID, r.slot)
			}
		default:
			t.Fatalf("person %d: %v", r.p.ID, r.err)
		}
	}
	if perSlot[tiny] != 20 || full != 100-20 || ok != n+1-full {
		t.Fatalf("tiny slot: %d booked, %d refused; %d ok of %d", perSlot[tiny], full, ok, n+1)
	}
	st := e.Stats()
	if st.LargestBatch < 64 || st.Batches >= int64(n) || st.Mutations != n+1 || st.Refused != int64(full) {
		t.Fatalf("stats: %+v", st)
	}
	t.Logf("stats: %+v", st)
	checkInvariants(t, inner, k.c.ID)
	sameIndex(t, e, inner)
}

// failingStore fails every batch that holds a write of person poison.
type failingStore struct {
	vaxbook.Store
	poison int64
}

func (f *failingStore) Apply(ctx context.Context, muts []vaxbook.Mutation) ([]vaxbook.Outcome, error) {
	for _, m := range muts {
		if m.PersonID == f.poison {
			return nil, errors.New("disk on fire")
		}
	}
	return f.Store.Apply(ctx, muts)
}

func TestBatchFailure(t *testing.T) { forKinds(t, testBatchFailure) }

func testBatchFailure(t *testing.T, kind string) {
	inner, k := openCountryOn(t, kind, spec{Clinics: 1, Days: 1, Hours: []int{9, 10}, Cap: 2, People: 50})
	e := newEngine(t, &failingStore{Store: inner, poison: 19}, k.c, Config{MaxBatch: 1})
	ctx := context.Background()
	_, err := e.Book(ctx, newPerson(19), k.dose1[0].ID, "", day9Open)
	wantCode(t, err, vaxbook.CodeUnavailable)
	must[Confirmation](t)(e.Book(ctx, newPerson(9), k.dose1[0].ID, "", day9Open))
	if st := e.Stats(); st.BatchErrors != 1 || st.Mutations != 1 {
		t.Fatalf("stats %+v", st)
	}
	// The catch-up after a failed batch leaves the index right.
	if err := e.Refresh(); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, inner, k.c.ID)
	sameIndex(t, e, inner)
}

// TestRefresh: a second node's index follows the first node's writes
// through the store's quota change feed.
func TestRefresh(t *testing.T) { forKinds(t, testRefresh) }

func testRefresh(t *testing.T, kind string) {
	store, k := openCountryOn(t, kind, spec{Clinics: 2, Days: 2, Hours: []int{9, 10}, Cap: 3, People: 100})
	a := newEngine(t, store, k.c, Config{})
	b := newEngine(t, store, k.c, Config{})
	c := newEngine(t, store, k.c, Config{Refresh: 5 * time.Millisecond})
	ctx := context.Background()
	now := poolOpen
	date := k.c.Vaccination.From
	full := dayRemaining(t, b, 1, date, -1, now)
	must[Confirmation](t)(a.Book(ctx, newPerson(1), k.dose1[0].ID, "", now))
	if got := dayRemaining(t, b, 1, date, -1, now); got != full {
		t.Fatalf("node b saw the write before refreshing: %d", got)
	}
	if err := b.Refresh(); err != nil {
		t.Fatal(err)
	}
	if got := dayRemaining(t, b, 1, date, -1, now); got != full-1 {
		t.Fatalf("node b after refresh: %d, want %d", got, full-1)
	}
	sameIndex(t, b, store)
	waitFor(t, "node c's background refresh", func() bool { return dayRemaining(t, c, 1, date, -1, now) == full-1 })
	// b's own write on top of a refreshed index, then refreshed again.
	must[Confirmation](t)(b.Book(ctx, newPerson(2), k.dose1[0].ID, "", now))
	if err := b.Refresh(); err != nil {
		t.Fatal(err)
	}
	sameIndex(t, b, store)
	// a has not seen b's write until it refreshes.
	if got := dayRemaining(t, a, 1, date, -1, now); got != full-1 {
		t.Fatalf("node a: %d, want %d", got, full-1)
	}
	if err := a.Refresh(); err != nil {
		t.Fatal(err)
	}
	sameIndex(t, a, store)
	if st := a.Stats(); st.Refreshes != 1 {
		t.Fatalf("node a stats: %+v", st)
	}
}

// TestConcurrentRandomWrites: random books, changes and cancels from many
// goroutines keep the store sound and the index equal to the store.
func TestConcurrentRandomWrites(t *testing.T) { forKinds(t, testConcurrentRandomWrites) }

func testConcurrentRandomWrites(t *testing.T, kind string) {
	store, k := openCountryOn(t, kind, spec{Clinics: 3, Days: 3, Hours: []int{9, 10}, Cap: 1, People: 600})
	e := newEngine(t, store, k.c, Config{MaxBatch: 32})
	ctx := context.Background()
	now := poolOpen.Add(time.Hour)
	var wg sync.WaitGroup
	for g := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			mine := map[int64]int64{}
			for i := range 40 {
				p := newPerson(int64(g*20 + rng.IntN(20) + 1))
				slot := k.dose1[rng.IntN(len(k.dose1))].ID
				var err error
				key := ""
				if i%4 == 0 {
					key = fmt.Sprintf("g%d-%d", g, i/8)
				}
				switch id, has := mine[p.ID]; {
				case !has:
					var c Confirmation
					if c, err = e.Book(ctx, p, slot, key, now); err == nil {
						mine[p.ID] = c.Bookings[0].ID
					}
				case rng.IntN(2) == 0:
					_, err = e.Change(ctx, p, id, slot, key, now)
				default:
					if _, err = e.Cancel(ctx, p, id, key, now); err == nil {
						delete(mine, p.ID)
					}
				}
				switch vaxbook.ErrorCode(err) {
				case "", vaxbook.CodeSlotFull, vaxbook.CodeIdempotencyReused, vaxbook.CodeAlreadyBooked, vaxbook.CodeBookingCancelled:
				default:
					t.Errorf("person %d: %v", p.ID, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	checkInvariants(t, store, k.c.ID)
	sameIndex(t, e, store)
	if e.Stats().Drift != 0 {
		t.Fatalf("drift on a single node: %+v", e.Stats())
	}
}

func TestCloseRefusesWrites(t *testing.T) {
	store, k := openCountry(t, spec{Clinics: 1, Days: 1, Hours: []int{9}, Cap: 1, People: 20})
	e := newEngine(t, store, k.c, Config{})
	e.Close()
	_, err := e.Book(context.Background(), newPerson(9), k.dose1[0].ID, "", day9Open)
	wantCode(t, err, vaxbook.CodeUnavailable)
	if e.Close() != nil {
		t.Fatal("second Close failed")
	}
}

func TestConfig(t *testing.T) {
	store, k := openCountry(t, spec{Clinics: 1, Days: 1, Hours: []int{9}, Cap: 1, People: 1})
	for _, cfg := range []Config{{MaxBatch: -1}, {Refresh: 2 * time.Second}, {Refresh: -1}, {Committers: -2}, {Queue: -1}} {
		if _, err := New(context.Background(), store, k.c, cfg, nil); err == nil {
			t.Errorf("New accepted %+v", cfg)
		}
	}
}

// TestCallerGivesUp: a caller whose context ends while its write waits gets
// unavailable (wrapping the context error); the write still commits, and a
// retry with the same key returns its outcome.
func TestCallerGivesUp(t *testing.T) {
	inner, k := openCountry(t, spec{Clinics: 1, Days: 1, Hours: []int{9}, Cap: 2, People: 50})
	store := &gatedStore{Store: inner, entered: make(chan struct{}), release: make(chan struct{})}
	e := newEngine(t, store, k.c, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := e.Book(ctx, newPerson(9), k.dose1[0].ID, "give-up", day9Open)
		errc <- err
	}()
	<-store.entered
	cancel()
	err := <-errc
	wantCode(t, err, vaxbook.CodeUnavailable)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v does not wrap context.Canceled", err)
	}
	close(store.release)
	conf := must[Confirmation](t)(e.Book(context.Background(), newPerson(9), k.dose1[0].ID, "give-up", day9Open))
	if !conf.Replayed {
		t.Fatalf("retry after giving up: %+v, want the first write's outcome replayed", conf)
	}
	checkInvariants(t, inner, k.c.ID)
	sameIndex(t, e, inner)
}
