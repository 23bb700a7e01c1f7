package web

import (
	"net/http"
	"time"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/identity"
)

// refusedPage is the data of /signin/refused: why a verified sign-in did not
// let the person in, what to do, and their window in KST.
type refusedPage struct {
	Code    vaxbook.Code
	Heading string
	Message string
	Hint    string
	// Retry offers the providers again (the sign-in itself failed).
	Retry bool
	// Known is false when the details of the refusal are gone (the outcome
	// cookie expired or the link was shared): the page then says only what
	// the code means.
	Known       bool
	Window      *windowView
	Group       vaxbook.Group
	Provider    string // title of the provider the person used
	LockedAt    time.Time
	LockedWith  string // title of the provider the first device used
	Alt         *providerView
	Providers   []providerView
	PreQueueMin int
}

// signinRefused is GET /signin/refused?code=…: one page per refusal code.
// The details (window, lock, alternative provider) come from the sealed
// outcome cookie identity set at the refusal, when it matches the code.
func (s *Server) signinRefused(w http.ResponseWriter, r *http.Request, v *view) error {
	code := vaxbook.Code(r.URL.Query().Get("code"))
	var o *identity.Outcome
	if s.cfg.Identity != nil {
		if out, ok := s.cfg.Identity.Outcome(r, v.Now); ok && out.Code == code {
			o = &out
		}
	}
	var lights []identity.ProviderLight
	if s.cfg.Identity != nil {
		lights = s.cfg.Identity.Providers(v.Now)
	}
	p := buildRefused(v, code, o, lights, s.engine.Campaign())
	return render(w, v, identity.Status(p.Code), "refused", "title.refused", p)
}

// buildRefused assembles the refusal page from the code, the outcome (nil
// when unknown) and the providers' lights at the view's now.
func buildRefused(v *view, code vaxbook.Code, o *identity.Outcome, lights []identity.ProviderLight, camp vaxbook.Campaign) refusedPage {
	if _, known := titles[code]; !known || code == "" {
		code = vaxbook.CodeAuthFailed
	}
	p := refusedPage{Code: code, Message: v.Code(code), Known: o != nil, Group: camp.Group, Hint: v.Hint(code),
		Providers: providerViews(lights), PreQueueMin: int(campaign.PreQueue(camp) / time.Minute), Heading: v.T("refused.h.default")}
	if k := "refused.h." + string(code); v.cat.Has(k) {
		p.Heading = v.T(k)
	}
	switch code {
	case vaxbook.CodeAuthFailed, vaxbook.CodeProviderUnavailable, vaxbook.CodeUnavailable, vaxbook.CodeInternal,
		vaxbook.CodeNotFound, vaxbook.CodeSessionExpired, vaxbook.CodeNotSignedIn, vaxbook.CodeCSRF:
		p.Retry = true
	}
	title := map[string]string{}
	for _, pv := range p.Providers {
		title[pv.Name] = pv.Title
	}
	name := func(n string) string {
		if t := title[n]; t != "" {
			return t
		}
		return n
	}
	if o == nil {
		return p
	}
	if o.Window != nil {
		wv := newWindowView(*o.Window, v.Now)
		p.Window = &wv
	}
	p.Provider = name(o.Provider)
	p.LockedAt, p.LockedWith = o.LockedAt, name(o.LockedWith)
	if o.Alternative != "" {
		for _, pv := range p.Providers {
			if pv.Name == o.Alternative {
				alt := pv
				p.Alt = &alt
			}
		}
	}
	return p
}
