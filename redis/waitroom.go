// Package redis holds the Redis adapters: the waiting room's backend for a
// cluster of stateless nodes (WaitRoom, with atomic Lua scripts and the
// controller's leader lease).
package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"vaxbook"
)

// WaitRoom is the waiting room's backend in Redis. Every node of a cluster
// connects to the same Redis and key prefix; ticket and serving counters
// live there, so the line is one FIFO across nodes. All keys share one hash
// tag (one Redis Cluster slot).
type WaitRoom struct {
	rdb goredis.UniversalClient
	p   string
}

// DefaultPrefix is the key prefix when none is given.
const DefaultPrefix = "vaxbook:wr"

var _ vaxbook.WaitRoomBackend = (*WaitRoom)(nil)

// NewWaitRoom returns the backend on rdb with keys under prefix ("" for
// DefaultPrefix). The prefix becomes the keys' hash tag.
func NewWaitRoom(rdb goredis.UniversalClient, prefix string) *WaitRoom {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &WaitRoom{rdb: rdb, p: "{" + prefix + "}:"}
}

func (w *WaitRoom) global() string   { return w.p + "g" }
func (w *WaitRoom) lease() string    { return w.p + "lease" }
func (w *WaitRoom) rooms() string    { return w.p + "rooms" }
func (w *WaitRoom) stage() string    { return w.p + "stage" }
func (w *WaitRoom) inflight() string { return w.p + "inflight" }

type roomKeys struct{ r, persons, batches, unclaimed, passes, events string }

func (w *WaitRoom) room(id string) roomKeys {
	r := w.p + "r:" + id
	return roomKeys{r, r + ":p", r + ":b", r + ":bu", r + ":c", r + ":e"}
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

func ff(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

func b01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// scriptErr maps the scripts' error replies to domain errors.
func scriptErr(op string, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "NOROOM"):
		return vaxbook.Errorf(vaxbook.CodeNotInQueue, "there is no such waiting room")
	case strings.Contains(msg, "FENCED"):
		return vaxbook.Errorf(vaxbook.CodeConflict, "the controller lease is no longer held")
	case strings.Contains(msg, "NOTADMITTED"):
		return vaxbook.Errorf(vaxbook.CodeConflict, "the ticket is not admitted")
	}
	return fmt.Errorf("redis waitroom %s: %w", op, err)
}

// hash turns a flat HGETALL reply into a map.
func hash(v any) map[string]string {
	arr, _ := v.([]any)
	m := make(map[string]string, len(arr)/2)
	for i := 0; i+1 < len(arr); i += 2 {
		k, _ := arr[i].(string)
		s, _ := arr[i+1].(string)
		m[k] = s
	}
	return m
}

func i64(s string) int64 {
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}

func u64(s string) uint64 {
	v, _ := strconv.ParseUint(s, 10, 64)
	return v
}

func f64(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

func counters(h map[string]string) vaxbook.RoomCounters {
	return vaxbook.RoomCounters{
		ID: h["id"], CampaignID: h["cid"], WindowID: h["wid"], Epoch: u64(h["epoch"]),
		JoinFrom: fromMS(i64(h["jf"])), Opens: fromMS(i64(h["op"])), Closes: fromMS(i64(h["cl"])),
		Tail: u64(h["tail"]), Head: u64(h["head"]), PreQueue: i64(h["pre"]), Unclaimed: i64(h["unc"]),
		Share: f64(h["share"]),
		Outflow: vaxbook.OutflowState{
			Rate: f64(h["o_rate"]), Dev: f64(h["o_dev"]), Since: fromMS(i64(h["o_since"])),
			SampleAt: fromMS(i64(h["o_sat"])), SampleHead: u64(h["o_shead"]),
		},
	}
}

func asInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		return i64(x)
	}
	return 0
}

func joinReply(v any) (vaxbook.QueueJoin, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) != 5 {
		return vaxbook.QueueJoin{}, fmt.Errorf("redis waitroom: unexpected join reply %v", v)
	}
	j := vaxbook.QueueJoin{Found: asInt(arr[1]) == 1, Created: asInt(arr[2]) == 1, Froze: asInt(arr[3]) == 1,
		Counters: counters(hash(arr[4]))}
	if seq := asInt(arr[0]); seq >= 0 {
		j.Seq = uint64(seq)
	}
	return j, nil
}

