package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/devidp"
	"vaxbook/internal/flagenv"
	"vaxbook/seed"
)

const devidpUsage = `usage: vaxbook devidp [flags]

Runs the built-in OpenID Connect providers (naver, kakao, pass, mobile, cert)
on their own, serving the synthetic people of "vaxbook seed". The people flags
(-campaign, -people, -seed, -foreign-share, -out-of-group-share) must match
those the store was seeded with, or every login ends in not_in_registry.

Issuers are <base-url>/idp/<name>. With -ops the emulation API answers at
/ops/idp/ (GET, PUT/PATCH /ops/idp/<name>) without authentication: keep the
listener private.

-emulate sets a provider's behaviour at start, e.g.
  -emulate 'kakao:capacity=300,median=200ms,p99=2s,errors=0.02,max-queue=5s'
  -emulate 'pass:outage'
(repeat the flag, or separate entries with ';' in VAXBOOK_EMULATE).

`

// emulateFlag collects -emulate name:spec entries.
type emulateFlag map[string]string

func (e emulateFlag) String() string { return "" }

func (e emulateFlag) Set(v string) error {
	for _, entry := range strings.Split(v, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, spec, ok := strings.Cut(entry, ":")
		if !ok || name == "" {
			return fmt.Errorf("want name:settings, got %q", entry)
		}
		if _, err := devidp.ParseEmulation(devidp.Emulation{}, spec); err != nil {
			return fmt.Errorf("%s: %s", name, vaxbook.ErrorMessage(err))
		}
		e[name] = spec
	}
	return nil
}

// runDevIDP is "vaxbook devidp": 0 after a clean shutdown, 1 on a runtime
// failure, 2 for bad usage or input.
func runDevIDP(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("devidp", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	def := seed.DefaultConfig()
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	baseURL := fs.String("base-url", "", "public scheme://host[:port] of this server (default http://<addr>)")
	campaignName := fs.String("campaign", campaign.Default, "campaign the country was seeded for (built-in name or file)")
	people := fs.Int("people", def.People, "people in the seeded country")
	seedValue := fs.Uint64("seed", def.Seed, "seed of the seeded country")
	foreign := fs.Float64("foreign-share", def.ForeignShare, "share of registered foreigners the country was seeded with")
	outOfGroup := fs.Float64("out-of-group-share", def.OutOfGroupShare, "share of people outside the age group the country was seeded with")
	clientID := fs.String("client-id", "vaxbook", "relying party's client id")
	clientSecret := fs.String("client-secret", "dev-secret", "relying party's client secret")
	redirects := fs.String("redirect-uris", "http://127.0.0.1:*/auth/*/callback,http://localhost:*/auth/*/callback",
		"comma-separated redirect URIs (globs allowed) of the relying party")
	keyDir := fs.String("key-dir", "", "directory of <provider>.pem ES256 keys, created if missing (default: new keys at every start)")
	ops := fs.Bool("ops", true, "serve the emulation API at /ops/idp/")
	demo := fs.Bool("demo", false, "shift the campaign as serve's demo mode does, so that the login page groups people as serve will")
	emulate := emulateFlag{}
	fs.Var(emulate, "emulate", "provider:settings (repeatable), see above")
	err := flagenv.Parse(fs, args, nil)
	printUsage := func(w io.Writer) {
		fmt.Fprint(w, devidpUsage)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "vaxbook devidp: %v\n", err)
		printUsage(stderr)
		return 2
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "vaxbook devidp: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vaxbook devidp: "+format+"\n", a...)
		return 2
	}

	c, err := campaign.Load(*campaignName)
	if err != nil {
		return bad("campaign: %v", err)
	}
	gen, err := seed.NewGenerator(seedConfig(def, *people, *seedValue, *foreign, *outOfGroup), c)
	if err != nil {
		return bad("%s", vaxbook.ErrorMessage(err))
	}
	if *demo {
		// People are generated for the campaign as seeded; only the
		// classification on the login page uses the shifted one.
		c = campaign.Shift(c, campaign.DemoShift(c, time.Now()))
	}
	providers := devidp.DefaultProviders()
	known := map[string]bool{}
	for i := range providers {
		known[providers[i].Name] = true
		if spec, ok := emulate[providers[i].Name]; ok {
			providers[i].Emulation, _ = devidp.ParseEmulation(devidp.Emulation{}, spec)
		}
	}
	for name := range emulate {
		if !known[name] {
			return bad("-emulate: no provider %q", name)
		}
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "vaxbook devidp: %v\n", err)
		return 1
	}
	defer ln.Close()
	base := strings.TrimSuffix(*baseURL, "/")
	if base == "" {
		base = "http://" + ln.Addr().String()
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	idp, err := devidp.New(devidp.Config{
		BaseURL:   base,
		Providers: providers,
		Clients:   []devidp.Client{{ID: *clientID, Secret: *clientSecret, RedirectURIs: devidpList(*redirects)}},
		People:    seedPeople(gen),
		Campaign:  func(context.Context) (vaxbook.Campaign, error) { return c, nil },
		Check:     campaign.Check,
		KeyDir:    *keyDir,
		Seed:      *seedValue,
		Logger:    log,
	})
	if err != nil {
		return bad("%v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(devidp.DefaultPrefix+"/", idp)
	if *ops {
		mux.Handle("/ops/idp/", http.StripPrefix("/ops/idp", idp.OpsHandler()))
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}

	fmt.Fprintf(stdout, "vaxbook devidp: listening on %s (%d people, seed %d, campaign %s)\n", base, gen.Config().People, gen.Config().Seed, c.ID)
	for _, n := range idp.Providers() {
		iss, _ := idp.Issuer(n)
		e, _, _ := idp.Emulation(n)
		fmt.Fprintf(stdout, "  %-7s %s  %s\n", n, iss, e.String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		fmt.Fprintf(stderr, "vaxbook devidp: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		fmt.Fprintf(stderr, "vaxbook devidp: shutdown: %v\n", err)
		return 1
	}
	return 0
}

// seedPeople serves the seed generator's citizens, regenerated from the id.
func seedPeople(g *seed.Generator) devidp.People {
	return devidp.FromFunc(int64(g.Config().People), func(id int64) devidp.Person {
		c := g.Citizen(id)
		return devidp.Person{ID: c.ID, CI: c.CI, Name: c.Name, Phone: c.Phone, BirthDate: c.BirthDate, Nationality: c.Nationality}
	})
}

func seedConfig(def seed.Config, people int, seedValue uint64, foreign, outOfGroup float64) seed.Config {
	def.People, def.Seed, def.ForeignShare, def.OutOfGroupShare = people, seedValue, foreign, outOfGroup
	return def
}

func devidpList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
