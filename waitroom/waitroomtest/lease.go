package waitroomtest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/waitroom"
)

// tickAll ticks every node concurrently at the env's time and returns the
// names of the nodes that hold the lease afterwards.
func (e *env) tickAll(nodes []*waitroom.Service) []string {
	e.t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.Tick(context.Background(), e.now())
		}()
	}
	wg.Wait()
	var leaders []string
	for i, n := range nodes {
		if errs[i] != nil {
			e.t.Fatalf("tick %s: %v", n.Node(), errs[i])
		}
		if n.Leader() {
			leaders = append(leaders, n.Node())
		}
	}
	return leaders
}

func testLeaderLease(t *testing.T, newBackend Factory) {
	e := newEnv(t, newBackend)
	var nodes []*waitroom.Service
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, e.service(fmt.Sprintf("n%d", i), nil))
	}
	e.at(0)
	e.set(nodes[0], fixed(10, 0))
	e.joinMany(nodes[1], 1, 300)
	var leader string
	for sec := 1; sec <= 6; sec++ {
		e.at(time.Duration(sec) * time.Second)
		leaders := e.tickAll(nodes)
		if len(leaders) != 1 {
			t.Fatalf("at %ds the lease is held by %v, want exactly one node", sec, leaders)
		}
		if leader != "" && leaders[0] != leader {
			t.Fatalf("leadership moved from %s to %s while %s kept ticking", leader, leaders[0], leader)
		}
		leader = leaders[0]
	}
	st, err := nodes[2].State(e.ctx, e.now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Leader != leader {
		t.Fatalf("state names leader %q, want %q", st.Leader, leader)
	}
	// One controller: three nodes ticking admit at the rate once, not thrice.
	if st.Stats.Admitted != 50 {
		t.Fatalf("5 s at 10/s with 3 nodes admitted %d, want 50", st.Stats.Admitted)
	}
}

func testLeaseFencing(t *testing.T, newBackend Factory) {
	e := newEnv(t, newBackend)
	ctx, b := e.ctx, e.b
	t0 := Opening
	if _, err := b.JoinRoom(ctx, e.room, 7, 1, true, t0); err != nil {
		t.Fatal(err)
	}
	must := func(l vaxbook.Lease, err error) vaxbook.Lease {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	la := must(b.Lease(ctx, "a", t0, 5*time.Second))
	if !la.Held || la.Holder != "a" || !la.Until.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("first lease = %+v", la)
	}
	if lb := must(b.Lease(ctx, "b", t0.Add(time.Second), 5*time.Second)); lb.Held || lb.Holder != "a" {
		t.Fatalf("b took a held lease: %+v", lb)
	}
	if la2 := must(b.Lease(ctx, "a", t0.Add(2*time.Second), 5*time.Second)); !la2.Held || la2.Token != la.Token {
		t.Fatalf("renewal = %+v, want held with token %d", la2, la.Token)
	}
	// a stops renewing; after its lease lapses b takes over with a new token.
	lb := must(b.Lease(ctx, "b", t0.Add(8*time.Second), 5*time.Second))
	if !lb.Held || lb.Token <= la.Token {
		t.Fatalf("takeover = %+v, want held with a token above %d", lb, la.Token)
	}
	// a's writes are fenced off.
	_, err := b.Admit(ctx, la, e.room.ID, 1, t0.Add(9*time.Second), t0.Add(time.Hour), 1, vaxbook.OutflowState{})
	wantCode(t, err, vaxbook.CodeConflict, "admit with a stale lease")
	wantCode(t, b.SaveTick(ctx, la, vaxbook.TickState{Rate: 99}), vaxbook.CodeConflict, "save tick with a stale lease")
	_, err = b.TakeStage(ctx, la, t0.Add(9*time.Second))
	wantCode(t, err, vaxbook.CodeConflict, "take stage with a stale lease")
	if g, err := b.Global(ctx); err != nil || g.Rate == 99 || g.Stats.Admitted != 0 {
		t.Fatalf("a stale leader changed the state: %+v, %v", g, err)
	}
	if n, err := b.Admit(ctx, lb, e.room.ID, 1, t0.Add(9*time.Second), t0.Add(time.Hour), 1, vaxbook.OutflowState{}); err != nil || n != 1 {
		t.Fatalf("the leader's admit = %d, %v", n, err)
	}
	if la3 := must(b.Lease(ctx, "a", t0.Add(9*time.Second), 5*time.Second)); la3.Held {
		t.Fatalf("a retook b's live lease: %+v", la3)
	}
	// Giving the lease up hands it over at once.
	if err := b.ReleaseLease(ctx, "a"); err != nil { // not the holder: no effect
		t.Fatal(err)
	}
	if err := b.ReleaseLease(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if la4 := must(b.Lease(ctx, "a", t0.Add(9*time.Second), 5*time.Second)); !la4.Held || la4.Token <= lb.Token {
		t.Fatalf("after release = %+v", la4)
	}
}

func testLeaderFailover(t *testing.T, newBackend Factory) {
	e := newEnv(t, newBackend)
	var nodes []*waitroom.Service
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, e.service(fmt.Sprintf("n%d", i), nil))
	}
	e.at(0)
	e.set(nodes[0], fixed(10, 0))
	e.joinMany(nodes[0], 1, 1000)
	sec := 1
	step := func(live []*waitroom.Service) []string {
		e.at(time.Duration(sec) * time.Second)
		sec++
		return e.tickAll(live)
	}
	var first string
	for i := 0; i < 3; i++ {
		first = step(nodes)[0]
	}
	// The leader dies (stops ticking): nobody leads until its lease lapses,
	// then exactly one of the others takes over.
	var live []*waitroom.Service
	for _, n := range nodes {
		if n.Node() != first {
			live = append(live, n)
		}
	}
	before := e.stats(live[0]).Admitted
	var second string
	for deadline := sec + 20; second == ""; {
		if sec > deadline {
			t.Fatalf("no node took over within 20 s of the leader's death")
		}
		leaders := step(live)
		if len(leaders) > 1 {
			t.Fatalf("two leaders at once: %v", leaders)
		}
		if len(leaders) == 1 {
			second = leaders[0]
		}
	}
	took := time.Duration(sec-1)*time.Second - 3*time.Second // lease last renewed at 3 s
	if took < waitroom.DefaultLeaseTTL || took > waitroom.DefaultLeaseTTL+time.Second {
		t.Fatalf("takeover %s after the last renewal, want about the lease TTL %s", took, waitroom.DefaultLeaseTTL)
	}
	for i := 0; i < 3; i++ {
		if leaders := step(live); len(leaders) != 1 || leaders[0] != second {
			t.Fatalf("after takeover the leaders are %v, want %s", leaders, second)
		}
	}
	if after := e.stats(live[0]).Admitted; after <= before {
		t.Fatalf("admissions did not resume under the new leader (%d → %d)", before, after)
	}
	// A leader that stops cleanly (Close) hands over at the next tick.
	var closing *waitroom.Service
	var rest []*waitroom.Service
	for _, n := range live {
		if n.Node() == second {
			closing = n
		} else {
			rest = append(rest, n)
		}
	}
	if err := closing.Close(e.ctx); err != nil {
		t.Fatal(err)
	}
	if leaders := step(rest); len(leaders) != 1 || leaders[0] != rest[0].Node() {
		t.Fatalf("after Close the leaders are %v, want %s at once", leaders, rest[0].Node())
	}
}