// JoinRoom implements vaxbook.WaitRoomBackend.
func (w *WaitRoom) JoinRoom(ctx context.Context, room vaxbook.QueueRoom, epoch uint64, person int64, allowNew bool, now time.Time) (vaxbook.QueueJoin, error) {
	k := w.room(room.ID)
	v, err := joinScript.Run(ctx, w.rdb, []string{k.r, k.persons, w.global(), w.rooms()},
		room.ID, room.CampaignID, room.WindowID, strconv.FormatUint(epoch, 10),
		ms(room.JoinFrom), ms(room.Opens), ms(room.Closes), person, b01(allowNew), ms(now)).Result()
	if err != nil {
		return vaxbook.QueueJoin{}, scriptErr("join", err)
	}
	return joinReply(v)
}

// Rejoin implements vaxbook.WaitRoomBackend.
func (w *WaitRoom) Rejoin(ctx context.Context, roomID string, person int64, oldSeq uint64, allowNew bool, now time.Time) (vaxbook.QueueJoin, error) {
	k := w.room(roomID)
	v, err := rejoinScript.Run(ctx, w.rdb, []string{k.r, k.persons, w.global()}, person, oldSeq, b01(allowNew), ms(now)).Result()
	if err != nil {
		return vaxbook.QueueJoin{}, scriptErr("rejoin", err)
	}
	return joinReply(v)
}

// OpenRoom implements vaxbook.WaitRoomBackend.
func (w *WaitRoom) OpenRoom(ctx context.Context, roomID string, now time.Time) (vaxbook.RoomCounters, bool, error) {
	v, err := openScript.Run(ctx, w.rdb, []string{w.room(roomID).r}, ms(now)).Result()
	if err != nil {
		return vaxbook.RoomCounters{}, false, scriptErr("open", err)
	}
	arr, ok := v.([]any)
	if !ok || len(arr) != 2 {
		return vaxbook.RoomCounters{}, false, fmt.Errorf("redis waitroom: unexpected open reply %v", v)
	}
	return counters(hash(arr[1])), asInt(arr[0]) == 1, nil
}

// Counters implements vaxbook.WaitRoomBackend (one HGETALL).
func (w *WaitRoom) Counters(ctx context.Context, roomID string) (vaxbook.RoomCounters, error) {
	h, err := w.rdb.HGetAll(ctx, w.room(roomID).r).Result()
	if err != nil {
		return vaxbook.RoomCounters{}, fmt.Errorf("redis waitroom counters: %w", err)
	}
	if len(h) == 0 {
		return vaxbook.RoomCounters{}, vaxbook.Errorf(vaxbook.CodeNotInQueue, "there is no waiting room %q", roomID)
	}
	return counters(h), nil
}

// RoomIDs implements vaxbook.WaitRoomBackend.
func (w *WaitRoom) RoomIDs(ctx context.Context) ([]string, error) {
	ids, err := w.rdb.SMembers(ctx, w.rooms()).Result()
	if err != nil {
		return nil, fmt.Errorf("redis waitroom rooms: %w", err)
	}
	sort.Strings(ids)
	return ids, nil
}

// DropRoom implements vaxbook.WaitRoomBackend.
func (w *WaitRoom) DropRoom(ctx context.Context, roomID string) error {
	k := w.room(roomID)
	err := dropScript.Run(ctx, w.rdb, []string{k.r, k.persons, k.batches, k.unclaimed, k.passes, k.events, w.global(), w.rooms()}, roomID).Err()
	if err != nil {
		return scriptErr("drop", err)
	}
	return nil
}

// passRecord parses "person:claimedAt:expires:ended" ("" for none).
func passRecord(s string, now time.Time) vaxbook.PassRecord {
	f := strings.Split(s, ":")
	if len(f) != 4 {
		return vaxbook.PassRecord{State: vaxbook.QueueExpired, Reason: vaxbook.ReasonNoShow}
	}
	rec := vaxbook.PassRecord{State: vaxbook.QueueAdmitted, PersonID: i64(f[0]),
		ClaimedAt: fromMS(i64(f[1])), Expires: fromMS(i64(f[2]))}
	switch {
	case f[3] != "":
		rec.State, rec.Reason = vaxbook.QueueExpired, f[3]
	case !now.Before(rec.Expires):
		rec.State, rec.Reason = vaxbook.QueueExpired, vaxbook.ReasonPassExpired
	}
	return rec
}

// Claim implements vaxbook.WaitRoomBackend.
func (w *WaitRoom) Claim(ctx context.Context, roomID string, seq, eff uint64, person int64, now time.Time, ttl time.Duration) (vaxbook.PassRecord, error) {
	k := w.room(roomID)
	s, err := claimScript.Run(ctx, w.rdb, []string{k.r, k.batches, k.unclaimed, k.passes, k.events, w.global()},
		seq, eff, person, ms(now), ttl.Milliseconds()).Text()
	if err != nil {
		return vaxbook.PassRecord{}, scriptErr("claim", err)
	}
	return passRecord(s, now), nil
}

