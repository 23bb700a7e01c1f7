package web

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/identity"
)

// windowView is a booking window as pages show it.
type windowView struct {
	vaxbook.Window
	Digits   []int // birth-day digits of a rotation window (nil: everyone)
	Rotation bool
	Open     bool // open at the page's now
}

func newWindowView(w vaxbook.Window, now time.Time) windowView {
	return windowView{Window: w, Digits: predicateDigits(w.Who), Rotation: w.Kind == vaxbook.WindowRotation, Open: w.Contains(now)}
}

// providerView is one identity provider with its traffic light.
type providerView struct {
	Name, Title string
	Light       identity.Light
	// Alt and AltTitle name a better provider right now (for a light that
	// is not green).
	Alt, AltTitle string
}

func providerViews(lights []identity.ProviderLight) []providerView {
	titles := map[string]string{}
	for _, l := range lights {
		titles[l.Name] = l.Title
	}
	out := make([]providerView, 0, len(lights))
	for _, l := range lights {
		pv := providerView{Name: l.Name, Title: l.Title, Light: l.Light}
		if l.Light != identity.Green && l.Alternative != "" {
			pv.Alt, pv.AltTitle = l.Alternative, titles[l.Alternative]
		}
		out = append(out, pv)
	}
	return out
}

// providerLights returns the identity providers' lights at now (none without
// identity).
func (s *Server) providerLights(now time.Time) []providerView {
	if s.cfg.Identity == nil {
		return nil
	}
	return providerViews(s.cfg.Identity.Providers(now))
}

// remainingTotal is the country's dose-1 places open from today. Every
// visitor's landing page shows it, so it is recomputed at most once a
// second (a walk over the availability index).
func (s *Server) remainingTotal(now time.Time) int64 {
	if c := s.remaining.Load(); c != nil && !now.Before(c.at) && now.Sub(c.at) < time.Second {
		return c.total
	}
	t := s.engine.Remaining(now).Total
	s.remaining.Store(&remainingAt{at: now, total: t})
	return t
}

type remainingAt struct {
	at    time.Time
	total int64
}

// landingPage is the data of the landing page.
type landingPage struct {
	Campaign   string // title in the page's language
	OpenNow    []windowView
	Next       *windowView
	Dose1      vaxbook.DateRange
	Doses      int
	Interval   int
	Clinics    int
	Remaining  int64 // dose-1 places open from today, every clinic
	Providers  []providerView
	Busy       []providerView // providers that are not green and have a better alternative
	SignedIn   bool
	Birth      string
	National   bool
	BirthError string
	Answer     *birthAnswer
}

// birthAnswer tells a visitor which booking window is theirs.
type birthAnswer struct {
	Birth       vaxbook.Date
	Digit       int
	Code        vaxbook.Code
	Window      *windowView
	Windows     []windowView // every window for them, in order
	Group       vaxbook.Group
	PreQueueMin int
}

// landing is GET / (and POST / with a birth date: which day is mine?). The
// answer is computed on the server with the server's clock; the birth date
// is not stored or logged.
func (s *Server) landing(w http.ResponseWriter, r *http.Request, v *view) error {
	now := v.Now
	camp := s.engine.Campaign()
	p := landingPage{
		Campaign: campaignTitle(camp, v.Lang), Dose1: campaign.Dose1Dates(camp), Doses: camp.Doses,
		Interval: camp.DoseIntervalDays, Clinics: s.engine.Stats().Clinics, Remaining: s.remainingTotal(now),
		Providers: s.providerLights(now), National: true,
	}
	for _, win := range camp.Windows {
		switch {
		case win.Contains(now):
			p.OpenNow = append(p.OpenNow, newWindowView(win, now))
		case win.Opens.After(now) && (p.Next == nil || win.Opens.Before(p.Next.Opens)):
			wv := newWindowView(win, now)
			p.Next = &wv
		}
	}
	for _, pv := range p.Providers {
		if pv.Alt != "" {
			p.Busy = append(p.Busy, pv)
		}
	}
	if _, err := r.Cookie(identity.SessionCookie); err == nil {
		if c, err := s.signedIn(r, now); err == nil {
			p.SignedIn = true
			v.Sess = &c.sess
		}
	}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		p.Birth = strings.TrimSpace(r.PostFormValue("birth"))
		nat := vaxbook.Nationality(r.PostFormValue("nationality"))
		if nat == "" {
			nat = vaxbook.National
		}
		p.National = nat == vaxbook.National
		birth, err := vaxbook.ParseDate(p.Birth)
		switch {
		case err != nil || birth.After(vaxbook.DateOf(now.In(v.loc))):
			p.BirthError = v.T("landing.birth_invalid")
			status = http.StatusBadRequest
		case nat != vaxbook.National && nat != vaxbook.RegisteredAlien:
			p.BirthError = v.T("landing.nationality_invalid")
			status = http.StatusBadRequest
		default:
			p.Answer = answerBirth(camp, birth, nat, now)
		}
	}
	return render(w, v, status, "landing", "title.landing", p)
}

// answerBirth says which window is a person's, by the campaign's rules at now.
func answerBirth(camp vaxbook.Campaign, birth vaxbook.Date, nat vaxbook.Nationality, now time.Time) *birthAnswer {
	d := campaign.Check(camp, birth, nat, now)
	a := &birthAnswer{Birth: birth, Digit: birth.Day % 10, Code: d.Code, Group: camp.Group,
		PreQueueMin: int(campaign.PreQueue(camp) / time.Minute)}
	if d.Window != nil {
		wv := newWindowView(*d.Window, now)
		a.Window = &wv
	}
	for _, win := range campaign.WindowsFor(camp, birth, nat) {
		a.Windows = append(a.Windows, newWindowView(win, now))
	}
	return a
}

// campaignTitle is the campaign's title in lang (Korean, then any).
func campaignTitle(c vaxbook.Campaign, lang string) string {
	if t := c.Title[lang]; t != "" {
		return t
	}
	if t := c.Title["ko"]; t != "" {
		return t
	}
	keys := make([]string, 0, len(c.Title))
	for k := range c.Title {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) > 0 {
		return c.Title[keys[0]]
	}
	return c.ID
}
