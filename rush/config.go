package rush

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"vaxbook"
)

// Arrival profiles.
const (
	// ProfileAllAtOnce: everyone arrives within the opening second.
	ProfileAllAtOnce = "all-at-once"
	// ProfileAug2021: the August 2021 shape — about 40 % of the day's
	// arrivals in the first 30 minutes, then a long tail over the 22-hour
	// window; Compress divides every arrival time.
	ProfileAug2021 = "aug2021"
	// ProfileSteady: arrivals spread evenly over Duration.
	ProfileSteady = "steady"
)

// Mix is the share of people (0…1) who do each of the things real
// people did that the system must survive. Shares are independent draws.
type Mix struct {
	// SecondDevice: after verifying, the person starts again on a second
	// device; the server must refuse it (device_locked).
	SecondDevice float64 `json:"second_device"`
	// WrongDay: people of another rotation day try to sign in (other_day).
	WrongDay float64 `json:"wrong_day"`
	// Early: people arrive before the opening (they wait in the pre-queue,
	// whose order is drawn at the opening).
	Early float64 `json:"early"`
	// ClockForward: the device's clock runs ahead: it sends a forged time
	// (Date and X-Client-Time headers) and books before the opening; the
	// server must go by its own clock (not_eligible_yet).
	ClockForward float64 `json:"clock_forward"`
	// NoPass: a booking call without going through the waiting room
	// (pass_required).
	NoPass float64 `json:"no_pass"`
	// ReplayPass: after booking, another write with the spent pass
	// (pass_invalid).
	ReplayPass float64 `json:"replay_pass"`
	// AbandonQueue: the person gives up while waiting (after Patience on
	// average).
	AbandonQueue float64 `json:"abandon_queue"`
	// AbandonAdmitted: the person is admitted, collects the pass and leaves
	// without booking (the place returns to the flow when the pass lapses).
	AbandonAdmitted float64 `json:"abandon_admitted"`
	// Retry: the person retries errors at once (ignoring Retry-After) and
	// submits the booking twice with the same Idempotency-Key (the second
	// answer must be the first, replayed).
	Retry float64 `json:"retry"`
	// Change and Cancel: after booking, the person comes back later (after
	// Later on average), queues again and moves or cancels the booking.
	Change float64 `json:"change"`
	Cancel float64 `json:"cancel"`
}

// DefaultMix is a plausible opening night.
var DefaultMix = Mix{
	SecondDevice: 0.02, WrongDay: 0.03, Early: 0.10, ClockForward: 0.01, NoPass: 0.01, ReplayPass: 0.01,
	AbandonQueue: 0.02, AbandonAdmitted: 0.01, Retry: 0.02, Change: 0.03, Cancel: 0.01,
}

// Config configures a rush.
type Config struct {
	// People is the number of citizens (wrong-day people included; second
	// devices are extra devices of the same people).
	People int
	// Profile is the arrival profile (Profile* constants).
	Profile string
	// Duration: steady — the arrival span (default 10 min); aug2021 — the
	// length of the booking day before compression (default 22 h).
	Duration time.Duration
	// Compress divides aug2021 arrival times (60: a 22-hour day in 22 min).
	Compress float64
	// Lead is how long before the opening the simulation starts; early
	// arrivals come within it (default 20 s; at most the campaign's
	// pre-queue lead).
	Lead time.Duration
	// Think scales human think times between steps (1: seconds, as people;
	// 0: none).
	Think float64
	// Affinity sends every request of a device to one node (a balancer
	// hashing a cookie or the address); false: each request to the next
	// node in turn (round robin, least_conn).
	Affinity bool
	// Patience is the mean wait before an AbandonQueue person gives up.
	Patience time.Duration
	// Later is the mean delay before a Change or Cancel person comes back.
	Later time.Duration
	// Workers bounds the requests in flight (split over the identity,
	// queue, poll and booking lanes 3:2:1:2).
	Workers int
	// RequestTimeout bounds one HTTP request (default 30 s).
	RequestTimeout time.Duration
	// Timeout bounds the whole simulation, from the start (default 1 h).
	Timeout time.Duration
	// Stop, when it closes, ends the simulation early as the timeout does
	// (vaxbook rush closes it on the first Ctrl-C): the report says
	// interrupted and the audit still runs. Cancelling Run's context instead
	// abandons the run without a report.
	Stop <-chan struct{}
	// MaxWait: with a target whose clock is not ours, the longest the rush
	// waits for a rotation day to open (default 35 min); if none opens
	// within it, the rush joins the day that is open.
	MaxWait time.Duration
	// Seed makes the people's choices reproducible.
	Seed uint64
	// Skip passes over the day's first Skip eligible people (and as many
	// wrong-day ones): a second rush on a target whose first people have
	// booked (and hold their device locks) takes new people.
	Skip int
	Mix  Mix
	// Out is the directory for report.json and the plots ("": none).
	Out string
	// HeapProfile, if set, receives a heap profile of the process at the
	// peak of its live heap (within 10 %: rewritten whenever the heap grows
	// a tenth past the last one written), and HeapProfile+".end" one when
	// the simulation ends (before the audit). In process, they tell the
	// server's memory from the simulator's.
	HeapProfile string
	// Progress receives a progress bar (nil: none).
	Progress io.Writer
	// Log receives the simulator's own messages (default: discarded).
	Log *slog.Logger
}

