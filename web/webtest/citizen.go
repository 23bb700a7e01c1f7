// Package webtest drives a vaxbook node over HTTP the way a browser or an
// API client does: a cookie jar per device, sign-in through an identity
// provider with login_hint, the waiting room, booking writes. Tests of web/
// and node/ use it; it asserts nothing itself.
package webtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"
)

// Citizen is one device (browser) of one person.
type Citizen struct {
	Base   string
	Client *http.Client
	CSRF   string
	Pass   string
}

// NewCitizen returns a device with an empty cookie jar.
func NewCitizen(base string) *Citizen {
	jar, _ := cookiejar.New(nil)
	return &Citizen{Base: strings.TrimRight(base, "/"), Client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// Login signs in with provider and login_hint person id; it returns the URL
// the flow ended on (/queue on success, /signin/refused?code=… otherwise).
// Like an API client it does not load that page (the /queue page would join
// the waiting room).
func (c *Citizen) Login(provider string, personID int64) (*url.URL, error) {
	client := *c.Client
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == "/queue" || strings.HasPrefix(req.URL.Path, "/signin/refused") {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err := client.Get(fmt.Sprintf("%s/auth/%s/start?login_hint=%d", c.Base, provider, personID))
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	end := resp.Request.URL
	if loc, err := resp.Location(); err == nil {
		end = loc
	}
	if strings.HasPrefix(end.Path, "/signin/refused") {
		return end, nil
	}
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	if st, err := c.Do("GET", "/api/v1/me", nil, nil, &me); err != nil || st != 200 {
		return end, fmt.Errorf("me after login: %d %v", st, err)
	}
	c.CSRF = me.CSRF
	return end, nil
}

// Problem is an API refusal.
type Problem struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
	Param  string `json:"param"`
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Code, p.Detail) }

// Do sends a request with the session's CSRF token and pass (if any) and
// decodes a 2xx JSON answer into out. A non-2xx answer is returned as a
// *Problem error together with its status.
func (c *Citizen) Do(method, path string, hdr http.Header, body any, out any) (int, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.Base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.CSRF != "" {
		req.Header.Set("X-CSRF-Token", c.CSRF)
	}
	if c.Pass != "" {
		req.Header.Set("X-Queue-Pass", c.Pass)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		p := &Problem{}
		if err := json.Unmarshal(b, p); err != nil || p.Code == "" {
			return resp.StatusCode, fmt.Errorf("status %d with a body that is not a problem: %.200s", resp.StatusCode, b)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			return resp.StatusCode, fmt.Errorf("problem with Content-Type %q", ct)
		}
		return resp.StatusCode, p
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %.200s: %w", b, err)
		}
	}
	return resp.StatusCode, nil
}

// Queue is the waiting-room answer.
type Queue struct {
	Ticket       string `json:"ticket"`
	State        string `json:"state"`
	Position     int64  `json:"position"`
	Ahead        int64  `json:"ahead"`
	ETASeconds   int64  `json:"eta_seconds"`
	RetryAfterMS int64  `json:"retry_after_ms"`
	Pass         string `json:"pass"`
}

// Join joins the waiting room.
func (c *Citizen) Join() (Queue, int, error) {
	var q Queue
	st, err := c.Do("POST", "/api/v1/queue", nil, nil, &q)
	return q, st, err
}

// Status polls the waiting room; when admitted it keeps the pass.
func (c *Citizen) Status() (Queue, error) {
	var q Queue
	_, err := c.Do("GET", "/api/v1/queue/status", nil, nil, &q)
	if err == nil && q.Pass != "" {
		c.Pass = q.Pass
	}
	return q, err
}

// Booking is one booking as the API returns it.
type Booking struct {
	ID        int64  `json:"id"`
	Reference string `json:"reference"`
	Dose      int    `json:"dose"`
	SlotID    int64  `json:"slot_id"`
	Status    string `json:"status"`
	StartsAt  string `json:"starts_at"`
	Clinic    struct {
		ID int64 `json:"id"`
	} `json:"clinic"`
}

// Confirmation is the answer of a booking write.
type Confirmation struct {
	Bookings []Booking `json:"bookings"`
	Replayed bool      `json:"replayed"`
}

// Book books slot with an Idempotency-Key.
func (c *Citizen) Book(slot int64, key string) (Confirmation, int, error) {
	var out Confirmation
	st, err := c.Do("POST", "/api/v1/bookings", http.Header{"Idempotency-Key": {key}}, map[string]int64{"slot_id": slot}, &out)
	return out, st, err
}

// Slot is a bookable time found by FindSlot.
type Slot struct {
	ID       int64  `json:"id"`
	StartsAt string `json:"starts_at"`
	Remain   int    `json:"remaining"`
}

// FindSlots returns up to n slots with room for this person (the search
// answers for the signed-in person's cohort), skipping the given ids.
func (c *Citizen) FindSlots(sigungu string, n int, skip map[int64]bool) ([]Slot, error) {
	var page struct {
		Clinics []struct {
			ID   int64 `json:"id"`
			Days []struct {
				Date      string `json:"date"`
				Remaining int    `json:"remaining"`
			} `json:"days"`
		} `json:"clinics"`
	}
	q := "/api/v1/clinics?available=true&limit=50"
	if sigungu != "" {
		q += "&sigungu=" + sigungu
	} else {
		q += "&near=37.5665,126.978&radius_km=50"
	}
	if _, err := c.Do("GET", q, nil, nil, &page); err != nil {
		return nil, err
	}
	var out []Slot
	for _, cl := range page.Clinics {
		for _, d := range cl.Days {
			if d.Remaining == 0 {
				continue
			}
			var sl struct {
				Slots []Slot `json:"slots"`
			}
			if _, err := c.Do("GET", fmt.Sprintf("/api/v1/clinics/%d/slots?date=%s", cl.ID, d.Date), nil, nil, &sl); err != nil {
				return nil, err
			}
			for _, s := range sl.Slots {
				if s.Remain > 0 && !skip[s.ID] {
					out = append(out, s)
					if len(out) == n {
						return out, nil
					}
				}
			}
		}
	}
	return out, nil
}

// Until calls cond every interval until it returns true or timeout passes;
// it reports whether cond became true. Tests wait on conditions with it,
// never on fixed sleeps.
func Until(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
		}
	}
}
