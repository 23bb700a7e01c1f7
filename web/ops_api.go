package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"vaxbook"
	"vaxbook/devidp"
	"vaxbook/identity"
	"vaxbook/ops"
)

// waitRoomJSON is GET/PUT /api/v1/ops/waitroom.
type waitRoomJSON struct {
	Mode       vaxbook.WaitRoomMode     `json:"mode"`
	Settings   vaxbook.WaitRoomSettings `json:"settings"`
	Rate       float64                  `json:"rate"`
	Outflow    float64                  `json:"outflow"`
	Waiting    int64                    `json:"waiting"`
	Prequeue   int64                    `json:"prequeue"`
	Admitted   int64                    `json:"admitted"`
	Unclaimed  int64                    `json:"unclaimed"`
	Active     int64                    `json:"active"`
	Leader     string                   `json:"leader"`
	Node       string                   `json:"node"`
	Controller ops.ControllerView       `json:"controller"`
	Rooms      []vaxbook.RoomState      `json:"rooms"`
	Counts     ops.WaitRoomCounts       `json:"counts"`
}

func toWaitRoomJSON(st vaxbook.WaitRoomState) waitRoomJSON {
	out := waitRoomJSON{Mode: st.Settings.Mode, Settings: st.Settings, Rate: st.Rate, Outflow: st.Outflow,
		Waiting: st.Waiting, Prequeue: st.Prequeue, Admitted: st.Stats.Admitted, Unclaimed: st.Unclaimed,
		Active: st.Active, Leader: st.Leader, Node: st.Node, Rooms: st.Rooms,
		Controller: ops.ControllerViewOf(st.Controller), Counts: ops.CountsOf(st.Stats)}
	if out.Rooms == nil {
		out.Rooms = []vaxbook.RoomState{}
	}
	return out
}

func (o *opsServer) waitRoom() (vaxbook.WaitRoom, error) {
	if o.s.cfg.WaitRoom == nil {
		return nil, vaxbook.Errorf(vaxbook.CodeUnavailable, "this server has no waiting room")
	}
	return o.s.cfg.WaitRoom, nil
}

func (o *opsServer) getWaitRoom(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time) {
	wr, err := o.waitRoom()
	if err == nil {
		var st vaxbook.WaitRoomState
		if st, err = wr.State(r.Context(), now); err == nil {
			writeJSON(w, http.StatusOK, toWaitRoomJSON(st))
			return
		}
	}
	writeProblem(w, r, o.s.log, err)
}

// settingsPatch is a PUT body: the fields given replace the current ones.
type settingsPatch struct {
	Mode      *string  `json:"mode"`
	RatePerS  *float64 `json:"rate_per_s"`
	MaxActive *int64   `json:"max_active"`
	MinRate   *float64 `json:"min_rate"`
	MaxRate   *float64 `json:"max_rate"`
}

func (p settingsPatch) apply(s vaxbook.WaitRoomSettings) vaxbook.WaitRoomSettings {
	if p.Mode != nil {
		s.Mode = vaxbook.WaitRoomMode(*p.Mode)
	}
	if p.RatePerS != nil {
		s.RatePerS = *p.RatePerS
	}
	if p.MaxActive != nil {
		s.MaxActive = *p.MaxActive
	}
	if p.MinRate != nil {
		s.MinRate = *p.MinRate
	}
	if p.MaxRate != nil {
		s.MaxRate = *p.MaxRate
	}
	return s
}

// setWaitRoom merges p onto the settings in force and applies them
// (validated, audited by the waiting room with the operator's name).
func (o *opsServer) setWaitRoom(ctx context.Context, a opsActor, p settingsPatch, now time.Time) (vaxbook.WaitRoomState, error) {
	wr, err := o.waitRoom()
	if err != nil {
		return vaxbook.WaitRoomState{}, err
	}
	cur, err := wr.State(ctx, now)
	if err != nil {
		return vaxbook.WaitRoomState{}, err
	}
	return wr.Set(ctx, a.name, p.apply(cur.Settings), now)
}

