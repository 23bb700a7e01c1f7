package node

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"vaxbook"
	"vaxbook/booking"
	"vaxbook/campaign"
	"vaxbook/devidp"
	"vaxbook/i18n"
	"vaxbook/identity"
	"vaxbook/internal/clock"
	"vaxbook/ops"
	"vaxbook/pii"
	"vaxbook/redis"
	"vaxbook/seed"
	"vaxbook/waitroom"
	"vaxbook/web"
)

// Config is a node's configuration (cmd/vaxbook serve maps flags onto it).
type Config struct {
	// Addr is the listen address (":8080"; "127.0.0.1:0" picks a free port).
	Addr string
	// PublicURL is how browsers reach this node (or its load balancer); it
	// makes OpenID redirect URLs and the dev IdP's issuers. Default
	// http://<the listen address>.
	PublicURL string
	// DataDir holds the SQLite database, the node secret, the demo's seed
	// parameters and the dev IdP's signing keys (default ./vaxbook-data).
	DataDir string
	// DB is a SQLite path or a postgres:// URL (default DataDir/vaxbook.db).
	DB string
	// Redis is the address (host:port or redis:// URL) of the Redis that
	// holds the waiting room in a cluster; empty: in process.
	Redis string
	// Campaign is the campaign to seed (built-in name or file); the node
	// serves the store's campaign with this id (default kr-2021-18-49).
	Campaign string
	// Demo seeds an empty store with a synthetic country, shifts the
	// campaign so that a rotation day is open now, and serves the built-in
	// identity providers under /idp/.
	Demo        bool
	DemoPeople  int
	DemoClinics int
	DemoSeed    uint64
	// DemoOpensIn, if positive, shifts the demo campaign instead so that
	// its first rotation day opens this long after the node starts (at a
	// whole second), nothing open before: an opening night to rehearse
	// against a separate process (vaxbook rush -target).
	DemoOpensIn time.Duration
	// Secret keys tickets, passes, cookies and derived keys: 32+ bytes as
	// hex; every node of a cluster needs the same one. Empty: DataDir/secret,
	// created on first start (one node).
	Secret string
	// PIIKeys and BlindKey are the personal-data keys (see pii.ParseKeys);
	// empty: the public demo keys (refused unless Demo).
	PIIKeys, BlindKey string
	// Providers is a JSON file of identity.ProviderConfig for production
	// identity providers; with Demo and no file, the built-in ones.
	Providers string
	// IdPEmulation sets the built-in providers' behaviour at start:
	// "naver=capacity=300,median=200ms" entries (see devidp.ParseEmulation).
	IdPEmulation []string
	// Operators are ops accounts, "name:bcrypt-hash" entries. With Demo and
	// none, an "admin" account with a random password printed at start.
	Operators []string
	// Node names this node (default: host name and port).
	Node string
	// SecureCookies marks cookies Secure (behind a TLS-terminating proxy).
	SecureCookies bool
	Engine        booking.Config
	// WaitRoomTick is how often the waiting room admits people (200ms).
	WaitRoomTick time.Duration
	// WaitRoom are the waiting room's settings until an operator changes
	// them (zero fields: waitroom.DefaultSettings). The rush simulator and
	// benchmarks use it to start with a fixed admission rate.
	WaitRoom vaxbook.WaitRoomSettings
	// StageTime is how long people are expected to need in the booking
	// stage: the waiting room admits at most as many people as the stage
	// finishes in that time at its measured pace (0: waitroom's default, a
	// quarter of a pass's life). MeasureStageTime measures it instead
	// (waitroom.Config.MeasureStageTime).
	StageTime        time.Duration
	MeasureStageTime bool
	Log              *slog.Logger
	Clock            clock.Clock
	// Stdout receives the start-up summary (default os.Stdout).
	Stdout interface{ Write([]byte) (int, error) }
}

// Node is one running vaxbook node.
type Node struct {
	cfg      Config
	log      *slog.Logger
	Store    vaxbook.Store
	Engine   *booking.Engine
	WaitRoom *waitroom.Service
	Identity *identity.Service
	DevIdP   *devidp.Server
	Metrics  *ops.Metrics
	Web      *web.Server
	Keys     *pii.Keys
	Campaign vaxbook.Campaign
	// Seed is the demo's seed configuration (zero when not seeded by demo).
	Seed seed.Config

	listener net.Listener
	url      string
	server   *http.Server
	rdb      goredis.UniversalClient
	stop     context.CancelFunc
	wg       sync.WaitGroup
	closeMu  sync.Mutex
	closed   bool
}

