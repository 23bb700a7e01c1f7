package main

import (
	"context"
	"fmt"
	"io"
)

func runDevIDP(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "vaxbook devidp: not built yet")
	return 1
}