func (o *opsServer) putWaitRoom(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time) {
	var p settingsPatch
	if err := decodeBody(w, r, &p); err != nil {
		writeProblem(w, r, o.s.log, err)
		return
	}
	st, err := o.setWaitRoom(r.Context(), a, p, now)
	if err != nil {
		writeProblem(w, r, o.s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, toWaitRoomJSON(st))
}

// lockKey reads {person} and {window}; the window must be one of the
// campaign's.
func (o *opsServer) lockKey(r *http.Request) (int64, vaxbook.Window, error) {
	person, err := parseID("person", r.PathValue("person"))
	if err != nil {
		return 0, vaxbook.Window{}, err
	}
	id := r.PathValue("window")
	for _, w := range o.s.engine.Campaign().Windows {
		if w.ID == id {
			return person, w, nil
		}
	}
	return 0, vaxbook.Window{}, vaxbook.Errorf(vaxbook.CodeNotFound, "campaign %s has no window %q", o.s.engine.Campaign().ID, clip(id))
}

type deviceLockOpsJSON struct {
	PersonID   int64  `json:"person_id"`
	CampaignID string `json:"campaign_id"`
	WindowID   string `json:"window_id"`
	Provider   string `json:"provider"`
	LockedAt   string `json:"locked_at"`
	Expires    string `json:"expires"`
}

func (o *opsServer) lockJSON(l vaxbook.DeviceLock) deviceLockOpsJSON {
	loc := o.s.loc()
	return deviceLockOpsJSON{PersonID: l.PersonID, CampaignID: l.CampaignID, WindowID: l.WindowID, Provider: l.Provider,
		LockedAt: l.LockedAt.In(loc).Format(timeFormat), Expires: l.Expires.In(loc).Format(timeFormat)}
}

func (o *opsServer) getDeviceLock(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time) {
	person, win, err := o.lockKey(r)
	if err == nil && o.s.cfg.Locks == nil {
		err = vaxbook.Errorf(vaxbook.CodeUnavailable, "this server keeps no device locks")
	}
	if err != nil {
		writeProblem(w, r, o.s.log, err)
		return
	}
	l, err := o.s.cfg.Locks.DeviceLock(r.Context(), person, o.s.engine.Campaign().ID, win.ID)
	if err != nil {
		writeProblem(w, r, o.s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, o.lockJSON(l))
}

// maxReason bounds an operator's release reason.
const maxReason = 200

func checkReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return "", vaxbook.InvalidParam("reason", "a reason is required (it goes into the audit log; write no personal data)")
	case utf8.RuneCountInString(reason) > maxReason || !utf8.ValidString(reason):
		return "", vaxbook.InvalidParam("reason", "the reason must be at most %d characters", maxReason)
	}
	return reason, nil
}

// releaseLock releases a person's device lock for one window, audited by
// identity with the operator and the reason.
func (o *opsServer) releaseLock(ctx context.Context, a opsActor, person int64, win vaxbook.Window, reason string, now time.Time) (vaxbook.DeviceLock, error) {
	reason, err := checkReason(reason)
	if err != nil {
		return vaxbook.DeviceLock{}, err
	}
	if o.s.cfg.Identity == nil || o.s.cfg.Locks == nil {
		return vaxbook.DeviceLock{}, vaxbook.Errorf(vaxbook.CodeUnavailable, "this server keeps no device locks")
	}
	camp := o.s.engine.Campaign().ID
	l, err := o.s.cfg.Locks.DeviceLock(ctx, person, camp, win.ID)
	if err != nil {
		return vaxbook.DeviceLock{}, err
	}
	if err := o.s.cfg.Identity.ReleaseDeviceLock(ctx, a.name, person, camp, win.ID, reason, now); err != nil {
		return vaxbook.DeviceLock{}, err
	}
	return l, nil
}

type reasonBody struct {
	Reason string `json:"reason"`
}

func (o *opsServer) deleteDeviceLock(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time) {
	person, win, err := o.lockKey(r)
	if err != nil {
		writeProblem(w, r, o.s.log, err)
		return
	}
	reason := r.URL.Query().Get("reason")
	if r.ContentLength != 0 {
		var b reasonBody
		if err := decodeBody(w, r, &b); err != nil {
			writeProblem(w, r, o.s.log, err)
			return
		}
		if b.Reason != "" {
			reason = b.Reason
		}
	}
	l, err := o.releaseLock(r.Context(), a, person, win, reason, now)
	if err != nil {
		writeProblem(w, r, o.s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"released": o.lockJSON(l)})
}

