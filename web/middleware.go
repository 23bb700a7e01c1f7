package web

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
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

func newRequestID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			id = newRequestID()
		}
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		r = r.WithContext(ctx)
		rec := &statusRecorder{ResponseWriter: w}
		hd := w.Header()
		hd.Set("X-Request-Id", id)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
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
