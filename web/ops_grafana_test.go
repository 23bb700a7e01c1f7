package web_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"vaxbook"
	"vaxbook/ops"
	"vaxbook/web/webtest"
)

// scrapeMetrics returns the metric names a node exposes on /metrics and the text.
func scrapeMetrics(t *testing.T, base string) (map[string]bool, string) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	names := map[string]bool{}
	var text strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		text.WriteString(line + "\n")
		if strings.HasPrefix(line, "# TYPE ") {
			names[strings.Fields(line)[2]] = true
		}
	}
	return names, text.String()
}

// TestMetrics checks /metrics after a little traffic: the collectors of
// the waiting room, the engine, identity and the edge observer are there
// with the values the traffic made.
func TestOpsMetrics(t *testing.T) {
	n, clk := opsNode(t, nil)
	id := people(t, n, clk.Now(), vaxbook.CodeEligible, 1)[0]
	c := admitted(t, n, clk, id)
	if end, _ := webtest.NewCitizen(n.URL()).Login("kakao", id); end.Query().Get("code") != "device_locked" {
		t.Fatalf("second device: %v", end)
	}
	if _, err := c.FindSlots("", 1, nil); err != nil {
		t.Fatal(err)
	}
	_, text := scrapeMetrics(t, n.URL())
	for _, want := range []string{
		`vaxbook_identity_logins_total{outcome="success",provider="naver"} 1`,
		`vaxbook_identity_logins_total{outcome="device_locked",provider="kakao"} 1`,
		`vaxbook_refusals_total{code="device_locked"} 1`,
		`vaxbook_waitroom_arrivals_total 1`,
		`vaxbook_waitroom_admitted_total 1`,
		`vaxbook_waitroom_mode{mode="auto"} 1`,
		`vaxbook_waitroom_leader 1`,
		`vaxbook_stage_duration_seconds_count{stage="signin"} 2`,
		`vaxbook_stage_duration_seconds_count{stage="queue"}`,
		`vaxbook_stage_duration_seconds_count{stage="search"}`,
		`vaxbook_identity_light{light="green",provider="naver"} 1`,
		`vaxbook_devidp_logins_total{provider="naver"} 1`,
		`vaxbook_booking_catalog{kind="clinics"} 300`,
		`vaxbook_booking_remaining_places `,
		`vaxbook_http_requests_total{code="200",route="GET /api/v1/me"}`,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

var metricName = regexp.MustCompile(`\b((?:vaxbook|go|process)_[a-z0-9_]+)`)

// TestGrafanaDashboard checks deploy/grafana/vaxbook.json: valid JSON, every
// panel queries something, and every metric it names is one a node
// exposes (the database pool's from the collector PostgreSQL nodes add).
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("../deploy/grafana/vaxbook.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	n, clk := opsNode(t, nil)
	id := people(t, n, clk.Now(), vaxbook.CodeEligible, 1)[0]
	webtest.NewCitizen(n.URL()).Login("naver", id)
	webtest.NewCitizen(n.URL()).Login("naver", id) // a refusal, so that the refusal counters exist
	known, _ := scrapeMetrics(t, n.URL())
	descs := make(chan *prometheus.Desc, 64)
	ops.NewPoolCollector(func() ops.PoolStats { return ops.PoolStats{} }).Describe(descs)
	close(descs)
	descName := regexp.MustCompile(`fqName: "([a-z0-9_]+)"`)
	for d := range descs {
		known[descName.FindStringSubmatch(d.String())[1]] = true
	}
	queried := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range metricName.FindAllString(tg.Expr, -1) {
				queried++
				base := m
				for _, suf := range []string{"_bucket", "_count", "_sum"} {
					if b, ok := strings.CutSuffix(m, suf); ok && known[b] {
						base = b
					}
				}
				if !known[base] {
					t.Errorf("panel %q: metric %s is not exposed by a node", p.Title, m)
				}
			}
		}
	}
	if dash.UID == "" || queried < 40 {
		t.Fatalf("dashboard %q: %d metric references", dash.Title, queried)
	}
}
