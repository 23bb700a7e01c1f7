package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"vaxbook/internal/flagenv"
	"vaxbook/node"
)

const migrateUsage = `usage: vaxbook migrate [-db PATH|URL]

Applies the database migrations embedded in this binary (numbered SQL files)
and prints the schema version. Safe to run any number of times: applied
migrations are skipped. A directory gets "vaxbook.db" inside it; a
postgres:// URL migrates PostgreSQL.

Flags:
`

// schemaVersioner is implemented by stores that track migrations.
type schemaVersioner interface {
	SchemaVersion(ctx context.Context) (int, error)
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	db := fs.String("db", "./vaxbook-data", "SQLite file or directory, or a postgres:// URL")
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	printUsage := func(w io.Writer) {
		fmt.Fprint(w, migrateUsage)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	err := flagenv.Parse(fs, args, nil)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "vaxbook migrate: %v\n", err)
		printUsage(stderr)
		return 2
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "vaxbook migrate: unexpected argument %q\n", fs.Arg(0))
		printUsage(stderr)
		return 2
	}
	store, err := node.OpenStore(ctx, *db)
	if err != nil {
		fmt.Fprintf(stderr, "vaxbook migrate: %v\n", err)
		return 1
	}
	defer store.Close()
	v, ok := store.(schemaVersioner)
	if !ok {
		fmt.Fprintln(stdout, "migrations applied")
		return 0
	}
	version, err := v.SchemaVersion(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "vaxbook migrate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "schema version %d\n", version)
	return 0
}