func (c *Config) defaults() {
	if c.Addr == "" {
		c.Addr = ":8080"
	}
	if c.DataDir == "" {
		c.DataDir = "vaxbook-data"
	}
	if c.DB == "" {
		c.DB = filepath.Join(c.DataDir, "vaxbook.db")
	}
	if c.Campaign == "" {
		c.Campaign = campaign.Default
	}
	if c.DemoPeople == 0 {
		c.DemoPeople = seed.DefaultPeople
	}
	if c.DemoClinics == 0 {
		c.DemoClinics = seed.DefaultConfig().Clinics
	}
	if c.WaitRoomTick == 0 {
		c.WaitRoomTick = 200 * time.Millisecond
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = clock.System{}
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
}

// Start builds a node and starts serving. It returns when the node listens;
// it stops when ctx ends or Close is called.
func Start(ctx context.Context, cfg Config) (_ *Node, err error) {
	cfg.defaults()
	n := &Node{cfg: cfg, log: cfg.Log}
	defer func() {
		if err != nil {
			n.Close() // release what was opened before the failure
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	n.listener, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	n.url = strings.TrimRight(cfg.PublicURL, "/")
	if n.url == "" {
		host, port, _ := net.SplitHostPort(n.listener.Addr().String())
		if host == "::" || host == "0.0.0.0" || host == "" {
			host = "localhost"
		}
		n.url = "http://" + net.JoinHostPort(host, port)
	}
	if cfg.Node == "" {
		h, _ := os.Hostname()
		_, port, _ := net.SplitHostPort(n.listener.Addr().String())
		cfg.Node = h + ":" + port
		n.cfg.Node = cfg.Node
	}
	secret, err := loadSecret(cfg)
	if err != nil {
		return nil, err
	}
	if n.Keys, err = loadKeys(cfg, n.log); err != nil {
		return nil, err
	}
	if n.Store, err = openStore(ctx, cfg.DB, n.log); err != nil {
		return nil, fmt.Errorf("store %s: %w", redactURL(cfg.DB), err)
	}
	if cfg.Demo {
		if n.Seed, err = n.seedDemo(ctx); err != nil {
			return nil, err
		}
	}
	if n.Campaign, err = n.loadCampaign(ctx); err != nil {
		return nil, err
	}
	engCfg := cfg.Engine
	if strings.HasPrefix(cfg.DB, "postgres") && engCfg.Refresh == 0 {
		engCfg.Refresh = 500 * time.Millisecond // other nodes book too: keep the index within 1 s
		if engCfg.Committers == 0 {
			engCfg.Committers = 4
		}
	}
	if n.Engine, err = booking.New(ctx, n.Store, n.Campaign, engCfg, n.log); err != nil {
		return nil, fmt.Errorf("booking engine: %w", err)
	}
	if err := n.startWaitRoom(ctx, secret); err != nil {
		return nil, err
	}
	if err := n.startIdentity(ctx, secret); err != nil {
		return nil, err
	}
	n.Metrics = ops.NewMetrics()
	n.Web = web.New(web.Config{
		Log: n.log, Clock: cfg.Clock, I18n: i18n.MustLoad(), Metrics: n.Metrics, Engine: n.Engine,
		Ready:    n.Store.Ping,
		Identity: n.Identity, WaitRoom: n.WaitRoom, Locks: n.Store, Audit: n.Store,
		Unseal: func(sealed []byte, id int64) (string, error) {
			return n.Keys.Open(sealed, pii.PersonAAD(id))
		},
		Secret: derive(secret, "web"), SecureCookies: cfg.SecureCookies, Pages: web.PagesConfig{Demo: cfg.Demo},
		Ops: n.opsConfig(),
	})
	mux := http.NewServeMux()
	mux.Handle("/", n.Web.Handler())
	if n.DevIdP != nil {
		mux.Handle("/idp/", n.DevIdP)
	}
	n.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: slog.NewLogLogger(n.log.Handler(), slog.LevelWarn)}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	n.stop = stop
	n.background(bg)
	if err := n.startOps(bg); err != nil {
		return nil, err
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.server.Serve(n.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("serve", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		n.Close()
	}()
	n.summary()
	return n, nil
}

// URL is the node's public base URL.
func (n *Node) URL() string { return n.url }

// Addr is the address the node listens on.
func (n *Node) Addr() string { return n.listener.Addr().String() }

// Wait blocks until the node has stopped.
func (n *Node) Wait() { n.wg.Wait() }

// Close stops serving (finishing requests in flight for up to 10 s), commits
// queued bookings and closes the store. It is safe to call more than once.
func (n *Node) Close() error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	var errs []error
	if n.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		errs = append(errs, n.server.Shutdown(ctx))
		cancel()
	} else if n.listener != nil {
		n.listener.Close()
	}
	if n.stop != nil {
		n.stop()
	}
	if n.WaitRoom != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, n.WaitRoom.Close(ctx)) // hand the controller lease to another node now
		cancel()
	}
	if n.Engine != nil {
		errs = append(errs, n.Engine.Close())
	}
	if n.rdb != nil {
		errs = append(errs, n.rdb.Close())
	}
	if n.Store != nil {
		errs = append(errs, n.Store.Close())
	}
	return errors.Join(errs...)
}

