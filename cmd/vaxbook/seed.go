package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	_ "time/tzdata" // campaign time zones on machines without zoneinfo

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/internal/flagenv"
	"vaxbook/node"
	"vaxbook/pii"
	"vaxbook/seed"
)

const seedUsage = `usage: vaxbook seed [flags]

Writes a synthetic country into the store: the campaign, the 250 districts,
clinics (≥ 1 per district, by population, on land), hourly slots with fair
quotas (supply ≈ 1.1 × the campaign's group) and people (home district by
population, realistic birth dates, ~4 % registered foreigners, sealed names
and phones, blind-indexed identifiers). Everything is a pure function of
-seed, -people and -clinics: the built-in identity providers regenerate the
same people.

-import-clinics FILE and -import-people FILE use real data instead of
generated clinics or people (CSV with a header row; see docs/seed.md):
every row is checked first, every bad row is reported with its line, and
nothing is written unless all rows are good.

A store that already holds data is refused unless -force; then only what is
missing is added (a new campaign, imported rows), with ids after the
existing ones. Everything is written in one transaction: all or nothing.

Flags:
`

func runSeed(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	def := seed.DefaultConfig()
	db := fs.String("db", filepath.Join(".", "vaxbook-data", "vaxbook.db"), "SQLite file or directory, or a postgres:// URL")
	people := fs.Int("people", def.People, fmt.Sprintf("synthetic people (1…%d)", seed.MaxPeople))
	clinics := fs.Int("clinics", def.Clinics, fmt.Sprintf("synthetic clinics (%d…%d)", seed.MinClinics, seed.MaxClinics))
	seedN := fs.Uint64("seed", def.Seed, "random seed of the synthetic country")
	supply := fs.Float64("supply-factor", def.SupplyFactor, "dose-1 places ÷ people in the campaign's group")
	camp := fs.String("campaign", "kr-2021-18-49", "campaign: built-in name ("+strings.Join(campaign.Builtins(), ", ")+") or JSON file")
	force := fs.Bool("force", false, "write into a store that already holds data, adding only what is missing")
	importClinics := fs.String("import-clinics", "", "CSV of real clinics: name,sigungu_code,address,lat,lng,vaccine[,phone]")
	importPeople := fs.String("import-people", "", "CSV of real people: ci,birth_date,nationality,name,phone,sigungu_code")
	piiKeys := fs.String("pii-keys", "", "personal-data sealing keys \"id:base64,…\" (current first); empty: public demo keys")
	blindKey := fs.String("blind-key", "", "blind-index key (base64, 32 bytes); empty: public demo key")
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	printUsage := func(w io.Writer) {
		fmt.Fprint(w, seedUsage)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vaxbook seed: "+format+"\n", a...)
		return 2
	}
	err := flagenv.Parse(fs, args, nil)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "vaxbook seed: %v\n", err)
		printUsage(stderr)
		return 2
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "vaxbook seed: unexpected argument %q\n", fs.Arg(0))
		printUsage(stderr)
		return 2
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if given["people"] && *importPeople != "" {
		return usageErr("-people and -import-people exclude each other: imported people replace the synthetic ones")
	}
	if given["clinics"] && *importClinics != "" {
		return usageErr("-clinics and -import-clinics exclude each other: imported clinics replace the synthetic ones")
	}

	var keys *pii.Keys
	switch {
	case *piiKeys == "" && *blindKey == "":
		keys = pii.DemoKeys()
		fmt.Fprintln(stderr, "vaxbook seed: warning: no -pii-keys/-blind-key: sealing names and phones with the PUBLIC demo keys (demo data only)")
	case *piiKeys == "" || *blindKey == "":
		return usageErr("give both -pii-keys and -blind-key (or neither, for the public demo keys)")
	default:
		if keys, err = pii.ParseKeys(*piiKeys, *blindKey); err != nil {
			return usageErr("%v", err)
		}
	}

	c, err := campaign.Load(*camp)
	if err != nil {
		return usageErr("%v", err)
	}
	plan := seed.Plan{Campaign: c, Keys: keys, Force: *force, Config: def}
	plan.Config.People, plan.Config.Clinics, plan.Config.Seed, plan.Config.SupplyFactor = *people, *clinics, *seedN, *supply
	if err := plan.Config.Validate(); err != nil {
		return usageErr("%s", vaxbook.ErrorMessage(err))
	}

	// Check imports completely before touching the store.
	if *importClinics != "" {
		f, err := os.Open(*importClinics)
		if err != nil {
			return usageErr("%v", err)
		}
		plan.Clinics, err = seed.ReadClinics(f, *importClinics, 1)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "vaxbook seed: %v\n", err)
			return 2
		}
	}
	if *importPeople != "" {
		name := *importPeople
		f, err := os.Open(name)
		if err != nil {
			return usageErr("%v", err)
		}
		chk, err := seed.CheckPeople(f, name, c)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "vaxbook seed: %v\n", err)
			return 2
		}
		plan.People = &seed.PeopleImport{Name: name, Check: chk, Open: func() (io.ReadCloser, error) { return os.Open(name) }}
	}

	start := time.Now()
	store, err := node.OpenStore(ctx, *db)
	if err != nil {
		fmt.Fprintf(stderr, "vaxbook seed: %v\n", err)
		return 1
	}
	defer store.Close()
	rep, err := seed.Run(ctx, store, plan)
	if err != nil {
		fmt.Fprintf(stderr, "vaxbook seed: %v\n", err)
		return 1
	}
	took := time.Since(start).Round(10 * time.Millisecond)
	if rep == (seed.Report{Eligible: rep.Eligible}) {
		fmt.Fprintf(stdout, "nothing to add to %s: it already holds campaign %s, regions, clinics and people (%v)\n", *db, c.ID, took)
		return 0
	}
	fmt.Fprintf(stdout, "seeded %s in %v: %d campaign, %d regions, %d clinics, %d slots, %d quota rows, %d people (supply for %d in the group of %s)\n",
		*db, took, rep.Campaigns, rep.Regions, rep.Clinics, rep.Slots, rep.Quotas, rep.People, rep.Eligible, c.ID)
	return 0
}
