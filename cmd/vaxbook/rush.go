package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"vaxbook"
	"vaxbook/booking"
	"vaxbook/campaign"
	"vaxbook/internal/flagenv"
	"vaxbook/rush"
	"vaxbook/seed"
)

const rushUsage = `usage: vaxbook rush [flags]

Simulates an opening-night rush: N citizens, each a state machine with its
own cookie jar, go through the real HTTP flow — landing (traffic lights),
sign-in with login_hint at the chosen provider, waiting room (polling as
the server paces it), clinic search near home, slot pick, booking,
confirmation, and for some a change or cancellation later — with
misbehaving shares (second devices, wrong day, early arrivals, a forged
clock, booking without a pass, replayed passes, abandonment, retries).
Afterwards it audits the target's database and exits 1 on any violation.

Targets (one of):
  -embedded           a node in this process on SQLite (its own data dir, demo country)
  -cluster K          K nodes in this process on one PostgreSQL and one Redis,
                      started from the installed binaries in a temporary directory
  -target URL[,URL]   a running deployment (its nodes); give -db for the audit and
                      the country's seed (-seed-config, or -demo-people/-demo-seed)

With -embedded and -cluster the rush moves the nodes' clock so that a rotation
day opens -lead after the start; against -target it waits up to -max-wait for
a day to open, or joins the day that is open.

Output: a summary, and in -out: report.json and PNG plots.

Flags:
`

