package browsertest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/node"
	"vaxbook/seed"
	"vaxbook/web/browsertest/harness"
)

// browser is the one Chromium of this test binary; browserErr says why it
// is missing (harness.Require turns that into a skip, or a failure in CI).
var (
	browser    *harness.Browser
	browserErr error
)

func TestMain(m *testing.M) {
	browser, browserErr = harness.Start(harness.Config{})
	code := m.Run()
	browser.Close()
	os.Exit(code)
}

// movableClock is the real clock plus an offset a test can change: time
// flows (the waiting room admits, pages count down) and a test can still
// jump to "twenty minutes before the next opening".
type movableClock struct {
	mu    sync.Mutex
	shift time.Duration
}

// Now is the real time plus the offset.
func (c *movableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.shift)
}

// Set moves the clock so that it reads t now (and flows on from there).
func (c *movableClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shift = time.Until(t)
}

// testNode is a running demo node and its clock.
type testNode struct {
	*node.Node
	Clock *movableClock
}

// startNode starts a demo node (SQLite in a temp dir, a small synthetic
// country, the built-in identity providers) on a free port; it stops when
// the test ends. Browser tests call harness.Require first.
func startNode(t *testing.T) *testNode {
	t.Helper()
	clk := &movableClock{}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := node.Start(ctx, node.Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), Demo: true, DemoPeople: 3000, DemoClinics: 300, DemoSeed: 7,
		Clock: clk, WaitRoomTick: 50 * time.Millisecond, Log: slog.New(slog.DiscardHandler), Stdout: io.Discard,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); n.Close(); n.Wait() })
	return &testNode{Node: n, Clock: clk}
}

// people returns registry ids of people for whom campaign.Check answers
// code at instant at (skipping the ids in skip).
func (n *testNode) people(t *testing.T, at time.Time, code vaxbook.Code, count int, skip ...int64) []int64 {
	t.Helper()
	gen, err := seed.NewGenerator(n.Seed, n.Campaign)
	if err != nil {
		t.Fatal(err)
	}
	skipped := map[int64]bool{}
	for _, id := range skip {
		skipped[id] = true
	}
	var out []int64
	for id := int64(1); id <= int64(n.Seed.People) && len(out) < count; id++ {
		c := gen.Citizen(id)
		if !skipped[id] && campaign.Check(n.Campaign, c.BirthDate, c.Nationality, at).Code == code {
			out = append(out, id)
		}
	}
	if len(out) < count {
		t.Fatalf("only %d people with %s at %s", len(out), code, at)
	}
	return out
}
