package node

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vaxbook"
)

func TestStartFailsCleanly(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"address in use", Config{Addr: l.Addr().String(), Demo: true}, "listen"},
		{"bad secret", Config{Addr: "127.0.0.1:0", Demo: true, Secret: "nothex"}, "secret"},
		{"no keys outside demo", Config{Addr: "127.0.0.1:0"}, "pii-keys"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.DataDir = t.TempDir()
			tc.cfg.Log = slog.New(slog.DiscardHandler)
			tc.cfg.Stdout = io.Discard
			n, err := Start(context.Background(), tc.cfg)
			if err == nil || n != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start = %v, %v; want an error mentioning %q", n, err, tc.want)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@h:5432/db": "postgres://u:***@h:5432/db",
		"postgres://u@h/db":             "postgres://u@h/db",
		"vaxbook-data/vaxbook.db":       "vaxbook-data/vaxbook.db",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// A node alone on SQLite keeps sessions a minute; nodes sharing PostgreSQL
// keep them 2 s, so a logout on one reaches the others within 2 s.
func TestSessionCache(t *testing.T) {
	for db, want := range map[string]time.Duration{
		"vaxbook-data/vaxbook.db":  time.Minute,
		"postgres://u@h/db":        2 * time.Second,
		"postgresql://u@h:5432/db": 2 * time.Second,
		"/srv/vaxbook/postgres.db": time.Minute,
	} {
		if got := sessionCache(db); got != want {
			t.Errorf("sessionCache(%q) = %v, want %v", db, got, want)
		}
	}
}

// A second node on a store seeded by another data directory (a cluster
// node, or a store filled by vaxbook seed) takes the seed configuration from
// its flags and warns when they do not match the registry.
func TestDemoOnAStoreSeededElsewhere(t *testing.T) {
	db := filepath.Join(t.TempDir(), "shared.db")
	start := func(seed uint64, logw io.Writer) (*Node, error) {
		return Start(context.Background(), Config{
			Addr: "127.0.0.1:0", DataDir: t.TempDir(), DB: db, Demo: true, DemoPeople: 1500, DemoClinics: 260, DemoSeed: seed,
			Log: slog.New(slog.NewTextHandler(logw, nil)), Stdout: io.Discard,
		})
	}
	a, err := start(3, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	a.Wait()

	var logs strings.Builder
	b, err := start(3, &logs)
	if err != nil {
		t.Fatalf("second node: %v", err)
	}
	if b.Seed.People != 1500 || b.Seed.Seed != 3 || strings.Contains(logs.String(), "do not match") {
		t.Fatalf("seed %+v, logs %s", b.Seed, logs.String())
	}
	b.Close()
	b.Wait()

	logs.Reset()
	c, err := start(4, &logs) // another seed: other people
	if err != nil {
		t.Fatalf("third node: %v", err)
	}
	defer func() { c.Close(); c.Wait() }()
	if !strings.Contains(logs.String(), "do not match") {
		t.Fatalf("no warning for mismatched demo flags; logs: %s", logs.String())
	}
}

// TestProviderSwitchAcrossNodes: an operator's switch made on one node
// holds on another node of the same store within a few seconds, and on a
// node started after it.
func TestProviderSwitchAcrossNodes(t *testing.T) {
	db := filepath.Join(t.TempDir(), "shared.db")
	start := func() *Node {
		n, err := Start(context.Background(), Config{
			Addr: "127.0.0.1:0", DataDir: t.TempDir(), DB: db, Demo: true, DemoPeople: 1500, DemoClinics: 260, DemoSeed: 3,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close(); n.Wait() })
		return n
	}
	enabled := func(n *Node, name string) bool {
		for _, l := range n.Identity.Providers(n.cfg.Clock.Now()) {
			if l.Name == name {
				return l.Enabled
			}
		}
		t.Fatalf("no provider %s", name)
		return false
	}
	a, b := start(), start()
	if err := a.Identity.SetEnabled(context.Background(), "kakao", false, "kim", a.cfg.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if enabled(a, "kakao") {
		t.Fatal("kakao still on where it was switched off")
	}
	deadline := time.Now().Add(3 * switchesEvery)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for enabled(b, "kakao") {
		if time.Now().After(deadline) {
			t.Fatalf("the other node still has kakao on after %v", 3*switchesEvery)
		}
		<-tick.C
	}
	if c := start(); enabled(c, "kakao") || !enabled(c, "naver") {
		t.Fatalf("a node started after the switch: kakao on %v, naver on %v", enabled(c, "kakao"), enabled(c, "naver"))
	}
}

// TestDemoOpensIn: a demo node asked for an opening shifts its campaign so
// that the first rotation day opens that long after its start, and nothing
// is open before.
func TestDemoOpensIn(t *testing.T) {
	before := time.Now()
	n, err := Start(context.Background(), Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), Demo: true, DemoPeople: 1500, DemoClinics: 260, DemoSeed: 3,
		DemoOpensIn: 10 * time.Minute, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { n.Close(); n.Wait() }()
	after := time.Now()
	var first *vaxbook.Window
	for i, w := range n.Campaign.Windows {
		if w.Kind == vaxbook.WindowRotation && (first == nil || w.Opens.Before(first.Opens)) {
			first = &n.Campaign.Windows[i]
		}
		if w.Contains(after) {
			t.Fatalf("window %s is open at the start: %s – %s", w.ID, w.Opens, w.Closes)
		}
	}
	if lo, hi := before.Add(10*time.Minute).Truncate(time.Second), after.Add(10*time.Minute); first == nil || first.Opens.Before(lo) || first.Opens.After(hi) {
		t.Fatalf("first rotation window %+v, want it to open between %s and %s", first, lo, hi)
	}
}
