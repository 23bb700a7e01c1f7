package rush

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Report is the result of a rush: what the simulator saw and what the
// audit found. It is written as report.json.
type Report struct {
	Target string `json:"target"`
	Nodes  int    `json:"nodes"`
	// Affinity: every request of a device went to one node.
	Affinity bool      `json:"affinity,omitempty"`
	Profile  string    `json:"profile"`
	People   int       `json:"people"`
	Devices  int       `json:"devices"`
	Mix      Mix       `json:"mix"`
	Window   string    `json:"window"`
	Room     string    `json:"room"`
	Opens    time.Time `json:"opens"`
	Started  time.Time `json:"started"`
	LeadS    float64   `json:"lead_s"`
	Workers  int       `json:"workers"`
	// DurationS is the simulation's length, from its start to the last
	// person done (or the timeout).
	DurationS float64 `json:"duration_s"`
	TimedOut  bool    `json:"timed_out"`
	// Interrupted is a simulation ended early by Config.Stop (Ctrl-C).
	Interrupted bool `json:"interrupted,omitempty"`

	Requests        int64 `json:"requests"`
	TransportErrors int64 `json:"transport_errors"`
	// NoShows counts people whose pass lapsed because the simulator came
	// back after the claim deadline (a sign of an overloaded simulator).
	NoShows  int64          `json:"no_shows"`
	Outcomes map[string]int `json:"outcomes"`
	// Unfinished counts people still under way at the end, by state.
	Unfinished map[string]int `json:"unfinished,omitempty"`

	// CanBook are the people who meant to book (of the day's cohort, first
	// device, not leaving on purpose); Booked of them did.
	CanBook int `json:"can_book"`
	Booked  int `json:"booked"`
	// MinutesToAllBooked is from the opening to the moment the last of
	// them booked (-1 when some never did).
	MinutesToAllBooked float64 `json:"minutes_to_all_booked"`
	MinutesTo99Booked  float64 `json:"minutes_to_99pct_booked"`
	// Journey: arrival → confirmed booking, minutes.
	JourneyP50Min float64 `json:"journey_p50_min"`
	JourneyP90Min float64 `json:"journey_p90_min"`
	JourneyP99Min float64 `json:"journey_p99_min"`

	Steps    map[string]Latency `json:"steps"`
	Refusals []Refusal          `json:"refusals"`

	PeakWaiting      int64   `json:"peak_waiting"`
	PeakAdmittedPerS int32   `json:"peak_admitted_per_s"`
	PeakBookedPerS   int32   `json:"peak_booked_per_s"`
	MeanBookedPerS   float64 `json:"mean_booked_per_s"` // from the first to the last first booking
	// PeakRSS is this process's peak resident set (with an in-process
	// target: server and simulator together); RedisRSS the Redis server's.
	PeakRSS  int64 `json:"peak_rss_bytes"`
	RedisRSS int64 `json:"redis_peak_rss_bytes,omitempty"`
	// Memory during the simulation: PeakRSS counts from its start when
	// PeakRSSReset (the demo country's seeding excluded); RSSAtStart is the
	// resident set then. PeakGoHeap is the most live Go heap seen (sampled
	// each second); the rest of the RSS is SQLite's caches and the runtime.
	// Simulator*: the simulator's own memory — its devices, heaps and
	// observations (fixed), and its live sessions and cookies, measured at
	// the end and scaled to the most sessions live at once.
	PeakRSSReset          bool  `json:"peak_rss_reset"`
	RSSAtStart            int64 `json:"rss_at_start_bytes"`
	PeakGoHeap            int64 `json:"peak_go_heap_bytes"`
	SimulatorFixedBytes   int64 `json:"simulator_fixed_bytes"`
	SimulatorSessionBytes int64 `json:"simulator_peak_session_bytes"`
	PeakSessions          int64 `json:"peak_sessions"`

	Series Series `json:"series"`

	SimViolations map[string]int64 `json:"simulator_violations"`
	SimExamples   []string         `json:"simulator_examples,omitempty"`
	Audit         *Audit           `json:"audit"`
	// OK: no violation anywhere.
	OK bool `json:"ok"`

	journey []float64 // minutes, for the CDF plot
	steps   [numSteps]Latency
}

