package waitroomtest

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/waitroom"
)

func testJoinSamePlace(t *testing.T, newBackend Factory) {
	e := newEnv(t, newBackend)
	s := e.service("n1", nil)
	a := e.join(s, 1)
	if a.State != vaxbook.QueuePrequeue || !a.Created || a.Ticket == "" || a.Room != e.room.ID {
		t.Fatalf("first join before opening = %+v, want a new pre-queue ticket", a)
	}
	if !a.OpensAt.Equal(Opening) || a.RetryAfter <= 0 || a.RetryAfter > waitroom.DefaultMaxRetry {
		t.Fatalf("pre-queue status opens_at %s retry %s, want %s and (0, %s]", a.OpensAt, a.RetryAfter, Opening, waitroom.DefaultMaxRetry)
	}
	// Reload, new session on the same device, another node: the same place.
	again := e.join(s, 1)
	other, err := s.Join(e.ctx, e.room, 1, "a-new-session-after-reverification", e.now())
	if err != nil {
		t.Fatal(err)
	}
	n2 := e.service("n2", nil)
	onN2 := e.join(n2, 1)
	for _, st := range []vaxbook.QueueStatus{again, other, onN2} {
		if st.Ticket != a.Ticket || st.Created {
			t.Fatalf("join again = ticket %q created %v, want the same ticket %q, not created", st.Ticket, st.Created, a.Ticket)
		}
	}
	b := e.join(s, 2)
	if b.Ticket == a.Ticket || !b.Created {
		t.Fatalf("second person got %+v", b)
	}
	// Tickets are personal and tamper-evident.
	_, err = s.Status(e.ctx, a.Ticket, 2, session(2), e.now())
	wantCode(t, err, vaxbook.CodeNotInQueue, "status of someone else's ticket")
	for _, bad := range []string{"", "x", a.Ticket[:len(a.Ticket)-2], flip(a.Ticket, len(a.Ticket)/2)} {
		_, err = s.Status(e.ctx, bad, 1, session(1), e.now())
		wantCode(t, err, vaxbook.CodeNotInQueue, fmt.Sprintf("status of ticket %q", bad))
	}

	e.at(time.Second)
	pa, pb := e.status(s, a, 1), e.status(s, b, 2)
	if pa.State != vaxbook.QueueWaiting || pb.State != vaxbook.QueueWaiting || pa.Position+pb.Position != 3 {
		t.Fatalf("after opening: %+v / %+v, want positions 1 and 2", pa, pb)
	}
	c := e.join(s, 3)
	if c.State != vaxbook.QueueWaiting || c.Position != 3 || c.Ahead != 2 || !c.Created {
		t.Fatalf("join after opening = %+v, want waiting at position 3", c)
	}
	if again := e.join(n2, 3); again.Ticket != c.Ticket || again.Position != 3 || again.Created {
		t.Fatalf("join again after opening = %+v, want the same place", again)
	}
	if st := e.stats(s); st.Arrivals != 3 || st.Waiting != 3 || st.Rejoins != 4 {
		t.Fatalf("stats %+v, want 3 arrivals, 3 waiting, 4 rejoins", st)
	}
}

