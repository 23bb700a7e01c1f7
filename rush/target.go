package rush

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"vaxbook"
	"vaxbook/booking"
	"vaxbook/node"
	"vaxbook/seed"
)

// Target is what a rush runs against: the nodes' base URLs (requests are
// spread over them), the database to audit, and the synthetic country the
// deployment serves.
type Target struct {
	// Kind describes the target ("embedded", "cluster of 3", "url").
	Kind string
	// URLs are the nodes' base URLs.
	URLs []string
	// DB is the store to audit (SQLite path or postgres:// URL); empty: none.
	DB string
	// Seed is the configuration of the country the target serves.
	Seed seed.Config
	// Nodes are the nodes this process runs (embedded, cluster).
	Nodes []*node.Node
	// Postgres and Redis are the servers this process started (cluster).
	Postgres *Postgres
	Redis    *Redis
	// StalenessMargin is how stale a node's view of the queue may be
	// (counters cached per node in a cluster); the fairness audit allows it.
	StalenessMargin time.Duration

	clock   *shiftClock // nil: the target's clock is not ours to move
	store   vaxbook.Store
	cleanup []func() error
}

// Armable reports whether the simulator can move the target's clock (in
// process targets): the rush then starts just before a window opens.
func (t *Target) Armable() bool { return t.clock != nil }

// arm moves the target's clock so that opens is lead from now.
func (t *Target) arm(opens time.Time, lead time.Duration) {
	t.clock.set(time.Until(opens.Add(-lead)))
}

// ServerNow is the target's clock when it is ours, else the local one.
func (t *Target) ServerNow() time.Time {
	if t.clock != nil {
		return t.clock.Now()
	}
	return time.Now()
}

// Store opens (once) the store to audit: the first in-process node's, or
// the database at DB.
func (t *Target) Store(ctx context.Context) (vaxbook.Store, error) {
	if t.store != nil {
		return t.store, nil
	}
	if len(t.Nodes) > 0 {
		t.store = t.Nodes[0].Store
		return t.store, nil
	}
	if t.DB == "" {
		return nil, errors.New("no database to audit: give the target's store (-db)")
	}
	s, err := node.OpenStore(ctx, t.DB)
	if err != nil {
		return nil, fmt.Errorf("open %s for the audit: %w", t.DB, err)
	}
	t.store = s
	t.cleanup = append(t.cleanup, s.Close)
	return s, nil
}

// Close stops what the target started, in reverse order.
func (t *Target) Close() error {
	var errs []error
	for i := len(t.cleanup) - 1; i >= 0; i-- {
		errs = append(errs, t.cleanup[i]())
	}
	t.cleanup = nil
	return errors.Join(errs...)
}

// Remote is a running deployment at url (more URLs: more nodes). db is its
// store for the audit and sc the seed configuration of its country (see
// its data directory's demo-seed.json).
func Remote(urls []string, db string, sc seed.Config) *Target {
	return &Target{Kind: "url", URLs: urls, DB: db, Seed: sc, StalenessMargin: 500 * time.Millisecond}
}

// ServeConfig configures the nodes an in-process target starts.
type ServeConfig struct {
	// Dir holds the data directory (and, for a cluster, the database
	// servers); empty: a new temporary directory, removed at Close.
	Dir string
	// Country is the number of people in the demo country.
	Country int
	Clinics int    // default seed.DefaultClinics
	Seed    uint64 // default 1
	// WaitRoom are the waiting room's starting settings.
	WaitRoom vaxbook.WaitRoomSettings
	// IdPEmulation sets the dev providers' behaviour ("naver=capacity=300").
	IdPEmulation []string
	Engine       booking.Config
	StageTime    time.Duration // node.Config.StageTime
	MeasureStage bool          // node.Config.MeasureStageTime
	// Log receives the nodes' logs (default: discarded).
	Log *slog.Logger
	// Stdout receives the nodes' start-up summaries (default: discarded).
	Stdout io.Writer
}