// idempotencyRetention is how long the store keeps the outcome of an
// idempotent write: longer than a rotation day's booking window (22 h), so
// a retry within the window a write was made in is always answered with
// its first outcome. After it a retry is a new request (a second booking
// is refused already_booked).
const idempotencyRetention = 24 * time.Hour

// switchesEvery is how often a node reads the operators' provider
// switches: a switch made on one node of a cluster holds on every node
// within it.
const switchesEvery = 2 * time.Second

// background runs the waiting room's admissions and, in its own goroutine
// so that a long sweep never delays a tick, the store's housekeeping and
// the provider switches.
func (n *Node) background(ctx context.Context) {
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		tick := time.NewTicker(n.cfg.WaitRoomTick)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := n.WaitRoom.Tick(ctx, n.cfg.Clock.Now()); err != nil && ctx.Err() == nil {
					n.log.Warn("waiting room tick", "err", err)
				}
			}
		}
	}()
	go func() {
		defer n.wg.Done()
		sweep := time.NewTicker(time.Minute)
		switches := time.NewTicker(switchesEvery)
		defer sweep.Stop()
		defer switches.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sweep.C:
				n.sweep(ctx, n.cfg.Clock.Now())
			case <-switches.C:
				if err := n.Identity.SyncSwitches(ctx); err != nil && ctx.Err() == nil {
					n.log.Warn("provider switches", "err", err)
				}
			}
		}
	}()
}

// sweep deletes sessions past their absolute lifetime and idempotency
// records past their retention.
func (n *Node) sweep(ctx context.Context, now time.Time) {
	if _, err := n.Store.DeleteSessionsBefore(ctx, now.Add(-8*time.Hour)); err != nil && ctx.Err() == nil {
		n.log.Warn("session sweep", "err", err)
	}
	if k, err := n.Store.DeleteIdempotencyBefore(ctx, now.Add(-idempotencyRetention)); err != nil && ctx.Err() == nil {
		n.log.Warn("idempotency sweep", "err", err, "forgotten", k)
	} else if k > 0 {
		n.log.Info("idempotency sweep", "forgotten", k)
	}
}

func (n *Node) startWaitRoom(ctx context.Context, secret []byte) error {
	var backend vaxbook.WaitRoomBackend
	if n.cfg.Redis != "" {
		opts, err := redisOptions(n.cfg.Redis)
		if err != nil {
			return err
		}
		rdb := goredis.NewClient(opts)
		if err := rdb.Ping(ctx).Err(); err != nil {
			rdb.Close()
			return fmt.Errorf("redis %s: %w", opts.Addr, err)
		}
		n.rdb = rdb
		backend = redis.NewWaitRoom(rdb, "vaxbook:")
	} else {
		backend = waitroom.NewMemory()
	}
	var err error
	n.WaitRoom, err = waitroom.New(waitroom.Config{
		Backend: backend, Secret: derive(secret, "waitroom"), Node: n.cfg.Node, Audit: n.Store, Log: n.log,
		CountersMaxAge: countersMaxAge(n.cfg.Redis), Defaults: n.cfg.WaitRoom, StageTime: n.cfg.StageTime,
		MeasureStageTime: n.cfg.MeasureStageTime,
	})
	if err != nil {
		return fmt.Errorf("waiting room: %w", err)
	}
	return nil
}

func countersMaxAge(redisAddr string) time.Duration {
	if redisAddr == "" {
		return 0
	}
	return 100 * time.Millisecond
}