// flip changes the character at i of a base64url string.
func flip(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

func testJoinRefusals(t *testing.T, newBackend Factory) {
	e := newEnv(t, newBackend)
	s := e.service("n1", nil)
	bad := e.room
	bad.ID = "c2021/other"
	inverted := e.room
	inverted.Closes = inverted.Opens
	for _, tc := range []struct {
		name    string
		room    vaxbook.QueueRoom
		person  int64
		session string
		at      time.Time
		code    vaxbook.Code
	}{
		{"before the pre-queue", e.room, 1, "s", Opening.Add(-31 * time.Minute), vaxbook.CodeQueueClosed},
		{"at closing", e.room, 1, "s", e.room.Closes, vaxbook.CodeQueueClosed},
		{"room id mismatch", bad, 1, "s", Opening, vaxbook.CodeInvalid},
		{"room times", inverted, 1, "s", Opening, vaxbook.CodeInvalid},
		{"no person", e.room, 0, "s", Opening, vaxbook.CodeInvalid},
		{"no session", e.room, 1, "", Opening, vaxbook.CodeNotSignedIn},
	} {
		_, err := s.Join(e.ctx, tc.room, tc.person, tc.session, tc.at)
		wantCode(t, err, tc.code, tc.name)
	}
	if st := e.stats(s); st.Arrivals != 0 {
		t.Fatalf("refused joins issued %d tickets", st.Arrivals)
	}
	if ids, err := e.b.RoomIDs(e.ctx); err != nil || len(ids) != 0 {
		t.Fatalf("refused joins created rooms %v (%v)", ids, err)
	}
}

func testPrequeueDraw(t *testing.T, newBackend Factory) {
	e := newEnv(t, newBackend)
	s, s2 := e.service("n1", nil), e.service("n2", nil)
	const n = 200
	tickets := make([]vaxbook.QueueStatus, n)
	for i := range tickets {
		e.clk.Set(Opening.Add(-20*time.Minute + time.Duration(i)*time.Second)) // arrival order = i
		tickets[i] = e.join(s, int64(i+1))
	}
	e.at(0)
	perm := waitroom.NewPerm(waitroom.ShuffleKey(Secret, e.room.ID), n)
	seen := make([]bool, n+1)
	fixedPoints := 0
	for i, tk := range tickets {
		st := e.status(s, tk, int64(i+1))
		if st.State != vaxbook.QueueWaiting || st.Position < 1 || st.Position > n || seen[st.Position] {
			t.Fatalf("ticket %d after opening: %+v (duplicate or out of range)", i, st)
		}
		seen[st.Position] = true
		if want := int64(perm.At(uint64(i))) + 1; st.Position != want {
			t.Fatalf("ticket %d at position %d, want %d from the audited key", i, st.Position, want)
		}
		if st.Position == int64(i+1) {
			fixedPoints++
		}
		if on2 := e.status(s2, tk, int64(i+1)); on2.Position != st.Position {
			t.Fatalf("node 2 places ticket %d at %d, node 1 at %d", i, on2.Position, st.Position)
		}
	}
	if fixedPoints > 10 {
		t.Fatalf("%d of %d pre-queue tickets kept their arrival place: not shuffled", fixedPoints, n)
	}
	shuffles := e.audit.byAction("waitroom.shuffle")
	if len(shuffles) != 1 || shuffles[0].Target != e.room.ID || !strings.Contains(shuffles[0].Detail, `"prequeue":200`) {
		t.Fatalf("shuffle audit = %+v, want one entry for %s with prequeue 200", shuffles, e.room.ID)
	}
	key := waitroom.ShuffleKey(Secret, e.room.ID)
	if !strings.Contains(shuffles[0].Detail, fmt.Sprintf("%x", key[:])) {
		t.Fatalf("shuffle audit %s does not keep the key", shuffles[0].Detail)
	}
	// After opening: strict FIFO behind the pre-queue.
	for i := int64(1); i <= 3; i++ {
		if st := e.join(s2, n+i); st.Position != n+i {
			t.Fatalf("join %d after opening at position %d, want %d", i, st.Position, n+i)
		}
	}
}

// testPrequeueUniform draws many pre-queues (one room per run: the key is
// derived per window) and checks with a chi-square test that every arrival
// rank lands on every place equally often.
func testPrequeueUniform(t *testing.T, newBackend Factory) {
	e := newEnv(t, newBackend)
	s := e.service("n1", nil)
	const n, runs = 6, 240
	var counts [n][n]float64
	person := int64(0)
	for r := 0; r < runs; r++ {
		e.room = Room(fmt.Sprintf("u%d", r))
		e.at(-time.Minute)
		tickets := make([]vaxbook.QueueStatus, n)
		for i := range tickets {
			person++
			tickets[i] = e.join(s, person)
		}
		e.at(time.Second)
		for i, tk := range tickets {
			st := e.status(s, tk, person-int64(n-1-i))
			counts[i][st.Position-1]++
		}
	}
	chi2 := chiSquare(counts[:], runs/n)
	// 25 degrees of freedom; P(χ² > 52.62) = 0.001.
	if chi2 > 52.62 {
		t.Fatalf("χ² = %.1f over %d runs (rank × place counts %v): pre-queue order not uniform", chi2, runs, counts)
	}
	t.Logf("pre-queue uniformity: χ² = %.1f (25 dof, critical 52.62 at p = 0.001)", chi2)
}

func chiSquare(counts [][6]float64, expected float64) float64 {
	var chi2 float64
	for _, row := range counts {
		for _, o := range row {
			chi2 += (o - expected) * (o - expected) / expected
		}
	}
	return chi2
}

// testFIFOConcurrentNodes joins people concurrently through three nodes
// after the opening and checks that no join that finished before another
// started got a later place, then that admission follows the places.
func testFIFOConcurrentNodes(t *testing.T, newBackend Factory) {
	e := newEnv(t, newBackend)
	nodes := []*waitroom.Service{e.service("n1", nil), e.service("n2", nil), e.service("n3", nil)}
	now := e.at(time.Second)
	const workers, each = 4, 60
	type rec struct {
		start, end int64
		person     int64
		st         vaxbook.QueueStatus
	}
	var (
		clockSeq atomic.Int64
		mu       sync.Mutex
		recs     []rec
		errs     []error
		wg       sync.WaitGroup
	)
	for ni, node := range nodes {
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < each; k++ {
					person := int64((ni*workers+w)*each + k + 1)
					start := clockSeq.Add(1)
					st, err := node.Join(context.Background(), e.room, person, session(person), now)
					end := clockSeq.Add(1)
					mu.Lock()
					if err != nil {
						errs = append(errs, err)
					}
					recs = append(recs, rec{start, end, person, st})
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d joins failed, first: %v", len(errs), errs[0])
	}
	total := len(recs)
	seen := make([]bool, total+1)
	for _, r := range recs {
		if p := r.st.Position; p < 1 || p > int64(total) || seen[p] {
			t.Fatalf("place %d duplicated or out of 1..%d", p, total)
		}
		seen[r.st.Position] = true
	}
	// FIFO: for every B, every A that ended before B started is ahead of B.
	byEnd := append([]rec(nil), recs...)
	sort.Slice(byEnd, func(i, j int) bool { return byEnd[i].end < byEnd[j].end })
	prefixMax := make([]int64, len(byEnd))
	for i, r := range byEnd {
		prefixMax[i] = r.st.Position
		if i > 0 && prefixMax[i-1] > prefixMax[i] {
			prefixMax[i] = prefixMax[i-1]
		}
	}
	inversions := 0
	for _, b := range recs {
		k := sort.Search(len(byEnd), func(i int) bool { return byEnd[i].end >= b.start })
		if k > 0 && prefixMax[k-1] > b.st.Position {
			inversions++
		}
	}
	if inversions > 0 {
		t.Fatalf("%d FIFO inversions among %d concurrent joins on 3 nodes", inversions, total)
	}
	// Admission follows the places: after each tick the admitted are exactly
	// the first places.
	sort.Slice(recs, func(i, j int) bool { return recs[i].st.Position < recs[j].st.Position })
	e.set(nodes[0], fixed(100, 0))
	admitted := int64(0)
	for sec := 2; admitted < int64(total); sec++ {
		e.at(time.Duration(sec) * time.Second)
		for _, n := range nodes {
			e.tick(n)
		}
		st := e.stats(nodes[0])
		admitted = st.Admitted
		for _, r := range recs {
			got := e.status(nodes[sec%3], r.st, r.person)
			if in := got.State == vaxbook.QueueAdmitted; in != (r.st.Position <= admitted) {
				t.Fatalf("at %ds with %d admitted, place %d is %s", sec, admitted, r.st.Position, got.State)
			}
		}
		if sec > 30 {
			t.Fatalf("only %d of %d admitted after %d s at 100/s", admitted, total, sec)
		}
	}
}

// mean returns the mean of xs.
func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / math.Max(float64(len(xs)), 1)
}
