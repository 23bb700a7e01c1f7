package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/internal/flagenv"
)

const campaignUsage = `usage: vaxbook campaign <subcommand> [flags]

  check     decide whether a person may book at an instant (prints one JSON object)
  validate  explain everything wrong with a campaign file (exit 0 and "ok" when valid)
  list      print the names of the built-in campaigns
  show      print a campaign (built-in name or file) as JSON

vaxbook campaign <subcommand> -help shows the flags of each.
`

// runCampaign is "vaxbook campaign": exit 0 on success (any eligibility
// answer included), 1 when validate finds problems, 2 for bad usage or input.
func runCampaign(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, campaignUsage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, campaignUsage)
		return 0
	case "check":
		return campaignCheck(args[1:], stdout, stderr, time.Now())
	case "validate":
		return campaignValidate(args[1:], stdout, stderr)
	case "list":
		return campaignList(args[1:], stdout, stderr)
	case "show":
		return campaignShow(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "vaxbook campaign: unknown subcommand %q\n\n%s", args[0], campaignUsage)
	return 2
}

// campaignFlags parses a subcommand's flags with their environment twins. It
// returns done=true with the exit code when the command must stop (help or a
// flag error).
func campaignFlags(fs *flag.FlagSet, usage string, args []string, stdout, stderr io.Writer) (code int, done bool) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := flagenv.Parse(fs, args, nil)
	printUsage := func(w io.Writer) {
		fmt.Fprint(w, usage)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout)
		return 0, true
	case err != nil:
		fmt.Fprintf(stderr, "vaxbook campaign %s: %v\n", fs.Name(), err)
		printUsage(stderr)
		return 2, true
	}
	return 0, false
}

// campaignCheckOutput is what "campaign check" prints.
type campaignCheckOutput struct {
	Eligible bool                  `json:"eligible"`
	Code     vaxbook.Code          `json:"code"`
	Window   *campaignWindowOutput `json:"window,omitempty"`
	Message  string                `json:"message"`
}

type campaignWindowOutput struct {
	Opens  string `json:"opens"`
	Closes string `json:"closes"`
}

func campaignCheck(args []string, stdout, stderr io.Writer, now time.Time) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	name := fs.String("campaign", campaign.Default, "the campaign: a built-in `NAME` or a campaign FILE")
	birth := fs.String("birthdate", "", "the person's birth date, `YYYY-MM-DD` (required)")
	nat := fs.String("nationality", string(vaxbook.National), "the person's nationality, `KR|FOREIGN`")
	at := fs.String("at", "", "the instant to decide for, `RFC3339` with any offset such as Z or +09:00 (default now)")
	usage := "usage: vaxbook campaign check [-campaign NAME|FILE] -birthdate YYYY-MM-DD [-nationality KR|FOREIGN] [-at RFC3339]\n\n" +
		"Prints one JSON object {eligible, code, window{opens, closes}, message}; code is one of\n" +
		"eligible, not_open_yet, other_day, closed, not_in_group. Exit 0 for any answer, 2 for bad input.\n\n"
	if code, done := campaignFlags(fs, usage, args, stdout, stderr); done {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vaxbook campaign check: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q (every input is a flag; see -help)", fs.Arg(0))
	}
	if *birth == "" {
		return fail("-birthdate is required (YYYY-MM-DD)")
	}
	b, err := vaxbook.ParseDate(*birth)
	if err != nil {
		return fail("-birthdate: %q is not a date that exists; want YYYY-MM-DD", *birth)
	}
	n := vaxbook.Nationality(strings.ToUpper(strings.TrimSpace(*nat)))
	if n != vaxbook.National && n != vaxbook.RegisteredAlien {
		return fail("-nationality: unknown nationality %q; want KR or FOREIGN", *nat)
	}
	instant := now
	if *at != "" {
		instant, err = time.Parse(time.RFC3339, *at)
		if err != nil {
			return fail("-at: %q is not an RFC 3339 time such as 2021-08-15T20:00:00+09:00", *at)
		}
	}
	c, err := campaignLoad(*name)
	if err != nil {
		return fail("%s", err)
	}
	loc, err := campaign.Location(c)
	if err != nil {
		return fail("%s", err)
	}
	d := campaign.Check(c, b, n, instant)
	out := campaignCheckOutput{Eligible: d.Eligible, Code: d.Code, Message: d.Message}
	if d.Window != nil {
		out.Window = &campaignWindowOutput{
			Opens:  d.Window.Opens.In(loc).Format(time.RFC3339),
			Closes: d.Window.Closes.In(loc).Format(time.RFC3339),
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(stderr, "vaxbook campaign check: %v\n", err)
		return 1
	}
	return 0
}

// campaignLoad loads a campaign and turns its errors into one line.
func campaignLoad(name string) (vaxbook.Campaign, error) {
	c, err := campaign.Load(name)
	if err == nil {
		return c, nil
	}
	var ve *vaxbook.Error
	if errors.As(err, &ve) {
		if ve.Code == vaxbook.CodeInvalid {
			return c, fmt.Errorf("%s (run: vaxbook campaign validate %s)", ve.Message, name)
		}
		return c, errors.New(ve.Message)
	}
	return c, err
}

func campaignValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	usage := "usage: vaxbook campaign validate FILE|NAME\n\n" +
		"Prints \"ok\" and exits 0 when the campaign is valid; otherwise prints every problem,\n" +
		"one per line as FILE: problem, and exits 1. Exit 2 when the file cannot be read.\n\n"
	if code, done := campaignFlags(fs, usage, args, stdout, stderr); done {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "vaxbook campaign validate: want exactly one campaign file\n%s", usage)
		return 2
	}
	file := fs.Arg(0)
	var err error
	if slices.Contains(campaign.Builtins(), file) {
		_, err = campaign.Load(file)
	} else {
		data, rerr := os.ReadFile(file)
		if rerr != nil {
			fmt.Fprintf(stderr, "vaxbook campaign validate: %v\n", rerr)
			return 2
		}
		_, err = campaign.Parse(data)
	}
	if err == nil {
		fmt.Fprintln(stdout, "ok")
		return 0
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(stdout, "%s: %s\n", file, line)
	}
	return 1
}

func campaignList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	usage := "usage: vaxbook campaign list\n\nPrints the names of the built-in campaigns, one per line.\n\n"
	if code, done := campaignFlags(fs, usage, args, stdout, stderr); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vaxbook campaign list: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	for _, n := range campaign.Builtins() {
		fmt.Fprintln(stdout, n)
	}
	return 0
}

func campaignShow(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("show", flag.ContinueOnError)
	usage := "usage: vaxbook campaign show NAME|FILE\n\nPrints the campaign (validated) as JSON.\n\n"
	if code, done := campaignFlags(fs, usage, args, stdout, stderr); done {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "vaxbook campaign show: want exactly one campaign name or file\n%s", usage)
		return 2
	}
	c, err := campaignLoad(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "vaxbook campaign show: %v\n", err)
		return 2
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		fmt.Fprintf(stderr, "vaxbook campaign show: %v\n", err)
		return 1
	}
	return 0
}
