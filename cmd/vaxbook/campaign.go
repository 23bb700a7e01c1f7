package main

import (
	"context"
	"fmt"
	"io"
)

func runCampaign(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "vaxbook campaign: not built yet")
	return 1
}