func redisOptions(s string) (*goredis.Options, error) {
	if strings.Contains(s, "://") {
		o, err := goredis.ParseURL(s)
		if err != nil {
			return nil, vaxbook.InvalidParam("redis", "redis must be host:port or a redis:// URL: %v", err)
		}
		return o, nil
	}
	return &goredis.Options{Addr: s, PoolSize: 64}, nil
}

// currentCampaign is the campaign as the engine serves it.
func (n *Node) currentCampaign(context.Context) (vaxbook.Campaign, error) {
	return n.Engine.Campaign(), nil
}

// loginCheck is campaign.Check as identity applies it at sign-in: people
// whose window opens within the pre-queue lead may sign in (to wait in the
// pre-queue); everyone else is told why not.
func loginCheck(c vaxbook.Campaign, birth vaxbook.Date, nat vaxbook.Nationality, at time.Time) vaxbook.Decision {
	w, d, ok := campaign.QueueWindow(c, birth, nat, at)
	if ok && !d.Eligible {
		d.Eligible, d.Code, d.Window = true, vaxbook.CodeEligible, &w
	}
	return d
}

func (n *Node) startIdentity(ctx context.Context, secret []byte) error {
	cfg := identity.Config{
		BaseURL: n.url, Store: n.Store, Keys: n.Keys, Campaign: n.currentCampaign, Check: loginCheck,
		Clock: n.cfg.Clock, CookieKey: derive(secret, "identity-cookies"), SecureCookies: n.cfg.SecureCookies,
		Logger: n.log, SessionCache: sessionCache(n.cfg.DB),
	}
	clientSecret := hex.EncodeToString(derive(secret, "devidp-client"))
	switch {
	case n.cfg.Providers != "":
		b, err := os.ReadFile(n.cfg.Providers)
		if err != nil {
			return fmt.Errorf("providers: %w", err)
		}
		if err := json.Unmarshal(b, &cfg.Providers); err != nil {
			return fmt.Errorf("providers %s: %w", n.cfg.Providers, err)
		}
	case n.cfg.Demo:
		people := n.Seed.People
		gen, err := seed.NewGenerator(n.Seed, n.Campaign)
		if err != nil {
			return fmt.Errorf("dev idp people: %w", err)
		}
		n.DevIdP, err = devidp.New(devidp.Config{
			BaseURL: n.url, Prefix: "/idp",
			Clients: []devidp.Client{{ID: "vaxbook", Secret: clientSecret, RedirectURIs: []string{n.url + "/auth/*/callback"}}},
			People: devidp.FromFunc(int64(people), func(id int64) devidp.Person {
				c := gen.Citizen(id)
				return devidp.Person{ID: c.ID, CI: c.CI, Name: c.Name, Phone: c.Phone, BirthDate: c.BirthDate, Nationality: c.Nationality}
			}),
			Campaign: n.currentCampaign, Check: campaign.Check, Clock: n.cfg.Clock,
			KeyDir: filepath.Join(n.cfg.DataDir, "idp-keys"), PairwiseKey: derive(secret, "devidp-pairwise"),
			Logger: n.log,
		})
		if err != nil {
			return fmt.Errorf("dev idp: %w", err)
		}
		for _, spec := range n.cfg.IdPEmulation {
			name, rest, _ := strings.Cut(spec, "=")
			base, _, err := n.DevIdP.Emulation(name)
			if err != nil {
				return fmt.Errorf("idp emulation %q: %w", spec, err)
			}
			e, err := devidp.ParseEmulation(base, rest)
			if err != nil {
				return fmt.Errorf("idp emulation %q: %w", spec, err)
			}
			if err := n.DevIdP.SetEmulation(name, e); err != nil {
				return fmt.Errorf("idp emulation %q: %w", spec, err)
			}
		}
		for _, st := range n.DevIdP.Status() {
			iss, _ := n.DevIdP.Issuer(st.Name)
			cfg.Providers = append(cfg.Providers, identity.ProviderConfig{
				Name: st.Name, Title: st.Title, Issuer: iss, ClientID: "vaxbook", ClientSecret: clientSecret,
				Capacity: st.Emulation.Capacity,
			})
		}
		cfg.HTTPClient = &http.Client{Transport: n.DevIdP.Transport(nil), Timeout: 30 * time.Second}
	default:
		return vaxbook.InvalidParam("providers", "no identity providers: give -providers FILE, or -demo for the built-in ones")
	}
	var err error
	if n.Identity, err = identity.New(cfg); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	// Providers the operators switched off stay off across restarts.
	return n.Identity.SyncSwitches(ctx)
}

