package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"vaxbook/internal/flagenv"
	"vaxbook/node"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vaxbook serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg node.Config
	fs.StringVar(&cfg.Addr, "addr", ":8080", "listen address")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "URL browsers use to reach this node or its load balancer (default http://localhost:<port>)")
	fs.StringVar(&cfg.DataDir, "data-dir", "vaxbook-data", "directory for the SQLite database, the node secret and demo state")
	fs.StringVar(&cfg.DB, "db", "", "SQLite file, or postgres:// URL for a cluster (default <data-dir>/vaxbook.db)")
	fs.StringVar(&cfg.Redis, "redis", "", "Redis address (host:port or redis:// URL) for the waiting room of a cluster; empty: in process")
	fs.StringVar(&cfg.Campaign, "campaign", "kr-2021-18-49", "campaign to serve (built-in name or JSON file)")
	fs.BoolVar(&cfg.Demo, "demo", true, "seed an empty store with a synthetic country, shift the campaign so a rotation day is open now, serve the built-in identity providers")
	fs.IntVar(&cfg.DemoPeople, "demo-people", 1_000_000, "people in the demo country")
	fs.IntVar(&cfg.DemoClinics, "demo-clinics", 14_000, "clinics in the demo country")
	fs.Uint64Var(&cfg.DemoSeed, "demo-seed", 1, "random seed of the demo country")
	fs.DurationVar(&cfg.DemoOpensIn, "demo-opens-in", 0, "shift the demo campaign so that its first rotation day opens this long after the start, nothing open before (a rehearsal of the opening; default: a day is open now)")
	fs.StringVar(&cfg.Secret, "secret", "", "node secret, 32+ bytes as hex, the same on every node of a cluster (default: <data-dir>/secret, created)")
	fs.StringVar(&cfg.PIIKeys, "pii-keys", "", "personal-data sealing keys \"id:base64,…\" (current first); empty: public demo keys (demo only)")
	fs.StringVar(&cfg.BlindKey, "blind-key", "", "blind-index key (base64, 32 bytes); empty: public demo key (demo only)")
	fs.StringVar(&cfg.Providers, "providers", "", "JSON file of identity providers (issuer, client id/secret, claims); default in demo: the built-in ones")
	idp := fs.String("idp-emulation", "", "built-in providers' behaviour, e.g. \"naver=capacity=300,median=200ms;kakao=outage\"")
	ops := fs.String("operators", "", "operator accounts \"name:bcrypt-hash;…\" (demo default: admin with a printed random password)")
	fs.StringVar(&cfg.Node, "node", "", "this node's name in a cluster (default host:port)")
	fs.BoolVar(&cfg.SecureCookies, "secure-cookies", false, "mark cookies Secure (behind a TLS-terminating proxy)")
	var stage stageTime
	fs.Var(&stage, "stage-time", "how long people need in the booking stage: admissions stop while more are in it than it finishes in this time at its measured pace (default 2m30s, a quarter of a pass's life); \"measured\": twice the time people take from collecting a pass to booking in the calmest 10 s of the last 5 min, plus the time places of people who left are held per admission (at least 20s), at most 5m")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: vaxbook serve [flags]\n\nRuns the whole system: web pages, API, waiting room, booking engine and (with -demo)\nthe built-in identity providers. With no flags: embedded SQLite and a demo country.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := flagenv.Parse(fs, args, nil); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vaxbook serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg.StageTime, cfg.MeasureStageTime = stage.d, stage.measured
	switch {
	case cfg.DemoOpensIn < 0:
		fmt.Fprintf(stderr, "vaxbook serve: -demo-opens-in %s: must not be negative (0: a day is open now)\n", cfg.DemoOpensIn)
		return 2
	case cfg.DemoOpensIn > 0 && !cfg.Demo:
		fmt.Fprintln(stderr, "vaxbook serve: -demo-opens-in shifts the demo campaign: it needs -demo")
		return 2
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "vaxbook serve: %v\n", err)
		return 2
	}
	cfg.IdPEmulation = splitList(*idp)
	cfg.Operators = splitList(*ops)
	cfg.Log = log
	cfg.Stdout = stdout
	n, err := node.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "vaxbook serve: %v\n", err)
		return 1
	}
	n.Wait()
	return 0
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}
