package web

import (
	"bufio"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"vaxbook/internal/clock"
	"vaxbook/ops"
)

// documentedRoutes reads docs/openapi.yaml's paths as "METHOD /path" with
// ServeMux-style {params}. It relies on the file's two-space layout.
func documentedRoutes(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pathRe := regexp.MustCompile(`^  (/[^:]*):\s*$`)
	methodRe := regexp.MustCompile(`^    (get|post|put|patch|delete):`)
	out := map[string]bool{}
	inPaths, cur := false, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "paths:":
			inPaths = true
		case inPaths && len(line) > 0 && line[0] != ' ':
			inPaths = false
		case inPaths && pathRe.MatchString(line):
			cur = pathRe.FindStringSubmatch(line)[1]
		case inPaths && cur != "" && methodRe.MatchString(line):
			out[strings.ToUpper(methodRe.FindStringSubmatch(line)[1])+" "+cur] = true
		}
	}
	if len(out) == 0 {
		t.Fatal("no routes found in docs/openapi.yaml")
	}
	return out
}

// TestOpenAPICoversRoutes checks that every API route the server registers
// is documented in docs/openapi.yaml, and that every documented route exists.
func TestOpenAPICoversRoutes(t *testing.T) {
	s := New(Config{Log: slog.New(slog.DiscardHandler), Clock: clock.System{}, Metrics: ops.NewMetrics()})
	doc := documentedRoutes(t)
	served := map[string]bool{}
	for _, p := range s.Routes() {
		method, path, ok := strings.Cut(p, " ")
		if !ok || !(strings.HasPrefix(path, "/api/") || path == "/healthz" || path == "/readyz") {
			continue
		}
		served[method+" "+path] = true
	}
	var missing, stale []string
	for r := range served {
		if !doc[r] {
			missing = append(missing, r)
		}
	}
	for r := range doc {
		if !served[r] {
			stale = append(stale, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("routes served but not in docs/openapi.yaml: %v", missing)
	}
	if len(stale) > 0 {
		t.Errorf("routes in docs/openapi.yaml that the server does not serve: %v", stale)
	}
}