// listProviders answers GET /api/v1/ops/providers: every identity
// provider's light as citizens see it, with whether it is turned on.
func (o *opsServer) listProviders(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time) {
	if o.s.cfg.Identity == nil {
		writeProblem(w, r, o.s.log, vaxbook.Errorf(vaxbook.CodeNotFound, "no identity providers are configured"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"providers": o.s.cfg.Identity.Providers(now)})
}

type providerSwitch struct {
	Enabled *bool  `json:"enabled"`
	Reason  string `json:"reason"`
}

// setProvider turns a provider on or off on this node, audited first.
func (o *opsServer) setProvider(ctx context.Context, a opsActor, name string, on bool, reason string, now time.Time) (identity.ProviderLight, error) {
	id := o.s.cfg.Identity
	if id == nil {
		return identity.ProviderLight{}, vaxbook.Errorf(vaxbook.CodeNotFound, "no identity providers are configured")
	}
	cur, ok := providerLight(id.Providers(now), name)
	if !ok {
		return identity.ProviderLight{}, vaxbook.Errorf(vaxbook.CodeNotFound, "no identity provider %q", clip(name))
	}
	if len(reason) > 500 {
		return cur, vaxbook.InvalidParam("reason", "the reason has at most 500 characters")
	}
	if o.s.cfg.Audit == nil {
		return cur, vaxbook.Errorf(vaxbook.CodeUnavailable, "no audit log: changes are refused")
	}
	action := "identity.provider.enable"
	if !on {
		action = "identity.provider.disable"
	}
	detail, _ := json.Marshal(map[string]any{"from": cur.Enabled, "to": on, "reason": reason})
	if err := o.s.cfg.Audit.Audit(ctx, vaxbook.AuditEntry{At: now, Actor: a.name, Action: action,
		Target: "provider:" + name, Detail: string(detail)}); err != nil {
		return cur, err
	}
	if err := id.SetEnabled(ctx, name, on, a.name, now); err != nil {
		return cur, err
	}
	o.s.log.InfoContext(ctx, "ops: identity provider switched", "operator", a.name, "provider", name, "enabled", on)
	next, _ := providerLight(id.Providers(now), name)
	return next, nil
}

func providerLight(list []identity.ProviderLight, name string) (identity.ProviderLight, bool) {
	for _, l := range list {
		if l.Name == name {
			return l, true
		}
	}
	return identity.ProviderLight{}, false
}

// putProvider answers PUT /api/v1/ops/providers/{provider} {"enabled": bool}.
func (o *opsServer) putProvider(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time) {
	var b providerSwitch
	if err := decodeBody(w, r, &b); err != nil {
		writeProblem(w, r, o.s.log, err)
		return
	}
	if b.Enabled == nil {
		writeProblem(w, r, o.s.log, vaxbook.InvalidParam("enabled", "enabled (true or false) is required"))
		return
	}
	l, err := o.setProvider(r.Context(), a, r.PathValue("provider"), *b.Enabled, b.Reason, now)
	if err != nil {
		writeProblem(w, r, o.s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (o *opsServer) idp() (IdPEmulator, error) {
	if o.cfg.IdP == nil {
		return nil, vaxbook.Errorf(vaxbook.CodeNotFound, "no built-in identity provider runs here (demo mode only)")
	}
	return o.cfg.IdP, nil
}

func (o *opsServer) listIdP(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time) {
	idp, err := o.idp()
	if err != nil {
		writeProblem(w, r, o.s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"providers": idp.Status()})
}

func (o *opsServer) idpStatus(name string) (devidp.ProviderStatus, error) {
	idp, err := o.idp()
	if err != nil {
		return devidp.ProviderStatus{}, err
	}
	for _, st := range idp.Status() {
		if st.Name == name {
			return st, nil
		}
	}
	return devidp.ProviderStatus{}, vaxbook.Errorf(vaxbook.CodeNotFound, "no emulated provider %q", clip(name))
}

func (o *opsServer) getIdP(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time) {
	st, err := o.idpStatus(r.PathValue("provider"))
	if err != nil {
		writeProblem(w, r, o.s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// emulationPatch is a PUT body: the fields given replace the current ones.
type emulationPatch struct {
	Capacity  *float64          `json:"capacity"`
	MaxQueue  *vaxbook.Duration `json:"max_queue"`
	ErrorRate *float64          `json:"error_rate"`
	Outage    *bool             `json:"outage"`
	Latency   *struct {
		Median *vaxbook.Duration `json:"median"`
		P99    *vaxbook.Duration `json:"p99"`
	} `json:"latency"`
}

func (p emulationPatch) apply(e devidp.Emulation) devidp.Emulation {
	if p.Capacity != nil {
		e.Capacity = *p.Capacity
	}
	if p.MaxQueue != nil {
		e.MaxQueue = *p.MaxQueue
	}
	if p.ErrorRate != nil {
		e.ErrorRate = *p.ErrorRate
	}
	if p.Outage != nil {
		e.Outage = *p.Outage
	}
	if p.Latency != nil {
		if p.Latency.Median != nil {
			e.Latency.Median = *p.Latency.Median
		}
		if p.Latency.P99 != nil {
			e.Latency.P99 = *p.Latency.P99
		}
	}
	return e
}

// setEmulation merges p onto a provider's emulation, validates, audits and
// applies it.
func (o *opsServer) setEmulation(ctx context.Context, a opsActor, name string, p emulationPatch, now time.Time) (devidp.ProviderStatus, error) {
	st, err := o.idpStatus(name)
	if err != nil {
		return st, err
	}
	next := p.apply(st.Emulation)
	if err := next.Validate(); err != nil {
		return st, err
	}
	if o.s.cfg.Audit == nil {
		return st, vaxbook.Errorf(vaxbook.CodeUnavailable, "no audit log: changes are refused")
	}
	detail, _ := json.Marshal(map[string]devidp.Emulation{"from": st.Emulation, "to": next})
	if err := o.s.cfg.Audit.Audit(ctx, vaxbook.AuditEntry{At: now, Actor: a.name, Action: "idp.emulation.set",
		Target: "idp:" + name, Detail: string(detail)}); err != nil {
		return st, err
	}
	if err := o.cfg.IdP.SetEmulation(name, next); err != nil {
		return st, err
	}
	o.s.log.InfoContext(ctx, "ops: idp emulation changed", "operator", a.name, "provider", name, "emulation", next.String())
	return o.idpStatus(name)
}

func (o *opsServer) putIdP(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time) {
	var p emulationPatch
	if err := decodeBody(w, r, &p); err != nil {
		writeProblem(w, r, o.s.log, err)
		return
	}
	st, err := o.setEmulation(r.Context(), a, r.PathValue("provider"), p, now)
	if err != nil {
		writeProblem(w, r, o.s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// Audit pages.
const (
	defaultAuditLimit = 50
	maxAuditLimit     = 500
)

type auditPage struct {
	Entries    []vaxbook.AuditEntry `json:"entries"`
	NextBefore int64                `json:"next_before,omitempty"`
}

func (o *opsServer) auditEntries(ctx context.Context, before int64, limit int) (auditPage, error) {
	if o.s.cfg.Audit == nil {
		return auditPage{}, vaxbook.Errorf(vaxbook.CodeUnavailable, "no audit log")
	}
	es, err := o.s.cfg.Audit.AuditEntries(ctx, before, limit)
	if err != nil {
		return auditPage{}, err
	}
	p := auditPage{Entries: es}
	if p.Entries == nil {
		p.Entries = []vaxbook.AuditEntry{}
	}
	if len(es) == limit && limit > 0 {
		p.NextBefore = es[len(es)-1].ID
	}
	return p, nil
}

func (o *opsServer) audit(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time) {
	q := r.URL.Query()
	before, limit := int64(0), defaultAuditLimit
	if v := q.Get("before"); v != "" {
		n, err := parseID("before", v)
		if err != nil {
			writeProblem(w, r, o.s.log, err)
			return
		}
		before = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditLimit {
			writeProblem(w, r, o.s.log, vaxbook.InvalidParam("limit", "limit must be a whole number from 1 to %d", maxAuditLimit))
			return
		}
		limit = n
	}
	p, err := o.auditEntries(r.Context(), before, limit)
	if err != nil {
		writeProblem(w, r, o.s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (o *opsServer) dashboardJSON(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time) {
	if o.cfg.Board == nil {
		writeProblem(w, r, o.s.log, vaxbook.Errorf(vaxbook.CodeUnavailable, "the dashboard is not running on this server"))
		return
	}
	snap := o.cfg.Board.Latest()
	if snap.Seq == 0 {
		snap = o.cfg.Board.Sample(r.Context(), now)
	}
	writeJSON(w, http.StatusOK, snap)
}