func (c *ServeConfig) defaults() {
	if c.Clinics == 0 {
		c.Clinics = seed.DefaultClinics
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Stdout == nil {
		c.Stdout = io.Discard
	}
}

func workDir(t *Target, dir string) (string, error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", err
		}
		return dir, nil
	}
	d, err := os.MkdirTemp("", "vaxbook-rush-")
	if err != nil {
		return "", err
	}
	t.cleanup = append(t.cleanup, func() error { return os.RemoveAll(d) })
	return d, nil
}

// StartEmbedded starts one node in this process, as `vaxbook serve -demo`
// does, on SQLite in its own data directory, with a clock the simulator
// moves to just before a rotation day opens.
func StartEmbedded(ctx context.Context, cfg ServeConfig) (_ *Target, err error) {
	cfg.defaults()
	t := &Target{Kind: "embedded", Seed: seedConfig(cfg), clock: &shiftClock{}}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	dir, err := workDir(t, cfg.Dir)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	n, err := node.Start(ctx, nodeConfig(cfg, t, data, "", "", "", "rush-1"))
	if err != nil {
		return nil, err
	}
	t.cleanup = append(t.cleanup, n.Close)
	t.Nodes = []*node.Node{n}
	t.URLs = []string{n.URL()}
	t.DB = filepath.Join(data, "vaxbook.db")
	return t, nil
}

// StartCluster starts PostgreSQL and Redis from the installed binaries and
// k nodes in this process on them, sharing one secret (and one data
// directory for the dev identity providers' keys and the demo's seed).
func StartCluster(ctx context.Context, k int, cfg ServeConfig) (_ *Target, err error) {
	if k < 1 {
		return nil, vaxbook.InvalidParam("cluster", "a cluster needs at least one node, not %d", k)
	}
	cfg.defaults()
	t := &Target{Kind: fmt.Sprintf("cluster of %d", k), Seed: seedConfig(cfg), clock: &shiftClock{},
		StalenessMargin: 500 * time.Millisecond}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	dir, err := workDir(t, cfg.Dir)
	if err != nil {
		return nil, err
	}
	if t.Postgres, err = StartPostgres(ctx, dir); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	t.cleanup = append(t.cleanup, t.Postgres.Stop)
	if t.DB, err = t.Postgres.CreateDatabase(ctx, "rush"); err != nil {
		return nil, err
	}
	if t.Redis, err = StartRedis(ctx, dir); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	t.cleanup = append(t.cleanup, t.Redis.Stop)
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	for i := range k {
		// The first node seeds the database; the others find it seeded.
		n, err := node.Start(ctx, nodeConfig(cfg, t, data, t.DB, t.Redis.Addr, hex.EncodeToString(secret), fmt.Sprintf("rush-%d", i+1)))
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", i+1, err)
		}
		t.cleanup = append(t.cleanup, n.Close)
		t.Nodes = append(t.Nodes, n)
		t.URLs = append(t.URLs, n.URL())
	}
	return t, nil
}

func seedConfig(cfg ServeConfig) seed.Config {
	sc := seed.DefaultConfig()
	sc.People, sc.Clinics, sc.Seed = cfg.Country, cfg.Clinics, cfg.Seed
	return sc
}

func nodeConfig(cfg ServeConfig, t *Target, data, db, redis, secret, name string) node.Config {
	return node.Config{
		Addr: "127.0.0.1:0", DataDir: data, DB: db, Redis: redis, Secret: secret, Node: name,
		Demo: true, DemoPeople: cfg.Country, DemoClinics: cfg.Clinics, DemoSeed: cfg.Seed,
		WaitRoom: cfg.WaitRoom, IdPEmulation: cfg.IdPEmulation, Engine: cfg.Engine, StageTime: cfg.StageTime,
		MeasureStageTime: cfg.MeasureStage,
		Clock:            t.clock, Log: cfg.Log.With("node", name), Stdout: cfg.Stdout,
	}
}

// shiftClock is the real clock moved by an offset the simulator sets once,
// before the first person arrives, so that a rotation day opens a few
// seconds into the rush.
type shiftClock struct{ shift atomic.Int64 }

func (c *shiftClock) Now() time.Time      { return time.Now().Add(time.Duration(c.shift.Load())) }
func (c *shiftClock) set(d time.Duration) { c.shift.Store(int64(d)) }
func (c *shiftClock) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(c.shift.Load()).String())
}
