package vaxbook

import (
	"context"
	"errors"
	"time"
)

// The waiting room (DESIGN.md §6) sits between identity verification and the
// booking stage. Package waitroom holds the logic (tickets, pre-queue shuffle,
// admission controller, passes); WaitRoomBackend is the O(1) state it keeps,
// implemented in process (waitroom.Memory) and in Redis (package redis).

// QueueState is where a ticket stands.
type QueueState string

// Queue states.
const (
	QueuePrequeue QueueState = "prequeue" // joined before opening; order drawn at the opening instant
	QueueWaiting  QueueState = "waiting"  // in line; Position is known
	QueueAdmitted QueueState = "admitted" // inside the booking stage; the status carries a pass
	QueueExpired  QueueState = "expired"  // the place is gone (see QueueStatus.Reason); joining again goes to the end
)

// Reasons a ticket is QueueExpired.
const (
	ReasonNoShow      = "no_show"       // admitted, but the pass was never collected in time
	ReasonPassExpired = "pass_expired"  // the pass was collected but not used before it expired
	ReasonPassUsed    = "pass_used"     // the pass was used for a booking
	ReasonLeft        = "left"          // the person left the booking stage (Done)
	ReasonClosed      = "window_closed" // the booking window has closed
)

// QueueRoom is the waiting room of one booking window. ID is
// CampaignID + "/" + WindowID; people may join from JoinFrom (Opens minus the
// campaign's PreQueue) until Closes.
type QueueRoom struct {
	ID         string
	CampaignID string
	WindowID   string
	JoinFrom   time.Time
	Opens      time.Time
	Closes     time.Time
}

// QueueStatus is what a person in the waiting room is told (POST
// /api/v1/queue and GET /api/v1/queue/status).
type QueueStatus struct {
	Ticket   string     // opaque, signed; the same place for the same person
	Room     string     // QueueRoom.ID
	State    QueueState //
	Created  bool       // Join: a new place was made (201) rather than an existing one returned (200)
	Position int64      // 1 is next in line; 0 unless State is QueueWaiting
	Ahead    int64      // people in line before this one (Position-1); 0 unless waiting
	// ETA is the expected wait until admission, from the measured outflow.
	// ETAUncertain says the outflow is not measured yet, unstable or paused;
	// ETA is then a planning figure (or 0 when there is none).
	ETA          time.Duration
	ETAUncertain bool
	RetryAfter   time.Duration // when to ask again (server-paced polling)
	OpensAt      time.Time     // the window's opening instant
	Reason       string        // why the ticket is QueueExpired (Reason* constants)
	Pass         string        // QueueAdmitted: the signed pass for booking writes
	PassExpires  time.Time     // QueueAdmitted: when Pass stops being accepted
}

// ErrPassEnded is wrapped by the refusal of a genuine pass, issued to the
// session presenting it, that can no longer be used: a booking write
// consumed it, or it expired. The request carrying it may be the retry of a
// write that succeeded (see Mutation.ReplayOnly).
var ErrPassEnded = errors.New("pass ended")

// PassClaims are the verified contents of a pass: who may write bookings in
// which window with it, and until when.
type PassClaims struct {
	Room        string // QueueRoom.ID
	CampaignID  string
	WindowID    string
	PersonID    int64
	Ticket      uint64   // the ticket's sequence number in the room
	Epoch       uint64   // the room's incarnation the ticket belongs to
	SessionHash [16]byte // first 16 bytes of SHA-256 of the session id the pass was issued to
	IssuedAt    time.Time
	Expires     time.Time
}

// WaitRoomMode says who sets the admission rate.
type WaitRoomMode string

// Modes.
const (
	ModeAuto   WaitRoomMode = "auto"   // the controller sets the rate from the booking stage's health, within [MinRate, MaxRate]
	ModeFixed  WaitRoomMode = "fixed"  // the operator's RatePerS
	ModePaused WaitRoomMode = "paused" // nobody is admitted; issued passes stay valid
	ModeDrain  WaitRoomMode = "drain"  // nobody new may join; the line is admitted as in auto mode until empty
)

// WaitRoomSettings are the operator's controls (PUT /api/v1/ops/waitroom).
type WaitRoomSettings struct {
	Mode      WaitRoomMode `json:"mode"`
	RatePerS  float64      `json:"rate_per_s"` // fixed mode: admissions per second; auto: the starting rate
	MaxActive int64        `json:"max_active"` // bound on people admitted and not finished (0: none)
	MinRate   float64      `json:"min_rate"`   // auto mode bounds
	MaxRate   float64      `json:"max_rate"`
}

