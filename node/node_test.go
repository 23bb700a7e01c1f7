package node

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
)

func TestStartFailsCleanly(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"address in use", Config{Addr: l.Addr().String(), Demo: true}, "listen"},
		{"bad secret", Config{Addr: "127.0.0.1:0", Demo: true, Secret: "nothex"}, "secret"},
		{"no keys outside demo", Config{Addr: "127.0.0.1:0"}, "pii-keys"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.DataDir = t.TempDir()
			tc.cfg.Log = slog.New(slog.DiscardHandler)
			tc.cfg.Stdout = io.Discard
			n, err := Start(context.Background(), tc.cfg)
			if err == nil || n != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start = %v, %v; want an error mentioning %q", n, err, tc.want)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@h:5432/db": "postgres://u:***@h:5432/db",
		"postgres://u@h/db":             "postgres://u@h/db",
		"vaxbook-data/vaxbook.db":       "vaxbook-data/vaxbook.db",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
