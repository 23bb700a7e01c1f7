package node

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"vaxbook/devidp"
	"vaxbook/ops"
	"vaxbook/web"
)

// DefaultOperator is the account made in demo mode when no operator is
// configured; its random password is printed once at start.
const DefaultOperator = "admin"

// boardEvery is how often the ops dashboard samples the node.
const boardEvery = time.Second

// opsConfig builds the operator console's configuration for web.New: the
// operator accounts (in demo mode without any, an "admin" account with a
// random password), the live board and, in demo mode, the dev IdP's
// emulation knobs. A bad operator entry leaves Accounts nil; startOps then
// fails the start with the reason.
func (n *Node) opsConfig() web.OpsConfig {
	cfg := web.OpsConfig{Sessions: n.Store}
	accts, err := ops.ParseAccounts(n.cfg.Operators)
	if err == nil && len(n.cfg.Operators) == 0 && n.cfg.Demo {
		_, err = accts.GenerateAccount(DefaultOperator)
	}
	if err == nil {
		cfg.Accounts = accts
	}
	bc := ops.BoardConfig{Node: n.cfg.Node, Metrics: n.Metrics, WaitRoom: n.WaitRoom.State, Engine: n.Engine,
		Lights: n.Identity, Log: n.log}
	if n.DevIdP != nil {
		cfg.IdP = n.DevIdP
		bc.Emulation = n.emulationStatus
	}
	cfg.Board = ops.NewBoard(bc)
	return cfg
}

// emulationStatus is the dev IdP's state as the ops package sees it.
func (n *Node) emulationStatus() []ops.EmulationStatus {
	st := n.DevIdP.Status()
	out := make([]ops.EmulationStatus, 0, len(st))
	for _, p := range st {
		out = append(out, emulationOf(p))
	}
	return out
}

func emulationOf(p devidp.ProviderStatus) ops.EmulationStatus {
	e := p.Emulation
	return ops.EmulationStatus{Name: p.Name, Capacity: e.Capacity, ErrorRate: e.ErrorRate,
		Median: time.Duration(e.Latency.Median), P99: time.Duration(e.Latency.P99), Outage: e.Outage,
		MedianMS: float64(time.Duration(e.Latency.Median).Microseconds()) / 1000,
		P99MS:    float64(time.Duration(e.Latency.P99).Microseconds()) / 1000,
		Logins:   p.Stats.Logins, Queued: p.Stats.Queued, Overloaded: p.Stats.Overloaded, Errors: p.Stats.Errors,
		Hits: p.Stats.OutageHits}
}

// poolStore is a store that exposes its connection pool (PostgreSQL).
type poolStore interface {
	Pool() *pgxpool.Pool
}

// startOps finishes the operator console once the HTTP server is built and
// before it serves: it checks the operator accounts (printing a generated
// one's password once to Stdout, never to the log), registers the metrics
// collectors (waiting room, engine, identity lights, dev IdP, database
// pool), wraps the server's handler with the edge observer (latency per
// stage, refusal codes, sign-in outcomes), makes shutdown end the open
// dashboard streams, and samples the board every second until ctx ends.
func (n *Node) startOps(ctx context.Context) error {
	oc := n.Web.Ops()
	if oc.Accounts == nil {
		if _, err := ops.ParseAccounts(n.cfg.Operators); err != nil {
			return fmt.Errorf("operators: %w", err)
		}
		return fmt.Errorf("operators: the accounts could not be set up")
	}
	if g, ok := oc.Accounts.TakeGenerated(); ok {
		fmt.Fprintf(n.cfg.Stdout, "operator dashboard at %s/ops/ — account %q, password %s (demo; shown once, not logged)\n",
			n.url, g.Name, g.Password)
	}
	now := n.cfg.Clock.Now
	cs := []ops.Collector{
		ops.NewWaitRoomCollector(n.WaitRoom, n.log),
		ops.NewEngineCollector(n.Engine, now),
		ops.NewLightsCollector(n.Identity, now),
	}
	if n.DevIdP != nil {
		cs = append(cs, ops.NewEmulationCollector(n.emulationStatus))
	}
	if ps, ok := n.Store.(poolStore); ok {
		cs = append(cs, ops.NewPoolCollector(func() ops.PoolStats {
			s := ps.Pool().Stat()
			return ops.PoolStats{Total: int64(s.TotalConns()), Idle: int64(s.IdleConns()), InUse: int64(s.AcquiredConns()),
				Max: int64(s.MaxConns()), Acquires: s.AcquireCount(), EmptyAcquires: s.EmptyAcquireCount(),
				CanceledAcquires: s.CanceledAcquireCount(), AcquireWait: s.AcquireDuration(), NewConns: s.NewConnsCount(),
				DestroyedByLimit: s.MaxLifetimeDestroyCount() + s.MaxIdleDestroyCount()}
		}))
	}
	if err := n.Metrics.Register(cs...); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	n.Metrics.SetProviders(n.Identity.ProviderNames())
	n.server.Handler = n.Metrics.Wrap(n.server.Handler, now)
	if oc.Board != nil {
		n.server.RegisterOnShutdown(oc.Board.Close)
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			oc.Board.Run(ctx, boardEvery, now)
		}()
	}
	return nil
}