func runRush(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vaxbook rush", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg rush.Config
	m := rush.DefaultMix
	fs.IntVar(&cfg.People, "people", 10_000, "citizens to simulate")
	fs.StringVar(&cfg.Profile, "profile", rush.ProfileAllAtOnce, "arrivals: all-at-once, aug2021 (40% in the first 30 min, long tail) or steady")
	fs.DurationVar(&cfg.Duration, "duration", 0, "steady: arrival span (default 10m); aug2021: the booking day before -compress (default 22h)")
	fs.Float64Var(&cfg.Compress, "compress", 1, "aug2021: divide arrival times by this (60: the day in 22 minutes)")
	fs.DurationVar(&cfg.Lead, "lead", 20*time.Second, "how long before the opening the rush starts; early arrivals come within it")
	fs.Float64Var(&cfg.Think, "think", 1, "scale of human think times between steps (0: none)")
	fs.BoolVar(&cfg.Affinity, "affinity", false, "several nodes: send every request of a device to one node (default: each to the next in turn)")
	fs.DurationVar(&cfg.Patience, "patience", 3*time.Minute, "mean wait before an abandoning person leaves the queue")
	fs.DurationVar(&cfg.Later, "later", 2*time.Minute, "mean delay before a person comes back to change or cancel")
	fs.IntVar(&cfg.Workers, "workers", 512, "requests in flight at most (the simulator's connection pool)")
	fs.DurationVar(&cfg.Timeout, "timeout", time.Hour, "bound on the simulation")
	fs.DurationVar(&cfg.RequestTimeout, "request-timeout", 30*time.Second, "bound on one request")
	fs.DurationVar(&cfg.MaxWait, "max-wait", 35*time.Minute, "-target: how long to wait for a rotation day to open")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the people's choices")
	fs.IntVar(&cfg.Skip, "skip", 0, "pass over the day's first N people (to rush again on a target whose first people have booked)")
	fs.Float64Var(&m.SecondDevice, "second-device", m.SecondDevice, "share who start again on a second device")
	fs.Float64Var(&m.WrongDay, "wrong-day", m.WrongDay, "share of people whose day it is not")
	fs.Float64Var(&m.Early, "early", m.Early, "share arriving before the opening (pre-queue)")
	fs.Float64Var(&m.ClockForward, "clock-forward", m.ClockForward, "share whose clock runs ahead (forged time, booking before the opening)")
	fs.Float64Var(&m.NoPass, "no-pass", m.NoPass, "share calling the booking API without a pass")
	fs.Float64Var(&m.ReplayPass, "replay-pass", m.ReplayPass, "share reusing a spent pass")
	fs.Float64Var(&m.AbandonQueue, "abandon-queue", m.AbandonQueue, "share leaving the queue")
	fs.Float64Var(&m.AbandonAdmitted, "abandon-admitted", m.AbandonAdmitted, "share leaving after admission")
	fs.Float64Var(&m.Retry, "retry", m.Retry, "share retrying at once and submitting twice")
	fs.Float64Var(&m.Change, "change", m.Change, "share changing their booking later")
	fs.Float64Var(&m.Cancel, "cancel", m.Cancel, "share cancelling later")
	embedded := fs.Bool("embedded", false, "run a node in this process (SQLite)")
	cluster := fs.Int("cluster", 0, "run K nodes in this process on PostgreSQL and Redis")
	target := fs.String("target", "", "base URL(s) of a running deployment, comma-separated")
	db := fs.String("db", "", "-target: the deployment's store (SQLite file or postgres:// URL) for the audit")
	seedFile := fs.String("seed-config", "", "-target: the country's seed configuration (the data dir's demo-seed.json)")
	demoPeople := fs.Int("demo-people", 0, "-target: people in its country (instead of -seed-config)")
	demoSeed := fs.Uint64("demo-seed", 1, "-target: seed of its country (with -demo-people)")
	country := fs.Int("country", 0, "-embedded/-cluster: people in the demo country (default: enough for -people on one rotation day)")
	clinics := fs.Int("clinics", seed.DefaultClinics, "-embedded/-cluster: clinics in the demo country")
	dataDir := fs.String("data-dir", "", "-embedded/-cluster: working directory (default: a temporary one, removed)")
	rateMode := fs.String("rate-mode", "auto", "-embedded/-cluster: admission mode, auto or fixed")
	rate := fs.Float64("rate", 100, "-embedded/-cluster: starting (auto) or fixed admission rate, people/s")
	rateMax := fs.Float64("rate-max", 5000, "-embedded/-cluster: highest admission rate the controller may set")
	maxActive := fs.Int64("max-active", 50_000, "-embedded/-cluster: people admitted and not finished at most")
	idp := fs.String("idp-emulation", "", "-embedded/-cluster: dev providers' behaviour, e.g. \"naver=capacity=300,median=200ms\"")
	committers := fs.Int("committers", 0, "-embedded/-cluster: booking batches in flight (0: the node's default)")
	var stage stageTime
	fs.Var(&stage, "stage-time", "-embedded/-cluster: the nodes' -stage-time, a duration or \"measured\" (default: the nodes' default)")
	out := fs.String("out", "rush-out", "directory for report.json and the plots (\"\": none)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (server and simulator when in process)")
	fs.StringVar(&cfg.HeapProfile, "memprofile", "", "write a heap profile at the peak of the live heap, and FILE.end when the simulation ends (they tell server from simulator in process)")
	progress := fs.String("progress", "auto", "progress bar on stderr: auto (on a terminal), on, off")
	logLevel := fs.String("log-level", "warn", "nodes' and simulator's log level (logs go to <out>/rush.log)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), rushUsage)
		fs.PrintDefaults()
	}
	if err := flagenv.Parse(fs, args, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "vaxbook rush: %v\n", err)
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vaxbook rush: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	cfg.Mix = m
	n := 0
	for _, b := range []bool{*embedded, *cluster > 0, *target != ""} {
		if b {
			n++
		}
	}
	if n != 1 {
		return usageErr("give exactly one target: -embedded, -cluster K or -target URL")
	}
	if *cluster < 0 {
		return usageErr("-cluster must be at least 1")
	}
	if err := cfg.Validate(); err != nil {
		return usageErr("%s", vaxbook.ErrorMessage(err))
	}
	mode := vaxbook.WaitRoomMode(*rateMode)
	if mode != vaxbook.ModeAuto && mode != vaxbook.ModeFixed {
		return usageErr("-rate-mode must be auto or fixed, not %q", *rateMode)
	}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			fmt.Fprintf(stderr, "vaxbook rush: %v\n", err)
			return 1
		}
	}
	logW := io.Discard
	if *out != "" {
		f, err := os.Create(filepath.Join(*out, "rush.log"))
		if err != nil {
			fmt.Fprintf(stderr, "vaxbook rush: %v\n", err)
			return 1
		}
		defer f.Close()
		logW = f
	}
	log, err := newLogger(logW, "text", *logLevel)
	if err != nil {
		return usageErr("%v", err)
	}
	cfg.Log = log
	cfg.Out = *out
	switch *progress {
	case "on":
		cfg.Progress = stderr
	case "auto":
		if f, ok := stderr.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				cfg.Progress = stderr
			}
		}
	case "off":
	default:
		return usageErr("-progress must be auto, on or off")
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "vaxbook rush: %v\n", err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "vaxbook rush: %v\n", err)
			return 1
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}

	life, running, release := interruptible(ctx, &cfg, stderr)
	defer release()
	start := time.Now()
	var t *rush.Target
	switch {
	case *target != "":
		if *db == "" {
			return usageErr("-target needs -db (the deployment's store) for the audit")
		}
		sc := seed.DefaultConfig()
		switch {
		case *seedFile != "":
			b, err := os.ReadFile(*seedFile)
			if err == nil {
				err = json.Unmarshal(b, &sc)
			}
			if err != nil {
				return usageErr("-seed-config: %v", err)
			}
		case *demoPeople > 0:
			sc.People, sc.Seed = *demoPeople, *demoSeed
		default:
			return usageErr("-target needs the country's seed: -seed-config FILE or -demo-people N")
		}
		var urls []string
		for _, u := range strings.Split(*target, ",") {
			if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
				urls = append(urls, u)
			}
		}
		t = rush.Remote(urls, *db, sc)
	default:
		camp, err := campaign.Load(campaign.Default)
		if err != nil {
			fmt.Fprintf(stderr, "vaxbook rush: %v\n", err)
			return 1
		}
		sc := seed.DefaultConfig()
		sc.Clinics = *clinics
		size := *country
		if size == 0 {
			cohort := cfg.People - int(float64(cfg.People)*cfg.Mix.WrongDay)
			if size, err = rush.CountryFor(sc, camp, cohort); err != nil {
				fmt.Fprintf(stderr, "vaxbook rush: %v\n", err)
				return 1
			}
		}
		serve := rush.ServeConfig{
			Dir: *dataDir, Country: size, Clinics: *clinics, Log: log,
			WaitRoom:     vaxbook.WaitRoomSettings{Mode: mode, RatePerS: *rate, MaxRate: *rateMax, MaxActive: *maxActive},
			IdPEmulation: splitList(*idp), Engine: booking.Config{Committers: *committers}, StageTime: stage.d, MeasureStage: stage.measured,
		}
		fmt.Fprintf(stderr, "vaxbook rush: starting %s with a country of %d people (seeding takes a while)…\n",
			map[bool]string{true: "the embedded node", false: fmt.Sprintf("a cluster of %d nodes", *cluster)}[*embedded], size)
		if *embedded {
			t, err = rush.StartEmbedded(life, serve)
		} else {
			t, err = rush.StartCluster(life, *cluster, serve)
		}
		if err != nil {
			fmt.Fprintf(stderr, "vaxbook rush: %v\n", err)
			return 1
		}
	}
	defer t.Close()
	running.Store(true)
	if *target == "" {
		fmt.Fprintf(stderr, "vaxbook rush: ready after %s\n", time.Since(start).Round(time.Second))
	}
	r, err := rush.Run(life, t, cfg)
	if r != nil {
		r.Summary(stdout)
		if *out != "" {
			fmt.Fprintf(stdout, "  report: %s\n", filepath.Join(*out, "report.json"))
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "vaxbook rush: %v\n", err)
		return 1
	}
	if !r.OK {
		return 1
	}
	return 0
}

