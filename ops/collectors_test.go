package ops

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vaxbook"
	"vaxbook/booking"
	"vaxbook/identity"
)

type fakeWaitRoom struct{ stats vaxbook.WaitRoomStats }

func (f fakeWaitRoom) Stats(ctx context.Context) (vaxbook.WaitRoomStats, error) { return f.stats, nil }
func (f fakeWaitRoom) Settings() vaxbook.WaitRoomSettings {
	return vaxbook.WaitRoomSettings{Mode: vaxbook.ModeFixed, RatePerS: 7, MaxActive: 100, MinRate: 1, MaxRate: 50}
}
func (f fakeWaitRoom) Leader() bool { return true }

type fakeEngine struct{}

func (fakeEngine) Stats() booking.Stats {
	return booking.Stats{Batches: 4, Mutations: 13, BatchSizes: [9]int64{1, 1, 1, 0, 1}, Refused: 2, ApplySeconds: 0.5, Queued: 3, Clinics: 10}
}
func (fakeEngine) Remaining(at time.Time) booking.Remaining { return booking.Remaining{Total: 77} }

type fakeLights struct{}

func (fakeLights) Providers(now time.Time) []identity.ProviderLight {
	return []identity.ProviderLight{{Name: "naver", Light: identity.Red, Breaker: identity.BreakerOpen, InFlight: 4, P95ms: 2500}}
}

func TestCollectors(t *testing.T) {
	reg := prometheus.NewPedanticRegistry() // checks that Describe and Collect agree
	st := vaxbook.WaitRoomStats{Arrivals: 100, Admitted: 60, Claimed: 50, Used: 40, NoShows: 3, PassesExpired: 2,
		Increases: 5, Holds: 9, Waiting: 40, Active: 10, Rate: 7, Outflow: 6.9, Finishing: 4.5, StageBound: 2500,
		StageTime: 30 * time.Second, Stay: 15 * time.Second}
	cs := []prometheus.Collector{
		NewWaitRoomCollector(fakeWaitRoom{st}, slog.New(slog.DiscardHandler)),
		NewEngineCollector(fakeEngine{}, time.Now),
		NewLightsCollector(fakeLights{}, time.Now),
		NewEmulationCollector(func() []EmulationStatus {
			return []EmulationStatus{{Name: "naver", Capacity: 300, Logins: 12, Outage: true}}
		}),
		NewPoolCollector(func() PoolStats {
			return PoolStats{Idle: 3, InUse: 5, Max: 16, Acquires: 99, AcquireWait: 2 * time.Second}
		}),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"vaxbook_waitroom_arrivals_total", nil, 100},
		{"vaxbook_waitroom_admitted_total", nil, 60},
		{"vaxbook_waitroom_passes_used_total", nil, 40},
		{"vaxbook_waitroom_expired_total", map[string]string{"reason": "no_show"}, 3},
		{"vaxbook_waitroom_expired_total", map[string]string{"reason": "pass_expired"}, 2},
		{"vaxbook_waitroom_controller_decisions_total", map[string]string{"decision": "increase"}, 5},
		{"vaxbook_waitroom_controller_decisions_total", map[string]string{"decision": "hold"}, 9},
		{"vaxbook_waitroom_waiting", nil, 40},
		{"vaxbook_waitroom_active", nil, 10},
		{"vaxbook_waitroom_rate_per_second", nil, 7},
		{"vaxbook_waitroom_outflow_per_second", nil, 6.9},
		{"vaxbook_waitroom_stage_finishing_per_second", nil, 4.5},
		{"vaxbook_waitroom_stage_bound", nil, 2500},
		{"vaxbook_waitroom_stage_time_seconds", nil, 30},
		{"vaxbook_waitroom_stage_stay_seconds", nil, 15},
		{"vaxbook_waitroom_mode", map[string]string{"mode": "fixed"}, 1},
		{"vaxbook_waitroom_mode", map[string]string{"mode": "auto"}, 0},
		{"vaxbook_waitroom_setting", map[string]string{"setting": "max_rate"}, 50},
		{"vaxbook_waitroom_leader", nil, 1},
		{"vaxbook_booking_batches_total", nil, 4},
		{"vaxbook_booking_mutations_total", nil, 13},
		{"vaxbook_booking_batch_size", nil, 4},
		{"vaxbook_booking_refused_total", nil, 2},
		{"vaxbook_booking_apply_seconds_total", nil, 0.5},
		{"vaxbook_booking_queued", nil, 3},
		{"vaxbook_booking_catalog", map[string]string{"kind": "clinics"}, 10},
		{"vaxbook_booking_remaining_places", nil, 77},
		{"vaxbook_identity_light", map[string]string{"provider": "naver", "light": "red"}, 1},
		{"vaxbook_identity_light", map[string]string{"provider": "naver", "light": "green"}, 0},
		{"vaxbook_identity_breaker_open", map[string]string{"provider": "naver"}, 1},
		{"vaxbook_identity_in_flight", map[string]string{"provider": "naver"}, 4},
		{"vaxbook_identity_verification_p95_seconds", map[string]string{"provider": "naver"}, 2.5},
		{"vaxbook_devidp_logins_total", map[string]string{"provider": "naver"}, 12},
		{"vaxbook_devidp_outage", map[string]string{"provider": "naver"}, 1},
		{"vaxbook_db_pool_connections", map[string]string{"state": "in_use"}, 5},
		{"vaxbook_db_pool_acquire_wait_seconds_total", nil, 2},
	} {
		got, ok := metric(t, reg, tc.name, tc.labels)
		if !ok || got != tc.want {
			t.Errorf("%s%v = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	// The batch-size histogram's buckets are cumulative over the engine's
	// power-of-two classes: sizes 1 | 2–3 | 4–7 | 8–15 | 16–31.
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "vaxbook_") {
			t.Errorf("metric %s lacks the vaxbook_ prefix", mf.GetName())
		}
		if mf.GetName() != "vaxbook_booking_batch_size" {
			continue
		}
		want := map[float64]uint64{1: 1, 3: 2, 7: 3, 15: 3, 31: 4, 255: 4}
		for _, b := range mf.GetMetric()[0].GetHistogram().GetBucket() {
			if w, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != w {
				t.Errorf("batch size ≤ %v: %d batches, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
			}
		}
	}
}
