package web

import (
	"encoding/hex"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"vaxbook"
)

// firstCookie remembers the position a ticket was first shown at, so that
// the progress bar can show how far the line has moved (display only).
const firstCookie = "vb_qfirst"

// queuePage is the data of the waiting-room page.
type queuePage struct {
	State        vaxbook.QueueState
	Reason       string
	Position     int64
	Ahead        int64
	First        int64 // position when this ticket was first shown
	Moved        int64 // First - Position
	ETA          time.Duration
	ETAUncertain bool
	RetryMS      int64
	OpensAt      time.Time
	Until        time.Duration // until the opening (pre-queue)
	Next         string        // where to go once admitted
}

// queuePage is GET /queue[?next=…]: it joins the waiting room on the
// server (idempotent: a reload keeps the place), shows the place, and
// sends an admitted person on with the pass in its cookie. With JavaScript
// the page polls /api/v1/queue/status when retry_after_ms says; without,
// it reloads itself after the same interval.
func (s *Server) queuePage(w http.ResponseWriter, r *http.Request, v *view) error {
	now := v.Now
	c, err := s.signedIn(r, now)
	if err != nil {
		return err
	}
	v.Sess = &c.sess
	// A valid queue cookie of this session: a status read (no join). Else,
	// or when the old place is finished, join (same place, or a new one).
	st, err := s.queuedStatus(r, now)
	if err != nil || (st.State == vaxbook.QueueExpired && st.Reason != vaxbook.ReasonClosed) {
		if st, err = s.joinRoom(w, r, c, now); err != nil {
			return err
		}
	}
	next := safeNext(r.URL.Query().Get("next"))
	if s.keepPass(w, r, st) {
		if next == "" {
			next = "/book"
			if vs, err := s.engine.Mine(r.Context(), c.p); err == nil && len(activeBookings(vs)) > 0 {
				next = "/bookings"
			}
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	p := queuePage{
		State: st.State, Reason: st.Reason, Position: st.Position, Ahead: st.Ahead,
		ETA: st.ETA, ETAUncertain: st.ETAUncertain, RetryMS: st.RetryAfter.Milliseconds(), OpensAt: st.OpensAt, Next: next,
	}
	if p.Next == "" {
		p.Next = "/book"
	}
	if st.OpensAt.After(now) {
		p.Until = st.OpensAt.Sub(now)
	}
	if st.State == vaxbook.QueueWaiting {
		p.First = s.firstPosition(w, r, st)
		p.Moved = p.First - p.Position
	}
	if st.State == vaxbook.QueueWaiting || st.State == vaxbook.QueuePrequeue {
		v.Refresh = int(math.Ceil(st.RetryAfter.Seconds()))
		if v.Refresh < 1 {
			v.Refresh = 1
		}
	}
	if st.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(v.Refresh))
	}
	return render(w, v, http.StatusOK, "queue", "title.queue", p)
}

// firstPosition returns the position this ticket was first shown at,
// remembering it in a cookie the first time.
func (s *Server) firstPosition(w http.ResponseWriter, r *http.Request, st vaxbook.QueueStatus) int64 {
	sum := sum16(st.Ticket)
	tag := hex.EncodeToString(sum[:6])
	if c, err := r.Cookie(firstCookie); err == nil {
		if t, n, ok := strings.Cut(c.Value, "."); ok && t == tag {
			if first, err := strconv.ParseInt(n, 10, 64); err == nil && first >= st.Position {
				return first
			}
		}
	}
	s.setCookie(w, r, firstCookie, tag+"."+strconv.FormatInt(st.Position, 10), 24*time.Hour)
	return st.Position
}

// safeNext accepts only the booking pages as a place to return to after the
// waiting room (never another site).
func safeNext(next string) string {
	if next == "" || len(next) > 512 || strings.ContainsAny(next, "\\\r\n") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	if u.Path == "/book" || strings.HasPrefix(u.Path, "/book/") || u.Path == "/bookings" || strings.HasPrefix(u.Path, "/bookings/") {
		return u.Path + queryPart(u.RawQuery)
	}
	return ""
}

func queryPart(q string) string {
	if q == "" {
		return ""
	}
	return "?" + q
}

// toQueue sends a person through the waiting room, to come back to back.
func toQueue(w http.ResponseWriter, r *http.Request, back string) {
	http.Redirect(w, r, "/queue?next="+url.QueryEscape(back), http.StatusSeeOther)
}
