// Package ops holds what operators watch: Prometheus metrics, the health
// and readiness checks, and the rolling time series the ops dashboard draws.
package ops

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is a node's Prometheus registry with the HTTP metrics every node
// has; other parts add their own collectors with Register.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	edge     *edge
}

// NewMetrics returns a registry with Go runtime, process and HTTP metrics.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), edge: newEdge()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "vaxbook", Subsystem: "http", Name: "requests_total",
		Help: "HTTP requests by route pattern and status code.",
	}, []string{"route", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "vaxbook", Subsystem: "http", Name: "request_duration_seconds",
		Help:    "HTTP request latency by route pattern.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route"})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency,
	)
	m.reg.MustRegister(m.edge.collectors()...)
	return m
}

// Wrap returns h observed at the edge of the node: latency per stage of
// the citizen's flow (DefaultStageRules), answers with a 5xx status, the
// code of every problem+json answer, and the outcome of every identity
// callback by provider (a redirect with ?code= is a refusal). It sees every
// request, so it is cheap: one pooled writer and a few atomic adds. now
// times requests.
func (m *Metrics) Wrap(h http.Handler, now func() time.Time) http.Handler {
	return m.edge.wrap(h, now)
}

// SetStageRules replaces the rules that put requests into stages.
func (m *Metrics) SetStageRules(rules []StageRule) {
	rules = slices.Clone(rules)
	m.edge.rules.Store(&rules)
}

// SetProviders names the identity providers whose sign-in outcomes are
// counted under their own name (others count as "unknown", so that made-up
// callback paths cannot grow the metrics).
func (m *Metrics) SetProviders(names []string) {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	m.edge.providers.Store(&set)
}

// Register adds collectors (engine, waiting room, store pool, providers).
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Registry exposes the underlying registry (for tests and gathering).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveRequest records one finished HTTP request. route is a ServeMux
// pattern, never a raw path.
func (m *Metrics) ObserveRequest(route string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Collector is a Prometheus collector (what Register takes).
type Collector = prometheus.Collector