// Pass implements vaxbook.WaitRoomBackend.
func (w *WaitRoom) Pass(ctx context.Context, roomID string, seq uint64, now time.Time) (vaxbook.PassRecord, error) {
	s, err := w.rdb.HGet(ctx, w.room(roomID).passes, strconv.FormatUint(seq, 10)).Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return vaxbook.PassRecord{}, fmt.Errorf("redis waitroom pass: %w", err)
	}
	return passRecord(s, now), nil
}

// EndPass implements vaxbook.WaitRoomBackend.
func (w *WaitRoom) EndPass(ctx context.Context, roomID string, seq uint64, used bool, now time.Time) (vaxbook.PassRecord, error) {
	k := w.room(roomID)
	s, err := endPassScript.Run(ctx, w.rdb, []string{k.r, k.passes, w.global()}, seq, b01(used), ms(now)).Text()
	if err != nil {
		return vaxbook.PassRecord{}, scriptErr("end pass", err)
	}
	return passRecord(s, now), nil
}

// Lease implements vaxbook.WaitRoomBackend. The lease is judged by the
// callers' clocks (the injected now), so its expiry is testable without
// waiting; nodes' clocks must agree to well within the TTL.
func (w *WaitRoom) Lease(ctx context.Context, node string, now time.Time, ttl time.Duration) (vaxbook.Lease, error) {
	v, err := leaseScript.Run(ctx, w.rdb, []string{w.lease()}, node, ms(now), ttl.Milliseconds()).Slice()
	if err != nil {
		return vaxbook.Lease{}, scriptErr("lease", err)
	}
	if len(v) != 4 {
		return vaxbook.Lease{}, fmt.Errorf("redis waitroom: unexpected lease reply %v", v)
	}
	holder, _ := v[1].(string)
	return vaxbook.Lease{Held: asInt(v[0]) == 1, Holder: holder, Token: asInt(v[2]), Until: fromMS(asInt(v[3]))}, nil
}

// ReleaseLease implements vaxbook.WaitRoomBackend.
func (w *WaitRoom) ReleaseLease(ctx context.Context, node string) error {
	if err := releaseScript.Run(ctx, w.rdb, []string{w.lease()}, node).Err(); err != nil {
		return scriptErr("release", err)
	}
	return nil
}

// Admit implements vaxbook.WaitRoomBackend.
func (w *WaitRoom) Admit(ctx context.Context, l vaxbook.Lease, roomID string, n int64, now, deadline time.Time, share float64, o vaxbook.OutflowState) (int64, error) {
	k := w.room(roomID)
	got, err := admitScript.Run(ctx, w.rdb, []string{k.r, k.batches, k.unclaimed, w.global(), w.lease()},
		l.Holder, l.Token, n, ms(now), ms(deadline), ff(share),
		ff(o.Rate), ff(o.Dev), ms(o.Since), ms(o.SampleAt), o.SampleHead).Int64()
	if err != nil {
		return 0, scriptErr("admit", err)
	}
	return got, nil
}

// expireBatch bounds the pass records one Expire call visits.
const expireBatch = 5000

// Expire implements vaxbook.WaitRoomBackend.
func (w *WaitRoom) Expire(ctx context.Context, roomID string, now time.Time) (vaxbook.ExpireResult, error) {
	k := w.room(roomID)
	v, err := expireScript.Run(ctx, w.rdb, []string{k.r, k.batches, k.unclaimed, k.passes, k.events, w.global()},
		ms(now), expireBatch).Int64Slice()
	if err != nil {
		return vaxbook.ExpireResult{}, scriptErr("expire", err)
	}
	if len(v) != 2 {
		return vaxbook.ExpireResult{}, fmt.Errorf("redis waitroom: unexpected expire reply %v", v)
	}
	return vaxbook.ExpireResult{NoShows: v[0], PassesExpired: v[1]}, nil
}

