package devidp

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"vaxbook"
)

// ProviderStatus is what the ops API shows of one emulated provider.
type ProviderStatus struct {
	Name      string         `json:"name"`
	Title     string         `json:"title"`
	Emulation Emulation      `json:"emulation"`
	Stats     EmulationStats `json:"stats"`
}

// Status lists every provider's emulation and counters.
func (s *Server) Status() []ProviderStatus {
	out := make([]ProviderStatus, 0, len(s.order))
	for _, n := range s.order {
		p := s.providers[n]
		out = append(out, ProviderStatus{Name: n, Title: p.title, Emulation: p.emu.config(), Stats: p.emu.snapshot()})
	}
	return out
}

// OpsHandler is a small JSON API to read and change the emulation at run
// time. Mount it under the ops API with the prefix stripped:
//
//	GET   /          every provider's emulation and counters
//	GET   /{name}    one provider
//	PUT   /{name}    replace its emulation  {"capacity":300,"latency":{"median":"200ms","p99":"2s"},"error_rate":0.02,"outage":false,"max_queue":"5s"}
//	PATCH /{name}    change only the fields given
//
// Errors are application/problem+json with a stable code. Access control is
// the mounting server's job.
func (s *Server) OpsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"providers": s.Status()})
	})
	one := func(w http.ResponseWriter, name string) {
		e, st, err := s.Emulation(name)
		if err != nil {
			writeProblem(w, err)
			return
		}
		writeJSON(w, http.StatusOK, ProviderStatus{Name: name, Title: s.providers[name].title, Emulation: e, Stats: st})
	}
	mux.HandleFunc("GET /{name}", func(w http.ResponseWriter, r *http.Request) { one(w, r.PathValue("name")) })
	update := func(merge bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			name := r.PathValue("name")
			cur, _, err := s.Emulation(name)
			if err != nil {
				writeProblem(w, err)
				return
			}
			next := Emulation{}
			if merge {
				next = cur
			}
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&next); err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					writeProblem(w, vaxbook.Errorf(vaxbook.CodeTooLarge, "body over 64 KiB"))
					return
				}
				writeProblem(w, vaxbook.InvalidParam("body", "want a JSON emulation object: %v", err))
				return
			}
			if dec.Decode(&struct{}{}) != io.EOF {
				writeProblem(w, vaxbook.InvalidParam("body", "want one JSON object"))
				return
			}
			if err := s.SetEmulation(name, next); err != nil {
				writeProblem(w, err)
				return
			}
			one(w, name)
		}
	}
	mux.HandleFunc("PUT /{name}", update(false))
	mux.HandleFunc("PATCH /{name}", update(true))
	return mux
}

// writeProblem answers an RFC 9457 problem with the error's stable code.
func writeProblem(w http.ResponseWriter, err error) {
	code := vaxbook.ErrorCode(err)
	status := http.StatusInternalServerError
	switch code {
	case vaxbook.CodeInvalid:
		status = http.StatusBadRequest
	case vaxbook.CodeNotFound:
		status = http.StatusNotFound
	case vaxbook.CodeTooLarge:
		status = http.StatusRequestEntityTooLarge
	}
	body := map[string]any{
		"type": "about:blank", "title": http.StatusText(status), "status": status,
		"code": code, "detail": vaxbook.ErrorMessage(err),
	}
	var e *vaxbook.Error
	if errors.As(err, &e) && e.Param != "" {
		body["param"] = e.Param
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
