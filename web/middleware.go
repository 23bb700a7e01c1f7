package web

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"vaxbook"
)

type ctxKey int

const requestIDKey ctxKey = iota

// requestID returns the id of the request being served ("" outside one).
func requestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// requestIDs makes request ids: a random per-process prefix and a
// counter, unique across nodes and restarts without reading the system's
// random source for every request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return &requestIDs{prefix: base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]) + "-"}
}

func (g *requestIDs) next() string {
	var buf [32]byte
	b := append(buf[:0], g.prefix...)
	return string(strconv.AppendUint(b, g.n.Add(1), 36))
}

// statusRecorder remembers the status written.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// Flush lets Server-Sent Events through the recorder.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// RouteObserver is told about every finished request (for metrics). route
// is the ServeMux pattern that matched ("" for none), never the raw path, so
// ids do not blow up label cardinality.
type RouteObserver interface {
	ObserveRequest(route string, status int, d time.Duration)
}

// withBasics wraps h with request ids, panic recovery, access logging (no
// personal data: method, route pattern, status, duration, request id — never
// query strings, bodies or cookies), security headers and metrics.
func withBasics(h http.Handler, log *slog.Logger, obs RouteObserver, now func() time.Time) http.Handler {
	ids := newRequestIDs()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			id = ids.next()
		}
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		r = r.WithContext(ctx)
		rec := &statusRecorder{ResponseWriter: w}
		hd := w.Header()
		// Canonical keys set directly, values from one allocation.
		vals := &[4]string{id, "nosniff", "same-origin", "DENY"}
		hd["X-Request-Id"] = vals[0:1:1]
		hd["X-Content-Type-Options"] = vals[1:2:2]
		hd["Referrer-Policy"] = vals[2:3:3]
		hd["X-Frame-Options"] = vals[3:4:4]
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(ctx, "panic", "request_id", id, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if rec.status == 0 {
					writeProblem(rec, r, log, vaxbook.Errorf(vaxbook.CodeInternal, "internal error"))
				}
			}
			d := now().Sub(start)
			if obs != nil {
				obs.ObserveRequest(r.Pattern, rec.status, d)
			}
			log.LogAttrs(ctx, slog.LevelDebug, "request",
				slog.String("request_id", id), slog.String("method", r.Method), slog.String("route", r.Pattern),
				slog.Int("status", rec.status), slog.Duration("duration", d))
		}()
		h.ServeHTTP(rec, r)
	})
}

// maxBody is the largest request body any API call accepts.
const maxBody = 16 << 10