// interruptible splits the run's lifetime from the command's context,
// which the first Ctrl-C (or SIGTERM) cancels. While the target starts,
// that cancels life too. Once running is set, the first signal only closes
// cfg.Stop: the simulation ends early and the report and the audit of what
// ran still come; a second signal ends life (the target and the audit).
// release ends the watch when the command returns.
func interruptible(ctx context.Context, cfg *rush.Config, stderr io.Writer) (life context.Context, running *atomic.Bool, release func()) {
	running = new(atomic.Bool)
	life, abandon := context.WithCancel(context.WithoutCancel(ctx))
	stop, over := make(chan struct{}), make(chan struct{})
	cfg.Stop = stop
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer signal.Stop(sig)
		stopped := false
		cancelled := ctx.Done()
		for {
			select {
			case <-over:
				return
			case <-cancelled:
				if !running.Load() {
					abandon()
					return
				}
				cancelled = nil // from now on only signals count
			case <-sig:
				if !running.Load() || stopped {
					abandon()
					return
				}
				stopped = true
				close(stop)
				fmt.Fprintln(stderr, "vaxbook rush: interrupted: ending the simulation, then the report and the audit (interrupt again to abandon them)")
			}
		}
	}()
	return life, running, func() { close(over); <-done; abandon() }
}
