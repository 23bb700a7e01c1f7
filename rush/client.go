package rush

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// jar is one device's cookies: a small http.CookieJar for a single origin
// (the deployment's public address; in a cluster the simulated load balancer
// spreads a device's requests over the nodes, as a browser talking to one
// host name would see it). It keeps names and values only — the simulator
// talks to one site — and honours deletions (Max-Age ≤ 0 or an expiry in the
// past). A device's jar lives only while the person is active, so a million
// people cost memory only for those in flight.
type jar struct {
	names  []string
	values []string
}

var _ http.CookieJar = (*jar)(nil)

// SetCookies implements http.CookieJar.
func (j *jar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	for _, c := range cs {
		j.set(c)
	}
}

// Cookies implements http.CookieJar.
func (j *jar) Cookies(*url.URL) []*http.Cookie {
	out := make([]*http.Cookie, len(j.names))
	for i := range j.names {
		out[i] = &http.Cookie{Name: j.names[i], Value: j.values[i]}
	}
	return out
}

func (j *jar) set(c *http.Cookie) {
	del := c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(time.Now()) && c.MaxAge == 0) || c.Value == ""
	name := internName(c.Name)
	for i, n := range j.names {
		if n == name {
			if del {
				j.names = append(j.names[:i], j.names[i+1:]...)
				j.values = append(j.values[:i], j.values[i+1:]...)
			} else {
				j.values[i] = strings.Clone(c.Value) // not a slice of the whole Set-Cookie line
			}
			return
		}
	}
	if !del {
		j.names = append(j.names, name)
		j.values = append(j.values, strings.Clone(c.Value))
	}
}

func (j *jar) get(name string) string {
	for i, n := range j.names {
		if n == name {
			return j.values[i]
		}
	}
	return ""
}

// header is the Cookie request header.
func (j *jar) header() string {
	switch len(j.names) {
	case 0:
		return ""
	case 1:
		return j.names[0] + "=" + j.values[0]
	}
	n := 0
	for i := range j.names {
		n += len(j.names[i]) + len(j.values[i]) + 3
	}
	var b strings.Builder
	b.Grow(n)
	for i := range j.names {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(j.names[i])
		b.WriteByte('=')
		b.WriteString(j.values[i])
	}
	return b.String()
}

// absorb stores the Set-Cookie headers of a response.
func (j *jar) absorb(h http.Header) {
	for _, line := range h["Set-Cookie"] {
		c, err := http.ParseSetCookie(line)
		if err == nil {
			j.set(c)
		}
	}
}

// internName returns a shared copy of the cookie names vaxbook uses, so
// that a million jars do not each hold their own copies.
func internName(n string) string {
	for _, k := range knownCookies {
		if k == n {
			return k
		}
	}
	return strings.Clone(n)
}

var knownCookies = []string{"vb_device", "vb_session", "vb_queue", "vb_pass", "vb_flow", "vb_outcome", "vb_lang"}

// client sends the simulated devices' requests over one keep-alive
// connection pool (the pool is the simulator's stand-in for a million
// browsers' own connections; the server sees as many connections as there
// are requests in flight).
type client struct {
	tr      *http.Transport
	timeout time.Duration
	bufs    sync.Pool
}

func newClient(conns int, timeout time.Duration) *client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
	c := &client{tr: tr, timeout: timeout}
	c.bufs.New = func() any { return new(bytes.Buffer) }
	return c
}

func (c *client) close() { c.tr.CloseIdleConnections() }

// call is one request of a device.
type call struct {
	method string
	url    string // absolute
	body   []byte
	csrf   string
	pass   string
	idem   string
	forged string // a forged client time (the clock-forward misbehaviour)
}

// answer is a response, read whole.
type answer struct {
	status   int
	body     []byte // valid until release
	location string
	code     string // problem code of a non-2xx problem+json answer
	retryMS  int64  // Retry-After in milliseconds (0: none)
	buf      *bytes.Buffer
}

// errTransport wraps failures below HTTP (connect, timeout, reset).
var errTransport = errors.New("transport")

// do sends one request with the device's cookies and stores the cookies of
// the answer. Redirects are not followed.
func (c *client) do(ctx context.Context, j *jar, k call) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if k.body != nil {
		rd = bytes.NewReader(k.body)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, k.url, rd)
	if err != nil {
		return answer{}, err
	}
	h := req.Header
	h["Accept"] = acceptJSON
	if k.body != nil {
		h["Content-Type"] = acceptJSON
	}
	if ck := j.header(); ck != "" {
		h["Cookie"] = []string{ck}
	}
	if k.csrf != "" {
		h["X-Csrf-Token"] = []string{k.csrf}
	}
	if k.pass != "" {
		h["X-Queue-Pass"] = []string{k.pass}
	}
	if k.idem != "" {
		h["Idempotency-Key"] = []string{k.idem}
	}
	if k.forged != "" {
		// A client whose clock runs ahead: the Date header and a "now"
		// parameter say the window is open. The server must ignore both.
		h["Date"] = []string{k.forged}
		h["X-Client-Time"] = []string{k.forged}
	}
	resp, err := c.tr.RoundTrip(req)
	if err != nil {
		return answer{}, fmt.Errorf("%w: %s %s: %v", errTransport, k.method, req.URL.Path, err)
	}
	buf := c.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.bufs.Put(buf)
		return answer{}, fmt.Errorf("%w: %s %s: read body: %v", errTransport, k.method, req.URL.Path, err)
	}
	j.absorb(resp.Header)
	a := answer{status: resp.StatusCode, body: buf.Bytes(), location: resp.Header.Get("Location"), buf: buf}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		var s int64
		if _, err := fmt.Sscan(ra, &s); err == nil {
			a.retryMS = s * 1000
		}
	}
	if resp.StatusCode >= 400 {
		var p struct {
			Code string `json:"code"`
		}
		if json.Unmarshal(a.body, &p) == nil {
			a.code = p.Code
		}
		if a.code == "" {
			a.code = fmt.Sprintf("http_%d", resp.StatusCode)
		}
	}
	return a, nil
}

// release returns the answer's buffer to the pool.
func (c *client) release(a *answer) {
	if a.buf != nil {
		c.bufs.Put(a.buf)
		a.buf, a.body = nil, nil
	}
}

var acceptJSON = []string{"application/json"}

// resolve makes a Location absolute against base.
func resolve(base, loc string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	l, err := url.Parse(loc)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(l).String(), nil
}
