package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestServeUsage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"negative stage time", []string{"-stage-time", "-1s"}, "-1s: must be positive (or measured)"},
		{"stage time neither", []string{"-stage-time", "0"}, "0s: must be positive (or measured)"},
		{"negative opening", []string{"-demo-opens-in", "-5m"}, "-demo-opens-in -5m0s: must not be negative"},
		{"opening without demo", []string{"-demo=false", "-demo-opens-in", "5m"}, "-demo-opens-in shifts the demo campaign: it needs -demo"},
		{"not a duration", []string{"-demo-opens-in", "soon"}, "invalid value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"serve", "-data-dir", t.TempDir(), "-addr", "127.0.0.1:0"}, tc.args...)
			if code := run(context.Background(), args, &out, &errOut); code != 2 {
				t.Fatalf("exit %d, want 2; stderr %s", code, errOut.String())
			}
			if !strings.Contains(errOut.String(), tc.wantErr) {
				t.Fatalf("stderr %q, want %q", errOut.String(), tc.wantErr)
			}
		})
	}
}
