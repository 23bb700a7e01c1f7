package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/internal/syncbuf"
	"vaxbook/internal/testdb"
)

// TestMain stops the throwaway PostgreSQL of the pool test.
func TestMain(m *testing.M) { testdb.Main(m) }

func startOps(t *testing.T, cfg Config) (*Node, *syncbuf.Buffer, *syncbuf.Buffer) {
	t.Helper()
	out, logs := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	cfg.Addr, cfg.Demo, cfg.DemoPeople, cfg.DemoClinics, cfg.DemoSeed = "127.0.0.1:0", true, 500, 250, 3
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Stdout = out
	cfg.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); n.Wait() })
	return n, out, logs
}

func basicGet(t *testing.T, url, user, pass string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDemoOperator: a demo node without configured operators makes an
// "admin" account, prints its password once to stdout — never to the log —
// and that password opens the ops API.
func TestDemoOperator(t *testing.T) {
	n, out, logs := startOps(t, Config{})
	m := regexp.MustCompile(`account "admin", password ([a-z0-9]{20})`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no generated password on stdout:\n%s", out.String())
	}
	if strings.Count(out.String(), m[1]) != 1 || strings.Contains(logs.String(), m[1]) {
		t.Fatal("the password is shown more than once, or logged")
	}
	if st := basicGet(t, n.URL()+"/api/v1/ops/waitroom", "admin", m[1]); st != 200 {
		t.Fatalf("ops API with the printed password: %d", st)
	}
	if st := basicGet(t, n.URL()+"/api/v1/ops/waitroom", "admin", "guess"); st != 401 {
		t.Fatalf("ops API with a wrong password: %d", st)
	}
}

func TestBadOperators(t *testing.T) {
	for _, ops := range [][]string{{"admin"}, {"admin:not-a-hash"}, {"Admin:$2a$04$abcdefghijklmnopqrstuu5Zq1ZkQzGx1bq2lP5Q0e5b0p1k2f3gO"}} {
		cfg := Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Demo: true, DemoPeople: 100, DemoClinics: 250,
			Operators: ops, Log: slog.New(slog.DiscardHandler), Stdout: io.Discard}
		n, err := Start(context.Background(), cfg)
		if err == nil || n != nil || !strings.Contains(err.Error(), "operator") {
			t.Fatalf("operators %q: Start = %v, %v; want an operators error", ops, n, err)
		}
		if strings.Contains(err.Error(), "not-a-hash") {
			t.Fatalf("the error echoes the hash: %v", err)
		}
	}
}

// TestPoolMetrics: a node on PostgreSQL exports its connection pool.
func TestPoolMetrics(t *testing.T) {
	url := testdb.Postgres(t)
	n, _, _ := startOps(t, Config{DB: url})
	resp, err := http.Get(n.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`vaxbook_db_pool_connections{state="idle"}`, `vaxbook_db_pool_max_connections 16`, `vaxbook_db_pool_acquires_total`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestSweep: the node's housekeeping forgets idempotency records past
// their retention, and only those.
func TestSweep(t *testing.T) {
	n, _, _ := startOps(t, Config{})
	ctx := context.Background()
	at := n.cfg.Clock.Now()
	m := vaxbook.Mutation{
		Kind: vaxbook.MutationCancel, PersonID: 1, CampaignID: n.Campaign.ID, BookingID: 1 << 40, At: at,
		IdempotencyKey: "sweep", RequestHash: "h",
	}
	if outs, err := n.Store.Apply(ctx, []vaxbook.Mutation{m}); err != nil || outs[0].Err == nil {
		t.Fatalf("cancel of an unknown booking: %v, %+v; want a stored refusal", err, outs)
	}
	replay := func() error {
		only := m
		only.ReplayOnly = true
		outs, err := n.Store.Apply(ctx, []vaxbook.Mutation{only})
		if err != nil {
			t.Fatal(err)
		}
		return outs[0].Err
	}
	n.sweep(ctx, at.Add(idempotencyRetention-time.Minute))
	if err := replay(); errors.Is(err, vaxbook.ErrNoReplay) {
		t.Fatal("a record within its retention was forgotten")
	}
	n.sweep(ctx, at.Add(idempotencyRetention+time.Minute))
	if err := replay(); !errors.Is(err, vaxbook.ErrNoReplay) {
		t.Fatalf("after the retention the replay got %v, want ErrNoReplay", err)
	}
}
