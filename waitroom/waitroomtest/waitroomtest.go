// Package waitroomtest is the contract suite of vaxbook.WaitRoomBackend: it
// drives waitroom.Service over a backend with an injected clock and checks
// the waiting room's behaviour end to end (same place on rejoin, the
// pre-queue draw, FIFO under concurrent joins on several nodes, admission,
// passes and their refusals, no-show compensation, operator modes, the
// controller lease, the ETA). Every backend (waitroom.Memory, the Redis
// backend) runs it:
//
//	func TestContract(t *testing.T) { waitroomtest.Run(t, newBackend) }
package waitroomtest

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/internal/clock"
	"vaxbook/waitroom"
)

// Factory makes a fresh, empty store for one test and returns a function
// that connects a node to it: every call is another node's connection (a
// new client for Redis; the same value for the in-process backend).
type Factory func(t *testing.T) (connect func() vaxbook.WaitRoomBackend)

// Secret is the server secret the suite's services use.
var Secret = []byte("waitroomtest secret: 32+ bytes long, fixed for reproducible draws")

// Opening is the opening instant of the suite's room (the first rotation
// day of August 2021, 20:00 KST).
var Opening = time.Date(2021, 8, 9, 20, 0, 0, 0, time.FixedZone("KST", 9*3600))

// Room returns a room opening at Opening with a 30-minute pre-queue.
func Room(window string) vaxbook.QueueRoom {
	return waitroom.RoomOf(
		vaxbook.Campaign{ID: "c2021", PreQueue: vaxbook.Duration(30 * time.Minute)},
		vaxbook.Window{ID: window, Opens: Opening, Closes: Opening.Add(22 * time.Hour)},
	)
}

// Run runs every contract test.
func Run(t *testing.T, newBackend Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newBackend Factory)
	}{
		{"JoinSamePlace", testJoinSamePlace},
		{"JoinRefusals", testJoinRefusals},
		{"PrequeueDraw", testPrequeueDraw},
		{"PrequeueUniform", testPrequeueUniform},
		{"FIFOConcurrentNodes", testFIFOConcurrentNodes},
		{"AdmissionAndPass", testAdmissionAndPass},
		{"PassRefusals", testPassRefusals},
		{"PassSingleUseConcurrent", testPassSingleUseConcurrent},
		{"NoShowCompensation", testNoShowCompensation},
		{"PassExpiryFreesPlace", testPassExpiryFreesPlace},
		{"PassLastFraction", testPassLastFraction},
		{"Modes", testModes},
		{"SetValidationAndAudit", testSetValidationAndAudit},
		{"Rooms", testRooms},
		{"RoomDropped", testRoomDropped},
		{"LeaderLease", testLeaderLease},
		{"LeaseFencing", testLeaseFencing},
		{"LeaderFailover", testLeaderFailover},
		{"ETASteady", testETASteady},
		{"ControllerSlowStage", testControllerSlowStage},
		{"StageBound", testStageBound},
		{"StageBoundShortLine", testStageBoundShortLine},
		{"StageTimeMeasured", testStageTimeMeasured},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newBackend) })
	}
}

// env is one test's world: a backend, a fake clock, an audit log and the
// services (nodes) on the backend.
type env struct {
	t       *testing.T
	ctx     context.Context
	connect func() vaxbook.WaitRoomBackend
	b       vaxbook.WaitRoomBackend
	clk     *clock.Fake
	audit   *auditLog
	room    vaxbook.QueueRoom
}

func newEnv(t *testing.T, newBackend Factory) *env {
	connect := newBackend(t)
	return &env{
		t: t, ctx: context.Background(), connect: connect, b: connect(),
		clk:   clock.NewFake(Opening.Add(-10 * time.Minute)),
		audit: &auditLog{}, room: Room("d9"),
	}
}