// StageSample aggregates the booking stage's requests over an interval, as
// the admission controller sees them.
type StageSample struct {
	Count      int64         // completed requests
	Errors     int64         // of which failed for the stage's own reasons (not user refusals)
	LatencySum time.Duration // sum of their latencies
	InFlight   int64         // requests in progress when the interval ended (all nodes)
	// Stays counts passes used for a booking in the interval and StaySum
	// the time each took from its collection to that use.
	Stays   int64
	StaySum time.Duration
}

// ControllerState is the admission controller's memory and last decision.
type ControllerState struct {
	Rate      float64       `json:"rate"`     // admissions per second it set
	Baseline  time.Duration `json:"baseline"` // long-term latency (the "no load" reference)
	Latency   time.Duration `json:"latency"`  // mean latency of the last interval
	ErrorRate float64       `json:"error_rate"`
	InFlight  int64         `json:"in_flight"`
	Decision  string        `json:"decision"` // Decision* constants
	At        time.Time     `json:"at"`
	// The booking stage's pace: people finishing it (passes used or given
	// back, cluster-wide) per second, a moving average over ~10 s, from the
	// count Finished at FinishedAt; and the bound on people admitted and
	// not finished derived from it (see waitroom.Config.StageTime).
	Finishing  float64   `json:"finishing_per_s"`
	Finished   int64     `json:"finished"`
	FinishedAt time.Time `json:"finished_at"`
	StageBound int64     `json:"stage_bound"`
	// How long people stay in the stage, measured: Stay is the mean time
	// from collecting a pass to booking with it in the calmest ~10-s
	// window of the last few minutes (StayAt: when that window ended;
	// StayWin* the window being filled); Leavers, how long the places of
	// people who left were held per admission so far; and StageTime the
	// time the bound is derived from — the operator's, or twice Stay plus
	// Leavers (see waitroom.Config.StageTime).
	Stay         time.Duration `json:"stay"`
	StayAt       time.Time     `json:"stay_at"`
	StayWinSum   time.Duration `json:"stay_window_sum"`
	StayWinCount int64         `json:"stay_window_count"`
	StayWinFrom  time.Time     `json:"stay_window_from"`
	Leavers      time.Duration `json:"leavers"`
	StageTime    time.Duration `json:"stage_time"`
}

// Controller decisions (also counted in WaitRoomStats).
const (
	DecisionIncrease        = "increase"
	DecisionDecreaseLatency = "decrease_latency"
	DecisionDecreaseErrors  = "decrease_errors"
	DecisionHold            = "hold"
	DecisionFixed           = "fixed" // fixed, paused: the operator decides
)

// WaitRoomStats are cumulative counters (since the backend started) and
// gauges for metrics. In a cluster they are the cluster's totals.
type WaitRoomStats struct {
	Arrivals      int64 // tickets issued (including joining again after expiry)
	Rejoins       int64 // joins that returned an existing place
	Admitted      int64 // tickets admitted
	Claimed       int64 // passes collected
	Used          int64 // passes used for a booking
	Left          int64 // passes given back with Done
	NoShows       int64 // admitted, never collected in time
	PassesExpired int64 // collected, expired unused
	// Controller decisions.
	Increases, LatencyDecreases, ErrorDecreases, Holds int64
	// Gauges.
	Waiting    int64         // in line in opened rooms
	Prequeue   int64         // in pre-queues of rooms not opened yet
	Unclaimed  int64         // admitted, pass not collected yet
	Active     int64         // passes collected and not finished
	Rate       float64       // admission rate in force (people per second)
	Outflow    float64       // measured outflow summed over rooms (people per second)
	Finishing  float64       // people finishing the booking stage per second (its pace)
	StageBound int64         // bound on people admitted and not finished derived from the pace
	StageTime  time.Duration // the stage time the bound is derived from (operator's or measured)
	Stay       time.Duration // measured time from collecting a pass to booking (0: not yet)
}

// Expired is the number of places freed by no-shows and unused passes.
func (s WaitRoomStats) Expired() int64 { return s.NoShows + s.PassesExpired }

// RoomState is one room as operators see it.
type RoomState struct {
	ID       string    `json:"id"`
	Opens    time.Time `json:"opens"`
	Closes   time.Time `json:"closes"`
	Opened   bool      `json:"opened"`
	Prequeue int64     `json:"prequeue"` // pre-queue size (drawn at opening)
	Issued   int64     `json:"issued"`   // tickets issued
	Admitted int64     `json:"admitted"` // tickets admitted (serving counter)
	Waiting  int64     `json:"waiting"`
	Outflow  float64   `json:"outflow"` // measured, people per second
	Stable   bool      `json:"stable"`  // outflow measured long enough and steady
	// ShuffleKey is the hex key of the pre-queue permutation, shown once the
	// room has opened (for audit), "" before.
	ShuffleKey string `json:"shuffle_key,omitempty"`
}