// Series are per-second counts from the simulation's start (second 0 is
// LeadS before the opening).
type Series struct {
	Arrivals  []int32           `json:"arrivals"`
	Logins    []int32           `json:"logins"`
	Admitted  []int32           `json:"admitted"`
	Booked    []int32           `json:"booked"`
	Changed   []int32           `json:"changed"`
	Cancelled []int32           `json:"cancelled"`
	Polls     []int32           `json:"polls"`
	Errors    []int32           `json:"errors"`
	Waiting   []int64           `json:"waiting"`
	InFlight  []int64           `json:"in_flight"`
	Lights    map[string][]int8 `json:"lights"` // 0 green, 1 yellow, 2 red, -1 unknown
	// Memory each second (MiB): resident set, live Go heap, all the Go
	// runtime holds.
	RSSMiB     []int32 `json:"rss_mib"`
	GoHeapMiB  []int32 `json:"go_heap_mib"`
	GoTotalMiB []int32 `json:"go_total_mib"`
}

func (s *sim) report(sm samples, end time.Time, timedOut bool) *Report {
	r := &Report{
		Target: s.t.Kind, Nodes: len(s.t.URLs), Profile: s.cfg.Profile, People: s.cfg.People, Devices: len(s.users),
		Mix: s.cfg.Mix, Window: s.win.ID, Room: s.room, Opens: s.win.Opens.In(s.loc), Started: s.start,
		LeadS: time.Duration(s.openNS).Seconds(), Workers: s.cfg.Workers, Affinity: s.cfg.Affinity,
		DurationS: end.Sub(s.start).Seconds(), TimedOut: timedOut,
		Requests: s.requests.Load(), TransportErrors: s.transports.Load(), NoShows: s.noShows.Load(),
		Outcomes: map[string]int{}, Steps: map[string]Latency{}, Refusals: s.ref.list(),
		PeakRSS: peakRSS("self"),
	}
	r.PeakRSSReset, r.RSSAtStart, r.PeakSessions = s.peakReset, s.rssBefore, sm.peakSessions
	for _, h := range sm.heap {
		r.PeakGoHeap = max(r.PeakGoHeap, int64(h)<<20)
	}
	fixed, sess, live := s.simulatorBytes()
	r.SimulatorFixedBytes = fixed
	// The mean session (live ones and finished ones), times the most live at once.
	if n := int64(live) + s.sessCount.Load(); n > 0 {
		r.SimulatorSessionBytes = (sess + s.sessBytes.Load()) / n * sm.peakSessions
	}
	if s.t.Redis != nil {
		r.RedisRSS = peakRSS(strconv.Itoa(s.t.Redis.PID()))
	}
	for i := range s.hists {
		l := s.hists[i].summary()
		r.steps[i] = l
		if l.Count > 0 {
			r.Steps[stepNames[i]] = l
		}
	}
	names := map[uint8]string{oNone: "unfinished", oBooked: "booked", oRefused: "refused", oAbandoned: "abandoned", oFailed: "failed"}
	var last int32 = -1
	var bookedAt []float64
	for i := range s.users {
		u := &s.users[i]
		if u.flags&fSecondDevice != 0 && u.arrive < 0 {
			// A second device whose first never verified: never started.
			r.Outcomes["never_started"]++
			continue
		}
		r.Outcomes[names[u.outcome]]++
		if u.outcome == oNone {
			if r.Unfinished == nil {
				r.Unfinished = map[string]int{}
			}
			r.Unfinished[stateNames[u.state]]++
		}
		if u.flags&(fSecondDevice|fWrongDay|fAbandonQueue|fAbandonAdmitted) != 0 {
			if u.booked >= 0 {
				r.journey = append(r.journey, float64(u.booked-u.arrive)/60000)
			}
			continue
		}
		r.CanBook++
		if u.booked >= 0 {
			r.Booked++
			last = max(last, u.booked)
			bookedAt = append(bookedAt, float64(u.booked))
			r.journey = append(r.journey, float64(u.booked-u.arrive)/60000)
		}
	}
	// Minutes count from the opening, or from the start of the simulation
	// when the rush joined a day that was already open.
	openMS := float64(max(s.openNS, 0)) / 1e6
	r.MinutesToAllBooked = -1
	if r.Booked == r.CanBook && last >= 0 {
		r.MinutesToAllBooked = round3((float64(last) - openMS) / 60000)
	}
	if len(bookedAt) > 0 && r.CanBook > 0 {
		sort.Float64s(bookedAt)
		k := int(math.Ceil(0.99*float64(r.CanBook))) - 1
		if k < len(bookedAt) {
			r.MinutesTo99Booked = round3((bookedAt[k] - openMS) / 60000)
		} else {
			r.MinutesTo99Booked = -1
		}
	}
	js := sortedCopy(r.journey)
	r.JourneyP50Min = round3(quantileSorted(js, 0.5))
	r.JourneyP90Min = round3(quantileSorted(js, 0.9))
	r.JourneyP99Min = round3(quantileSorted(js, 0.99))
	secs := int(math.Ceil(end.Sub(s.start).Seconds())) + 1
	r.Series = Series{
		Arrivals: s.arrivals.values(secs), Logins: s.logins.values(secs), Admitted: s.admitted.values(secs),
		Booked: s.booked.values(secs), Changed: s.changed.values(secs), Cancelled: s.cancelled.values(secs),
		Polls: s.polls.values(secs), Errors: s.errs.values(secs), Waiting: sm.waiting, InFlight: sm.inFlight, Lights: sm.lights,
		RSSMiB: sm.rss, GoHeapMiB: sm.heap, GoTotalMiB: sm.goTotal,
	}
	for _, w := range sm.waiting {
		r.PeakWaiting = max(r.PeakWaiting, w)
	}
	first, lastSec := -1, -1
	var total int64
	for i, v := range r.Series.Booked {
		r.PeakBookedPerS = max(r.PeakBookedPerS, v)
		if v > 0 {
			if first < 0 {
				first = i
			}
			lastSec = i
			total += int64(v)
		}
	}
	if first >= 0 {
		r.MeanBookedPerS = round3(float64(total) / float64(lastSec-first+1))
	}
	for _, v := range r.Series.Admitted {
		r.PeakAdmittedPerS = max(r.PeakAdmittedPerS, v)
	}
	s.violMu.Lock()
	r.SimViolations = map[string]int64{}
	for k, v := range s.viol {
		r.SimViolations[k] = v
	}
	r.SimExamples = append(r.SimExamples, s.examples...)
	s.violMu.Unlock()
	return r
}