// service starts a node on the env's backend.
func (e *env) service(node string, mut func(*waitroom.Config)) *waitroom.Service {
	e.t.Helper()
	cfg := waitroom.Config{Backend: e.connect(), Secret: Secret, Node: node, Audit: e.audit, Log: slog.New(slog.DiscardHandler)}
	if mut != nil {
		mut(&cfg)
	}
	s, err := waitroom.New(cfg)
	if err != nil {
		e.t.Fatalf("waitroom.New: %v", err)
	}
	return s
}

func (e *env) now() time.Time { return e.clk.Now() }

func (e *env) at(d time.Duration) time.Time {
	e.clk.Set(Opening.Add(d))
	return e.clk.Now()
}

func (e *env) join(s *waitroom.Service, person int64) vaxbook.QueueStatus {
	e.t.Helper()
	st, err := s.Join(e.ctx, e.room, person, session(person), e.now())
	if err != nil {
		e.t.Fatalf("join %d at %s: %v", person, e.now(), err)
	}
	return st
}

func (e *env) status(s *waitroom.Service, st vaxbook.QueueStatus, person int64) vaxbook.QueueStatus {
	e.t.Helper()
	got, err := s.Status(e.ctx, st.Ticket, person, session(person), e.now())
	if err != nil {
		e.t.Fatalf("status of %d: %v", person, err)
	}
	return got
}

func (e *env) tick(s *waitroom.Service) {
	e.t.Helper()
	if err := s.Tick(e.ctx, e.now()); err != nil {
		e.t.Fatalf("tick at %s: %v", e.now(), err)
	}
}

func (e *env) set(s *waitroom.Service, set vaxbook.WaitRoomSettings) {
	e.t.Helper()
	if _, err := s.Set(e.ctx, "operator-kim", set, e.now()); err != nil {
		e.t.Fatalf("set %+v: %v", set, err)
	}
}

func (e *env) stats(s *waitroom.Service) vaxbook.WaitRoomStats {
	e.t.Helper()
	st, err := s.Stats(e.ctx)
	if err != nil {
		e.t.Fatalf("stats: %v", err)
	}
	return st
}

// noStageBound lifts the bound derived from the stage's pace, for tests
// whose admitted people never use their passes.
func noStageBound(c *waitroom.Config) { c.StageFloor = 1 << 40 }

func fixed(rate float64, maxActive int64) vaxbook.WaitRoomSettings {
	return vaxbook.WaitRoomSettings{Mode: vaxbook.ModeFixed, RatePerS: rate, MaxActive: maxActive, MinRate: 1, MaxRate: 10_000}
}

func session(person int64) string {
	return fmt.Sprintf("session-of-%d-aaaaaaaaaaaaaaaaaaaaaaaaaaaa", person)
}

func wantCode(t *testing.T, err error, code vaxbook.Code, what string) {
	t.Helper()
	if got := vaxbook.ErrorCode(err); got != code {
		t.Fatalf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

// auditLog records audit entries in memory.
type auditLog struct {
	mu      sync.Mutex
	entries []vaxbook.AuditEntry
}

func (a *auditLog) Audit(ctx context.Context, e vaxbook.AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	e.ID = int64(len(a.entries) + 1)
	a.entries = append(a.entries, e)
	return nil
}

func (a *auditLog) AuditEntries(ctx context.Context, before int64, limit int) ([]vaxbook.AuditEntry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []vaxbook.AuditEntry
	for i := len(a.entries) - 1; i >= 0 && len(out) < limit; i-- {
		if before == 0 || a.entries[i].ID < before {
			out = append(out, a.entries[i])
		}
	}
	return out, nil
}

func (a *auditLog) byAction(action string) []vaxbook.AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []vaxbook.AuditEntry
	for _, e := range a.entries {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

func (e *env) state(s *waitroom.Service) vaxbook.WaitRoomState {
	e.t.Helper()
	st, err := s.State(e.ctx, e.now())
	if err != nil {
		e.t.Fatalf("state: %v", err)
	}
	return st
}