// loadCampaign returns the store's campaign with the configured id (or the
// only one), shifting it in demo mode so that a rotation day is open now.
func (n *Node) loadCampaign(ctx context.Context) (vaxbook.Campaign, error) {
	want, err := campaign.Load(n.cfg.Campaign)
	if err != nil {
		return vaxbook.Campaign{}, fmt.Errorf("campaign %s: %w", n.cfg.Campaign, err)
	}
	c, err := n.Store.Campaign(ctx, want.ID)
	if err != nil {
		if vaxbook.ErrorCode(err) == vaxbook.CodeNotFound {
			return vaxbook.Campaign{}, fmt.Errorf("campaign %s is not in the store: run vaxbook seed (or serve -demo): %w", want.ID, err)
		}
		return vaxbook.Campaign{}, err
	}
	if !n.cfg.Demo {
		return c, nil
	}
	now := n.cfg.Clock.Now()
	if n.cfg.DemoOpensIn <= 0 {
		for _, w := range c.Windows {
			if w.Kind == vaxbook.WindowRotation && w.Contains(now) {
				return c, nil
			}
		}
	}
	delta := n.demoShift(c, now)
	shifted := campaign.Shift(c, delta)
	if err := n.Store.ShiftCampaign(ctx, shifted, delta); err != nil {
		return vaxbook.Campaign{}, fmt.Errorf("demo shift: %w", err)
	}
	if n.cfg.DemoOpensIn > 0 {
		n.log.Info("demo: campaign shifted so that its first rotation day opens in "+n.cfg.DemoOpensIn.String(),
			"campaign", c.ID, "shift", delta.String(), "opens", now.Add(n.cfg.DemoOpensIn).Truncate(time.Second))
	} else {
		n.log.Info("demo: campaign shifted so that a rotation day is open now", "campaign", c.ID, "shift", delta.String())
	}
	return shifted, nil
}

// demoShift is the shift of a demo campaign c at now: a rotation day open
// now, or with DemoOpensIn the first opening that long from now.
func (n *Node) demoShift(c vaxbook.Campaign, now time.Time) time.Duration {
	if n.cfg.DemoOpensIn > 0 {
		return campaign.OpeningShift(c, now.Add(n.cfg.DemoOpensIn).Truncate(time.Second))
	}
	return campaign.DemoShift(c, now)
}

// demoFile records the seed parameters of a demo store, so that the dev IdP
// regenerates the same people at every start.
const demoFile = "demo-seed.json"

func (n *Node) seedDemo(ctx context.Context) (seed.Config, error) {
	path := filepath.Join(n.cfg.DataDir, demoFile)
	flags := seed.DefaultConfig()
	flags.People, flags.Clinics, flags.Seed = n.cfg.DemoPeople, n.cfg.DemoClinics, n.cfg.DemoSeed
	counts, err := n.Store.Counts(ctx)
	if err != nil {
		return seed.Config{}, err
	}
	if counts.People > 0 {
		return n.seededAs(ctx, path, flags)
	}
	c, err := campaign.Load(n.cfg.Campaign)
	if err != nil {
		return seed.Config{}, err
	}
	// Seed against the campaign as it will be served, so that slots fall on
	// the shifted vaccination days.
	c = campaign.Shift(c, n.demoShift(c, n.cfg.Clock.Now()))
	gen, err := seed.NewGenerator(flags, c)
	if err != nil {
		return seed.Config{}, err
	}
	ds, err := gen.Dataset(n.Keys)
	if err != nil {
		return seed.Config{}, err
	}
	start := time.Now()
	n.log.Info("demo: seeding a synthetic country", "people", flags.People, "clinics", flags.Clinics)
	if err := n.Store.Load(ctx, ds); err != nil {
		// Another node of a cluster may have seeded the shared store first.
		if again, cerr := n.Store.Counts(ctx); cerr == nil && again.People > 0 {
			n.log.Info("demo: another node seeded the store first")
			return n.seededAs(ctx, path, flags)
		}
		return seed.Config{}, fmt.Errorf("demo seed: %w", err)
	}
	b, _ := json.MarshalIndent(flags, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return seed.Config{}, err
	}
	n.log.Info("demo: seeded", "people", flags.People, "took", time.Since(start).Round(time.Millisecond).String())
	return flags, nil
}

