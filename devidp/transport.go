package devidp

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Transport returns an http.RoundTripper that serves requests for this
// server's providers (BaseURL + Prefix) by calling the handler in memory,
// and sends every other request through base (http.DefaultTransport if
// nil). A relying party in the same process as its dev IdP uses it for the
// back channel (discovery, JWKS, token): the same HTTP requests and
// responses, without a socket. It needs Config.BaseURL.
func (s *Server) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	u, _ := url.Parse(s.cfg.BaseURL)
	return &localTransport{srv: s, base: base, host: u.Host, scheme: u.Scheme}
}

type localTransport struct {
	srv          *Server
	base         http.RoundTripper
	host, scheme string
}

func (t *localTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.host == "" || req.URL.Host != t.host || req.URL.Scheme != t.scheme || !strings.HasPrefix(req.URL.Path, t.srv.cfg.Prefix+"/") {
		return t.base.RoundTrip(req)
	}
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:0"
	if in.Body == nil {
		in.Body = http.NoBody
	}
	w := &memResponse{header: http.Header{}}
	t.srv.ServeHTTP(w, in)
	if req.Body != nil {
		req.Body.Close()
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return &http.Response{
		Status: http.StatusText(w.status), StatusCode: w.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(&w.body), ContentLength: int64(w.body.Len()), Request: req,
	}, nil
}

// memResponse is an http.ResponseWriter into memory.
type memResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (m *memResponse) Header() http.Header { return m.header }

func (m *memResponse) WriteHeader(status int) {
	if m.status == 0 {
		m.status = status
	}
}

func (m *memResponse) Write(b []byte) (int, error) {
	if m.status == 0 {
		m.status = http.StatusOK
	}
	return m.body.Write(b)
}