func (c *Config) defaults() {
	if c.Profile == "" {
		c.Profile = ProfileAllAtOnce
	}
	if c.Duration == 0 {
		if c.Profile == ProfileAug2021 {
			c.Duration = 22 * time.Hour
		} else {
			c.Duration = 10 * time.Minute
		}
	}
	if c.Compress == 0 {
		c.Compress = 1
	}
	if c.Lead == 0 {
		c.Lead = 20 * time.Second
	}
	if c.Patience == 0 {
		c.Patience = 3 * time.Minute
	}
	if c.Later == 0 {
		c.Later = 2 * time.Minute
	}
	if c.Workers == 0 {
		c.Workers = 512
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = time.Hour
	}
	if c.MaxWait == 0 {
		c.MaxWait = 35 * time.Minute
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first bad field as a CodeInvalid error naming it.
func (c Config) Validate() error {
	share := func(name string, v float64) error {
		if !(v >= 0 && v <= 1) {
			return vaxbook.InvalidParam(name, "%s must be a share between 0 and 1, not %v", name, v)
		}
		return nil
	}
	switch {
	case c.People < 1:
		return vaxbook.InvalidParam("people", "people must be at least 1, not %d", c.People)
	case c.Profile != ProfileAllAtOnce && c.Profile != ProfileAug2021 && c.Profile != ProfileSteady:
		return vaxbook.InvalidParam("profile", "profile must be %s, %s or %s, not %q", ProfileAllAtOnce, ProfileAug2021, ProfileSteady, c.Profile)
	case c.Duration < 0:
		return vaxbook.InvalidParam("duration", "duration must not be negative")
	case c.Compress < 1:
		return vaxbook.InvalidParam("compress", "compress must be at least 1, not %v", c.Compress)
	case c.Lead < time.Second || c.Lead > 30*time.Minute:
		return vaxbook.InvalidParam("lead", "lead must be between 1s and 30m, not %s", c.Lead)
	case c.Think < 0 || c.Think > 100:
		return vaxbook.InvalidParam("think", "think must be between 0 and 100, not %v", c.Think)
	case c.Workers < 8 || c.Workers > 100_000:
		return vaxbook.InvalidParam("workers", "workers must be between 8 and 100000, not %d", c.Workers)
	case c.Skip < 0:
		return vaxbook.InvalidParam("skip", "skip must not be negative")
	case c.Timeout <= 0 || c.RequestTimeout <= 0 || c.Patience <= 0 || c.Later <= 0 || c.MaxWait < 0:
		return vaxbook.InvalidParam("timeout", "timeouts, patience and later must be positive")
	}
	m := c.Mix
	for _, f := range []struct {
		n string
		v float64
	}{{"second-device", m.SecondDevice}, {"wrong-day", m.WrongDay}, {"early", m.Early}, {"clock-forward", m.ClockForward},
		{"no-pass", m.NoPass}, {"replay-pass", m.ReplayPass}, {"abandon-queue", m.AbandonQueue},
		{"abandon-admitted", m.AbandonAdmitted}, {"retry", m.Retry}, {"change", m.Change}, {"cancel", m.Cancel}} {
		if err := share(f.n, f.v); err != nil {
			return err
		}
	}
	if m.Change+m.Cancel > 1 {
		return vaxbook.InvalidParam("change", "change + cancel must not exceed 1")
	}
	return nil
}

// String describes the mix in one line.
func (m Mix) String() string {
	var b strings.Builder
	for _, f := range []struct {
		n string
		v float64
	}{{"second device", m.SecondDevice}, {"wrong day", m.WrongDay}, {"early", m.Early}, {"clock forward", m.ClockForward},
		{"no pass", m.NoPass}, {"replayed pass", m.ReplayPass}, {"abandon in queue", m.AbandonQueue},
		{"abandon admitted", m.AbandonAdmitted}, {"retry", m.Retry}, {"change", m.Change}, {"cancel", m.Cancel}} {
		if f.v > 0 {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %.1f%%", f.n, f.v*100)
		}
	}
	return b.String()
}