// seededAs returns the seed configuration of a store that already holds
// people: the one this data directory recorded when it seeded, or else the
// -demo-* flags (a cluster node, or a store filled by vaxbook seed). It warns
// when the built-in providers' people would not be found in the registry.
func (n *Node) seededAs(ctx context.Context, path string, flags seed.Config) (seed.Config, error) {
	sc := flags
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &sc); err != nil {
			return seed.Config{}, fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return seed.Config{}, err
	}
	c, err := campaign.Load(n.cfg.Campaign)
	if err != nil {
		return seed.Config{}, err
	}
	gen, err := seed.NewGenerator(sc, c)
	if err != nil {
		return seed.Config{}, err
	}
	for _, id := range []int64{1, int64(sc.People)} {
		p, err := n.Store.PersonByID(ctx, id)
		if err != nil || !bytes.Equal(p.CIHash, n.Keys.BlindIndex(gen.Citizen(id).CI)) {
			n.log.Warn("demo: the store's people do not match the built-in identity providers' (seeded with other -demo-people/-demo-seed or keys?): sign-ins will end in not_in_registry",
				"person", id, "people", sc.People, "seed", sc.Seed)
			break
		}
	}
	return sc, nil
}

func (n *Node) summary() {
	c := n.Campaign
	now := n.cfg.Clock.Now()
	loc, _ := campaign.Location(c)
	var open []string
	for _, w := range c.Windows {
		if w.Contains(now) {
			desc := w.ID
			if w.Who.Kind == vaxbook.PredicateBirthDayDigit {
				desc = fmt.Sprintf("birth days ending in %v", w.Who.Digits)
			}
			open = append(open, fmt.Sprintf("%s (until %s)", desc, w.Closes.In(loc).Format("2006-01-02 15:04 MST")))
		}
	}
	fmt.Fprintf(n.cfg.Stdout, "vaxbook %s listening on %s (public %s)\n", n.cfg.Node, n.Addr(), n.url)
	fmt.Fprintf(n.cfg.Stdout, "campaign %s; may book now: %s\n", c.ID, strings.Join(open, "; "))
	if n.DevIdP != nil {
		fmt.Fprintf(n.cfg.Stdout, "demo identity providers at %s/idp/{naver,kakao,pass,mobile,cert}\n", n.url)
	}
}

// loadSecret returns the node secret from config or the data dir.
func loadSecret(cfg Config) ([]byte, error) {
	if cfg.Secret != "" {
		b, err := hex.DecodeString(cfg.Secret)
		if err != nil || len(b) < 32 {
			return nil, vaxbook.InvalidParam("secret", "secret must be at least 32 bytes as hex (64+ hex digits)")
		}
		return b, nil
	}
	path := filepath.Join(cfg.DataDir, "secret")
	if b, err := os.ReadFile(path); err == nil {
		s, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(s) < 32 {
			return nil, fmt.Errorf("%s is not 32+ bytes of hex", path)
		}
		return s, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	s := make([]byte, 32)
	if _, err := rand.Read(s); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(s)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return s, nil
}

func loadKeys(cfg Config, log *slog.Logger) (*pii.Keys, error) {
	if cfg.PIIKeys == "" && cfg.BlindKey == "" {
		if !cfg.Demo {
			return nil, vaxbook.InvalidParam("pii-keys", "personal-data keys are required outside demo mode: give -pii-keys and -blind-key")
		}
		log.Warn("using the PUBLIC demo personal-data keys: never use them for real people")
		return pii.DemoKeys(), nil
	}
	return pii.ParseKeys(cfg.PIIKeys, cfg.BlindKey)
}

// derive makes a purpose-specific key from the node secret.
func derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("vaxbook/" + purpose))
	return m.Sum(nil)
}

// redactURL hides a password in a database URL for messages.
func redactURL(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		if at := strings.LastIndex(s, "@"); at > i {
			if colon := strings.Index(s[i+3:at], ":"); colon >= 0 {
				return s[:i+3+colon+1] + "***" + s[at:]
			}
		}
	}
	return s
}

// sessionCache is how long the node answers a session and its person from
// memory. Alone on its SQLite store the node makes every change to its
// sessions itself (logout, rotation, expiry drop the entry at once), so it
// keeps them a minute — as long as a touch of last_seen is put off — and
// a person's requests after a few seconds of thought are not each two
// store reads (in a 1,000,000-person rush on the 2-second cache those
// reads were 6 % of all CPU). On a shared PostgreSQL another node may end a
// session: 2 s, the time the README promises a logout takes to reach every
// node.
func sessionCache(db string) time.Duration {
	if strings.HasPrefix(db, "postgres") {
		return 2 * time.Second
	}
	return time.Minute
}