// Global implements vaxbook.WaitRoomBackend.
func (w *WaitRoom) Global(ctx context.Context) (vaxbook.WaitRoomGlobal, error) {
	var gc, lc *goredis.MapStringStringCmd
	_, err := w.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		gc = p.HGetAll(ctx, w.global())
		lc = p.HGetAll(ctx, w.lease())
		return nil
	})
	if err != nil {
		return vaxbook.WaitRoomGlobal{}, fmt.Errorf("redis waitroom global: %w", err)
	}
	h, l := gc.Val(), lc.Val()
	g := vaxbook.WaitRoomGlobal{
		Settings: vaxbook.WaitRoomSettings{
			Mode: vaxbook.WaitRoomMode(h["mode"]), RatePerS: f64(h["rate_per_s"]), MaxActive: i64(h["max_active"]),
			MinRate: f64(h["min_rate"]), MaxRate: f64(h["max_rate"]),
		},
		SettingsSet: h["set"] == "1",
		Rate:        f64(h["rate"]), Tokens: f64(h["tokens"]), Owed: i64(h["owed"]),
		Active: i64(h["active"]), Unclaimed: i64(h["unclaimed"]), LastTick: fromMS(i64(h["last"])),
		Lease: vaxbook.Lease{Holder: l["holder"], Token: i64(l["token"]), Until: fromMS(i64(l["until"]))},
		Stats: vaxbook.WaitRoomStats{
			Arrivals: i64(h["arrivals"]), Rejoins: i64(h["rejoins"]), Admitted: i64(h["admitted"]),
			Claimed: i64(h["claimed"]), Used: i64(h["used"]), Left: i64(h["left"]),
			NoShows: i64(h["noshows"]), PassesExpired: i64(h["pexpired"]),
			Increases: i64(h["d_"+vaxbook.DecisionIncrease]), LatencyDecreases: i64(h["d_"+vaxbook.DecisionDecreaseLatency]),
			ErrorDecreases: i64(h["d_"+vaxbook.DecisionDecreaseErrors]), Holds: i64(h["d_"+vaxbook.DecisionHold]),
		},
	}
	if c := h["ctrl"]; c != "" {
		if err := json.Unmarshal([]byte(c), &g.Controller); err != nil {
			return vaxbook.WaitRoomGlobal{}, fmt.Errorf("redis waitroom global: controller state: %w", err)
		}
	}
	return g, nil
}

// SaveTick implements vaxbook.WaitRoomBackend.
func (w *WaitRoom) SaveTick(ctx context.Context, l vaxbook.Lease, t vaxbook.TickState) error {
	ctrl, err := json.Marshal(t.Controller)
	if err != nil {
		return err
	}
	err = saveTickScript.Run(ctx, w.rdb, []string{w.global(), w.lease()}, l.Holder, l.Token,
		ff(t.Rate), ff(t.Tokens), t.OwedUsed, ms(t.LastTick), ctrl, t.Decision).Err()
	if err != nil {
		return scriptErr("save tick", err)
	}
	return nil
}

// SetSettings implements vaxbook.WaitRoomBackend.
func (w *WaitRoom) SetSettings(ctx context.Context, s vaxbook.WaitRoomSettings) error {
	err := w.rdb.HSet(ctx, w.global(), "mode", string(s.Mode), "rate_per_s", ff(s.RatePerS), "max_active", s.MaxActive,
		"min_rate", ff(s.MinRate), "max_rate", ff(s.MaxRate), "set", "1").Err()
	if err != nil {
		return fmt.Errorf("redis waitroom settings: %w", err)
	}
	return nil
}

// AddStage implements vaxbook.WaitRoomBackend.
func (w *WaitRoom) AddStage(ctx context.Context, node string, s vaxbook.StageSample, now time.Time) error {
	_, err := w.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		if s.Count > 0 {
			p.HIncrBy(ctx, w.stage(), "count", s.Count)
			p.HIncrBy(ctx, w.stage(), "errors", s.Errors)
			p.HIncrBy(ctx, w.stage(), "lat", int64(s.LatencySum))
		}
		if s.Stays > 0 {
			p.HIncrBy(ctx, w.stage(), "stays", s.Stays)
			p.HIncrBy(ctx, w.stage(), "staysum", int64(s.StaySum))
		}
		p.HSet(ctx, w.inflight(), node, fmt.Sprintf("%d:%d", s.InFlight, ms(now)))
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis waitroom stage: %w", err)
	}
	return nil
}

// inflightFresh is how old a node's in-flight report may be to count.
const inflightFresh = 10 * time.Second

// TakeStage implements vaxbook.WaitRoomBackend.
func (w *WaitRoom) TakeStage(ctx context.Context, l vaxbook.Lease, now time.Time) (vaxbook.StageSample, error) {
	v, err := takeStageScript.Run(ctx, w.rdb, []string{w.stage(), w.inflight(), w.lease()},
		l.Holder, l.Token, ms(now), inflightFresh.Milliseconds()).Slice()
	if err != nil {
		return vaxbook.StageSample{}, scriptErr("take stage", err)
	}
	if len(v) != 6 {
		return vaxbook.StageSample{}, fmt.Errorf("redis waitroom: unexpected stage reply %v", v)
	}
	return vaxbook.StageSample{Count: asInt(v[0]), Errors: asInt(v[1]), LatencySum: time.Duration(asInt(v[2])), InFlight: asInt(v[3]),
		Stays: asInt(v[4]), StaySum: time.Duration(asInt(v[5]))}, nil
}