// WaitRoomState is the ops view (GET /api/v1/ops/waitroom).
type WaitRoomState struct {
	Settings   WaitRoomSettings `json:"settings"`
	Rate       float64          `json:"rate"` // in force now
	Waiting    int64            `json:"waiting"`
	Prequeue   int64            `json:"prequeue"`
	Unclaimed  int64            `json:"unclaimed"`
	Active     int64            `json:"active"`
	Outflow    float64          `json:"outflow"`
	Leader     string           `json:"leader"` // node holding the controller lease
	Node       string           `json:"node"`   // the node answering
	Controller ControllerState  `json:"controller"`
	Rooms      []RoomState      `json:"rooms"`
	Stats      WaitRoomStats    `json:"stats"`
}

// WaitRoom is the waiting-room service the web layer calls (package
// waitroom implements it). Errors users can meet are *Error with
// CodeQueueClosed, CodeNotInQueue, CodePassRequired, CodePassInvalid,
// CodePassExpired or CodeInvalid.
type WaitRoom interface {
	// Join puts the person in the room's line, or returns their existing
	// place (same ticket) if they have one that is not finished.
	Join(ctx context.Context, room QueueRoom, personID int64, sessionID string, now time.Time) (QueueStatus, error)
	// Status reports a ticket's place; when admitted it carries a pass bound
	// to sessionID.
	Status(ctx context.Context, ticket string, personID int64, sessionID string, now time.Time) (QueueStatus, error)
	// VerifyPass checks a pass for a booking write by this session and person.
	VerifyPass(ctx context.Context, pass, sessionID string, personID int64, now time.Time) (PassClaims, error)
	// MarkPassUsed consumes the pass after a booking write (exactly one of
	// concurrent calls succeeds) and frees the person's place in the stage.
	MarkPassUsed(ctx context.Context, c PassClaims, now time.Time) error
	// Done frees the place without a booking (the person left); idempotent.
	Done(ctx context.Context, c PassClaims, now time.Time) error
	// Observe records one completed booking-stage request for the controller.
	Observe(latency time.Duration, err error, now time.Time)
	// Tick runs the controller and admissions (leader only) and flushes this
	// node's observations; call it periodically.
	Tick(ctx context.Context, now time.Time) error
	State(ctx context.Context, now time.Time) (WaitRoomState, error)
	// Set changes the operator settings (audited with actor).
	Set(ctx context.Context, actor string, s WaitRoomSettings, now time.Time) (WaitRoomState, error)
	Stats(ctx context.Context) (WaitRoomStats, error)
}

// OutflowState is a room's measured outflow (how fast the serving counter
// moves while people wait), kept in the backend so that every node computes
// the same ETA and a new leader continues the measurement.
type OutflowState struct {
	Rate       float64   // EWMA of people admitted per second
	Dev        float64   // EWMA of the absolute deviation of the samples from Rate
	Since      time.Time // first sample (zero: not measured)
	SampleAt   time.Time // start of the sample being accumulated
	SampleHead uint64    // serving counter at SampleAt
}

// RoomCounters are the O(1) state of a room.
type RoomCounters struct {
	ID         string
	CampaignID string
	WindowID   string
	Epoch      uint64 // incarnation; tickets of another epoch are void
	JoinFrom   time.Time
	Opens      time.Time
	Closes     time.Time
	Tail       uint64 // tickets issued: sequence numbers are 0…Tail-1
	Head       uint64 // serving counter: tickets whose place in line is < Head are admitted
	// PreQueue is -1 until the room opens; then the number of pre-queue
	// tickets (sequence numbers below it are placed by the permutation).
	PreQueue  int64
	Unclaimed int64   // admitted, pass not collected, claim deadline not passed
	Share     float64 // admission rate the leader last gave this room (per second)
	Outflow   OutflowState
}

// QueueJoin is the backend's answer to a join.
type QueueJoin struct {
	Seq      uint64 // the person's ticket
	Found    bool   // false: the person had no ticket and none was issued (joining not allowed)
	Created  bool   // a new ticket was issued by this call
	Froze    bool   // this call opened the room (fixed the pre-queue size)
	Counters RoomCounters
}

// PassRecord is the backend's record of an admitted ticket's pass.
type PassRecord struct {
	State     QueueState // QueueAdmitted (live) or QueueExpired
	Reason    string     // for QueueExpired
	PersonID  int64
	ClaimedAt time.Time
	Expires   time.Time
}

// Lease is the controller lease (one leader among nodes). Token increases
// every time the lease changes hands; leader-only writes are refused with a
// stale token.
type Lease struct {
	Held   bool
	Holder string
	Token  int64
	Until  time.Time
}

