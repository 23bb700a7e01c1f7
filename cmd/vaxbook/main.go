// Command vaxbook runs the national booking system and its tools.
//
//	vaxbook serve     run the whole system (embedded SQLite by default)
//	vaxbook seed      create a synthetic country, or import clinics/people
//	vaxbook campaign  check eligibility or validate a campaign file
//	vaxbook migrate   apply database migrations
//	vaxbook devidp    run the built-in OpenID providers on their own
//	vaxbook rush      simulate an opening-night rush and audit the result
//
// Every flag has an environment twin: -data-dir reads VAXBOOK_DATA_DIR.
// This package only wires: the work is done by the packages it imports.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand. run returns the process exit code: 0 success,
// 1 failure, 2 bad usage or input.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"serve":    {"run the whole system (web, API, waiting room, dev identity providers)", runServe},
		"seed":     {"create a synthetic country or import clinics and people", runSeed},
		"campaign": {"check a person's eligibility or validate a campaign file", runCampaign},
		"migrate":  {"apply the embedded database migrations", runMigrate},
		"devidp":   {"run the built-in OpenID Connect providers on their own", runDevIDP},
		"rush":     {"simulate an opening-night rush over HTTP and audit the database", runRush},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "vaxbook: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: vaxbook <command> [flags]   (vaxbook <command> -help for its flags)")
	fmt.Fprintln(w)
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nEvery flag has an environment twin: -data-dir reads VAXBOOK_DATA_DIR.")
}
