package main

import (
	"context"
	"fmt"
	"io"
)

func runSeed(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "vaxbook seed: not built yet")
	return 1
}
