package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"vaxbook/internal/syncbuf"
)

func TestRushUsage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"no target", []string{"-people", "10"}, nil, "give exactly one target"},
		{"two targets", []string{"-embedded", "-cluster", "3"}, nil, "give exactly one target"},
		{"bad profile", []string{"-embedded", "-profile", "sometimes"}, nil, "profile must be"},
		{"bad share", []string{"-embedded", "-wrong-day", "2"}, nil, "wrong-day must be a share"},
		{"target without db", []string{"-target", "http://127.0.0.1:1"}, nil, "-target needs -db"},
		{"target without seed", []string{"-target", "http://127.0.0.1:1", "-db", "x.db"}, nil, "-target needs the country's seed"},
		{"bad rate mode", []string{"-embedded", "-rate-mode", "paused"}, nil, "-rate-mode must be auto or fixed"},
		{"bad progress", []string{"-embedded", "-progress", "sometimes"}, nil, "-progress must be"},
		{"negative stage time", []string{"-embedded", "-stage-time", "-30s"}, nil, "-30s: must be positive (or measured)"},
		{"stage time neither", []string{"-embedded", "-stage-time", "auto"}, nil, "want a duration such as 2m30s, or measured"},
		{"env twin", []string{"-embedded"}, map[string]string{"VAXBOOK_PEOPLE": "0"}, "people must be at least 1"},
		{"stray argument", []string{"-embedded", "extra"}, nil, `unexpected argument "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			args := append([]string{"rush", "-out", ""}, tc.args...)
			if code := run(context.Background(), args, &out, &errOut); code != 2 {
				t.Fatalf("exit %d, want 2; stderr %s", code, errOut.String())
			}
			if !strings.Contains(errOut.String(), tc.wantErr) {
				t.Fatalf("stderr %q, want %q", errOut.String(), tc.wantErr)
			}
		})
	}
}

// TestRushEmbeddedSmall runs the whole command on a small country: flags
// reach the simulator, the audit passes, the report and plots are written.
func TestRushEmbeddedSmall(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"rush", "-embedded", "-people", "300", "-clinics", "300", "-think", "0",
		"-lead", "3s", "-later", "1s", "-patience", "2s", "-rate", "300", "-timeout", "5m", "-progress", "off", "-out", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "OK: no violation") {
		t.Fatalf("summary:\n%s", stdout.String())
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		People int  `json:"people"`
		OK     bool `json:"ok"`
		Audit  struct {
			Acknowledged int `json:"acknowledged"`
		} `json:"audit"`
	}
	if err := json.Unmarshal(b, &r); err != nil || !r.OK || r.People != 300 || r.Audit.Acknowledged == 0 {
		t.Fatalf("report: %v %+v", err, r)
	}
	for _, f := range []string{"waiting.png", "rates.png", "latency.png", "lights.png", "journey_cdf.png", "rush.log"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestRushInterrupt sends the process an interrupt while the simulation
// runs: the rush ends early, and the report and the audit of what ran
// still come (exit 0: nothing was violated).
func TestRushInterrupt(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report")
	var stdout, stderr syncbuf.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run(context.Background(), []string{"rush", "-embedded", "-people", "200", "-clinics", "300",
			"-lead", "10m", "-timeout", "20m", "-progress", "off", "-out", out}, &stdout, &stderr)
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(stderr.String(), "ready after") {
		select {
		case c := <-code:
			t.Fatalf("exit %d before the simulation ran; stderr:\n%s", c, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the simulation did not start; stderr:\n%s", stderr.String())
		}
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", c, stdout.String(), stderr.String())
		}
	case <-time.After(5 * time.Minute):
		t.Fatal("the interrupted rush did not end")
	}
	if s := stdout.String(); !strings.Contains(s, "INTERRUPTED") || !strings.Contains(s, "OK: no violation") {
		t.Fatalf("summary:\n%s", s)
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Interrupted bool      `json:"interrupted"`
		TimedOut    bool      `json:"timed_out"`
		Audit       *struct{} `json:"audit"`
	}
	if err := json.Unmarshal(b, &r); err != nil || !r.Interrupted || r.TimedOut || r.Audit == nil {
		t.Fatalf("report: %v %+v", err, r)
	}
}