// ExpireResult counts what a sweep freed.
type ExpireResult struct {
	NoShows       int64
	PassesExpired int64
}

// TickState is what the leader saves after a tick.
type TickState struct {
	Rate       float64
	Tokens     float64 // fractional admissions carried to the next tick
	OwedUsed   int64   // compensation admissions consumed
	LastTick   time.Time
	Controller ControllerState
	Decision   string // the controller's decision at this tick ("" if it did not run), counted in the stats
}

// WaitRoomGlobal is the state shared by every room.
type WaitRoomGlobal struct {
	Settings    WaitRoomSettings
	SettingsSet bool // false: never set (callers use their defaults)
	Rate        float64
	Tokens      float64
	Owed        int64 // admissions owed to the flow by no-shows and expired passes
	Active      int64
	Unclaimed   int64
	LastTick    time.Time
	Controller  ControllerState
	Lease       Lease
	Stats       WaitRoomStats // counters only; gauges are filled by the service
}

// WaitRoomBackend keeps the waiting room's state: per room a ticket counter,
// a serving counter, the admitted batches awaiting collection, the live
// passes and a person → ticket map (for "same place on rejoin"); globally
// the settings, controller state, counters and the leader lease. Every
// method is atomic. Implementations: waitroom.Memory (in process) and
// redis.WaitRoom; both pass waitroom/waitroomtest.
type WaitRoomBackend interface {
	// JoinRoom creates the room if needed (with epoch), opens it if now ≥
	// Opens, and returns the person's ticket, issuing one at the tail if the
	// person has none and allowNew.
	JoinRoom(ctx context.Context, room QueueRoom, epoch uint64, personID int64, allowNew bool, now time.Time) (QueueJoin, error)
	// Rejoin issues a new ticket at the tail if the person's ticket is still
	// oldSeq (compare-and-swap), else returns the current one.
	Rejoin(ctx context.Context, roomID string, personID int64, oldSeq uint64, allowNew bool, now time.Time) (QueueJoin, error)
	// OpenRoom fixes the pre-queue size if now ≥ Opens and it is not fixed
	// yet; opened reports whether this call did it.
	OpenRoom(ctx context.Context, roomID string, now time.Time) (c RoomCounters, opened bool, err error)
	// Counters reads a room (CodeNotInQueue if there is no such room).
	Counters(ctx context.Context, roomID string) (RoomCounters, error)
	RoomIDs(ctx context.Context) ([]string, error)
	// DropRoom deletes a room and everything in it.
	DropRoom(ctx context.Context, roomID string) error
	// Claim collects the pass of an admitted ticket (seq is its number, eff
	// its place in line < Head): the first call within the claim deadline of
	// its batch creates the pass record (expiring at now+ttl); later calls
	// return it.
	Claim(ctx context.Context, roomID string, seq, eff uint64, personID int64, now time.Time, ttl time.Duration) (PassRecord, error)
	// Pass reads a pass record (State QueueExpired if none is live).
	Pass(ctx context.Context, roomID string, seq uint64, now time.Time) (PassRecord, error)
	// EndPass finishes a live pass (used: a booking was made; else the person
	// left). It returns the record as it was before the call.
	EndPass(ctx context.Context, roomID string, seq uint64, used bool, now time.Time) (PassRecord, error)
	// Lease acquires or renews the controller lease for node.
	Lease(ctx context.Context, node string, now time.Time, ttl time.Duration) (Lease, error)
	// ReleaseLease gives the lease up if node holds it.
	ReleaseLease(ctx context.Context, node string) error
	// Admit moves the room's serving counter by up to n (not past the tail),
	// records the batch with its claim deadline and saves share and outflow.
	// It refuses (CodeConflict) if l is no longer the lease in force.
	Admit(ctx context.Context, l Lease, roomID string, n int64, now, claimDeadline time.Time, share float64, o OutflowState) (int64, error)
	// Expire frees no-shows (batches past their claim deadline) and expired
	// unused passes, adding them to the owed admissions.
	Expire(ctx context.Context, roomID string, now time.Time) (ExpireResult, error)
	Global(ctx context.Context) (WaitRoomGlobal, error)
	// SaveTick stores the leader's tick (CodeConflict with a stale lease).
	SaveTick(ctx context.Context, l Lease, t TickState) error
	SetSettings(ctx context.Context, s WaitRoomSettings) error
	// AddStage adds a node's booking-stage observations; TakeStage returns
	// and resets the sum over nodes (leader only).
	AddStage(ctx context.Context, node string, s StageSample, now time.Time) error
	TakeStage(ctx context.Context, l Lease, now time.Time) (StageSample, error)
}
