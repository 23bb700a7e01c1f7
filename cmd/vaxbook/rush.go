package main

import (
	"context"
	"fmt"
	"io"
)

func runRush(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "vaxbook rush: not built yet")
	return 1
}