// finish sets OK once the audit is in.
func (r *Report) finish() {
	r.OK = len(r.SimViolations) == 0 && r.Audit != nil && len(r.Audit.Violations) == 0
}

// Violations lists everything that did not hold.
func (r *Report) Violations() []string {
	var out []string
	keys := make([]string, 0, len(r.SimViolations))
	for k := range r.SimViolations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%s: %d", k, r.SimViolations[k]))
	}
	if r.Audit != nil {
		out = append(out, r.Audit.Violations...)
	} else {
		out = append(out, "no audit")
	}
	return out
}

// endNote says how a simulation that did not finish ended.
func (r *Report) endNote() string {
	switch {
	case r.Interrupted:
		return " — INTERRUPTED"
	case r.TimedOut:
		return " — TIMED OUT"
	}
	return ""
}

// write stores report.json and the plots in dir.
func (r *Report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return r.plots(dir)
}

// Summary writes the console summary.
func (r *Report) Summary(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	balance := ""
	if r.Nodes > 1 {
		balance = ", requests to the next node in turn"
		if r.Affinity {
			balance = ", each device's requests to one node"
		}
	}
	p("vaxbook rush — %s, %d node(s)%s, profile %s", r.Target, r.Nodes, balance, r.Profile)
	if r.LeadS < 0 {
		p("  (the day had opened %.0f min before the rush: the minutes below count from the rush's start)", -r.LeadS/60)
	}
	p("  %d people (%d devices), window %s opening %s, mix: %s", r.People, r.Devices, r.Window, r.Opens.Format("2006-01-02 15:04:05 MST"), r.Mix)
	p("  simulated %s (%d requests, %d transport errors)%s", (time.Duration(r.DurationS * float64(time.Second))).Round(time.Second), r.Requests, r.TransportErrors, r.endNote())
	if r.MinutesToAllBooked >= 0 {
		p("  everyone who could book booked: %d of %d within %.2f min of the opening (99%% within %.2f min)", r.Booked, r.CanBook, r.MinutesToAllBooked, r.MinutesTo99Booked)
	} else {
		p("  booked %d of the %d who could (99%% mark: %v min)", r.Booked, r.CanBook, r.MinutesTo99Booked)
	}
	p("  arrival → confirmed: p50 %.2f min, p90 %.2f min, p99 %.2f min", r.JourneyP50Min, r.JourneyP90Min, r.JourneyP99Min)
	p("  peak waiting %d, peak admitted %d/s, peak bookings %d/s, mean %.0f/s", r.PeakWaiting, r.PeakAdmittedPerS,
		r.PeakBookedPerS, r.MeanBookedPerS)
	since := "the process's life"
	if r.PeakRSSReset {
		since = "the simulation"
	}
	p("  memory: peak RSS %.0f MiB during %s (%.0f MiB at its start)%s; peak live Go heap %.0f MiB; the simulator's own %.0f MiB (%d sessions live at most)",
		mib(r.PeakRSS), since, mib(r.RSSAtStart), rssNote(r), mib(r.PeakGoHeap), mib(r.SimulatorFixedBytes+r.SimulatorSessionBytes), r.PeakSessions)
	var outs []string
	for k, v := range r.Outcomes {
		outs = append(outs, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(outs)
	p("  outcomes: %s", strings.Join(outs, ", "))
	if len(r.Unfinished) > 0 {
		var un []string
		for k, v := range r.Unfinished {
			un = append(un, fmt.Sprintf("%s %d", k, v))
		}
		sort.Strings(un)
		p("  still under way at the end: %s", strings.Join(un, ", "))
	}
	p("  %-9s %9s %9s %9s %9s %9s", "step", "count", "p50 ms", "p90 ms", "p99 ms", "max ms")
	for i := range r.steps {
		l := r.steps[i]
		if l.Count == 0 {
			continue
		}
		p("  %-9s %9d %9.1f %9.1f %9.1f %9.0f", stepNames[i], l.Count, l.P50MS, l.P90MS, l.P99MS, l.MaxMS)
	}
	if len(r.Refusals) > 0 {
		p("  refusals (step, code, expected, count):")
		for _, f := range r.Refusals {
			mark := "expected"
			if !f.Expected {
				mark = "UNEXPECTED"
			}
			p("    %-8s %-26s %-10s %d", f.Step, f.Code, mark, f.Count)
		}
	}
	if a := r.Audit; a != nil {
		p("  audit (%s): invariants over-capacity %d, counter-mismatch %d, double-booked %d, orphan-dose2 %d",
			a.Store, a.Invariants.OverCapacity, a.Invariants.CounterMismatch, a.Invariants.DoubleBooked, a.Invariants.OrphanDose2)
		doubt := ""
		if a.InDoubt > 0 {
			doubt = fmt.Sprintf(" (%d with a change or cancellation unanswered at the end: either state accepted)", a.InDoubt)
		}
		p("    acknowledged bookings %d: missing %d, wrong status %d, cohort mismatch %d%s; (clinic, cohort) quotas %d, over %d",
			a.Acknowledged, a.Missing, a.WrongStatus, a.CohortMismatch, doubt, a.ClinicCohorts, a.ClinicCohortOver)
		p("    tickets %d, FIFO inversions %d (of %d compared)", a.Tickets, a.FIFOInversions, a.FIFOChecked)
		if a.PrequeueDrawn && a.ChiDOF > 0 {
			p("    pre-queue %d drawn (key %s…): χ² %.1f with %d dof, p = %.3f; rank correlation %.4f", a.Prequeue, short(a.ShuffleKey), a.ChiSquare, a.ChiDOF, a.ChiP, a.RankCorrelation)
		} else if a.PrequeueDrawn {
			p("    pre-queue of %d: too small for the χ² test", a.Prequeue)
		} else {
			p("    no pre-queue draw for this room")
		}
	}
	if r.OK {
		p("  OK: no violation")
	} else {
		p("  VIOLATIONS:")
		for _, v := range r.Violations() {
			p("    %s", v)
		}
		ex := r.SimExamples
		if r.Audit != nil {
			ex = append(ex, r.Audit.Examples...)
		}
		for i, e := range ex {
			if i == 10 {
				p("    … %d more examples in report.json", len(ex)-10)
				break
			}
			p("    e.g. %s", e)
		}
	}
}

func rssNote(r *Report) string {
	if r.RedisRSS > 0 {
		return fmt.Sprintf(" (Redis %.0f MiB)", float64(r.RedisRSS)/(1<<20))
	}
	return ""
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func short(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}
