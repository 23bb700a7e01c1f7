package web

import (
	"net/http"
	"sort"
	"time"

	"vaxbook"
	"vaxbook/booking"
	"vaxbook/campaign"
	"vaxbook/identity"
)

// campaignJSON is GET /api/v1/campaigns/current.
type campaignJSON struct {
	vaxbook.Campaign
	Now        string            `json:"now"`         // the server's clock: the only clock that counts
	OpenNow    []windowNowJSON   `json:"open_now"`    // windows open at Now
	NextWindow *windowNowJSON    `json:"next_window"` // the next window to open after Now, if any
	Dose1Dates vaxbook.DateRange `json:"dose1_dates"`
}

type windowNowJSON struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Opens  string `json:"opens"`
	Closes string `json:"closes"`
	Digits []int  `json:"digits,omitempty"` // birth digits the window is for (rotation windows)
}

func windowNow(w vaxbook.Window, loc *time.Location) windowNowJSON {
	return windowNowJSON{ID: w.ID, Kind: w.Kind, Opens: w.Opens.In(loc).Format(timeFormat),
		Closes: w.Closes.In(loc).Format(timeFormat), Digits: predicateDigits(w.Who)}
}

// predicateDigits returns the birth digits a predicate names (nil for any).
func predicateDigits(p vaxbook.Predicate) []int {
	switch p.Kind {
	case vaxbook.PredicateBirthDayDigit, vaxbook.PredicateBirthYearDigit:
		return p.Digits
	case vaxbook.PredicateAll:
		for _, q := range p.All {
			if d := predicateDigits(q); d != nil {
				return d
			}
		}
	}
	return nil
}

func (s *Server) currentCampaign(w http.ResponseWriter, r *http.Request) {
	c := s.engine.Campaign()
	loc, err := campaign.Location(c)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	now := s.clock.Now()
	out := campaignJSON{Campaign: c, Now: now.In(loc).Format(timeFormat), OpenNow: []windowNowJSON{}, Dose1Dates: campaign.Dose1Dates(c)}
	for _, win := range c.Windows {
		if win.Contains(now) {
			out.OpenNow = append(out.OpenNow, windowNow(win, loc))
		} else if win.Opens.After(now) && (out.NextWindow == nil || win.Opens.Format(timeFormat) < out.NextWindow.Opens) {
			wn := windowNow(win, loc)
			out.NextWindow = &wn
		}
	}
	writeJSON(w, http.StatusOK, out)
}

type sidoJSON struct {
	Code    string        `json:"code"`
	Ko      string        `json:"ko"`
	En      string        `json:"en"`
	Sigungu []sigunguJSON `json:"sigungu"`
}

type sigunguJSON struct {
	Code string  `json:"code"`
	Ko   string  `json:"ko"`
	En   string  `json:"en"`
	Lat  float64 `json:"lat"`
	Lng  float64 `json:"lng"`
}

func (s *Server) regions(w http.ResponseWriter, r *http.Request) {
	byCode := map[string]*sidoJSON{}
	var order []string
	for _, g := range s.engine.Regions() {
		sd := byCode[g.SidoCode]
		if sd == nil {
			sd = &sidoJSON{Code: g.SidoCode, Ko: g.SidoKo, En: g.SidoEn}
			byCode[g.SidoCode] = sd
			order = append(order, g.SidoCode)
		}
		sd.Sigungu = append(sd.Sigungu, sigunguJSON{Code: g.SigunguCode, Ko: g.SigunguKo, En: g.SigunguEn, Lat: g.Lat, Lng: g.Lng})
	}
	sort.Strings(order)
	out := struct {
		Sido []sidoJSON `json:"sido"`
	}{Sido: make([]sidoJSON, 0, len(order))}
	for _, code := range order {
		out.Sido = append(out.Sido, *byCode[code])
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, out)
}

// askerCohort is the cohort whose remaining places a search shows: the
// signed-in person's, or -1 (totals) for anonymous visitors.
func (s *Server) askerCohort(r *http.Request) int {
	if p, ok := s.personOf(r); ok {
		return campaign.Cohort(s.engine.Campaign(), p.BirthDate)
	}
	return -1
}

// personOf returns the signed-in person of a request, if any.
func (s *Server) personOf(r *http.Request) (vaxbook.Person, bool) {
	if s.cfg.Identity == nil {
		return vaxbook.Person{}, false
	}
	if _, err := r.Cookie(identity.SessionCookie); err != nil {
		return vaxbook.Person{}, false // anonymous: no store read
	}
	c, err := s.signedIn(r, s.clock.Now())
	if err != nil {
		return vaxbook.Person{}, false
	}
	return c.p, true
}

func (s *Server) clinics(w http.ResponseWriter, r *http.Request) {
	p, err := parseClinicParams(r.URL.Query())
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	res, err := s.searchClinics(p, s.askerCohort(r))
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// searchClinics answers a validated clinic query for a cohort (-1: totals)
// at the server's now; the API and the search page share it.
func (s *Server) searchClinics(p clinicParams, cohort int) (booking.Result, error) {
	q := booking.Query{
		Sigungu: p.Sigungu, Date: p.Date, Vaccine: p.Vaccine, Available: p.Available, Q: p.Q,
		Limit: p.Limit, Cursor: p.Cursor, Cohort: cohort, At: s.clock.Now(),
	}
	if p.Near {
		q.Near = &booking.LatLng{Lat: p.Lat, Lng: p.Lng}
		q.RadiusKm = p.RadiusKm
	}
	if !p.Date.IsZero() && !campaign.Dose1Dates(s.engine.Campaign()).Contains(p.Date) {
		return booking.Result{}, vaxbook.InvalidParam("date", "date %s is not a dose-1 vaccination date of this campaign", p.Date)
	}
	res, err := s.engine.Search(q)
	if err != nil {
		return booking.Result{}, err
	}
	if res.Clinics == nil {
		res.Clinics = []booking.ClinicView{}
	}
	return res, nil
}

func (s *Server) clinic(w http.ResponseWriter, r *http.Request) {
	id, err := parseID("id", r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	cv, err := s.engine.Clinic(id)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, cv)
}

func (s *Server) clinicSlots(w http.ResponseWriter, r *http.Request) {
	id, err := parseID("id", r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	v := r.URL.Query()
	for k := range v {
		if k != "date" && k != "lang" {
			writeProblem(w, r, s.log, vaxbook.InvalidParam(k, "unknown parameter %q", k))
			return
		}
	}
	ds := v.Get("date")
	if ds == "" {
		writeProblem(w, r, s.log, vaxbook.InvalidParam("date", "date=YYYY-MM-DD is required"))
		return
	}
	d, err := vaxbook.ParseDate(ds)
	if err != nil {
		writeProblem(w, r, s.log, vaxbook.InvalidParam("date", "date must be YYYY-MM-DD and exist"))
		return
	}
	slots, err := s.engine.Slots(id, d, s.askerCohort(r), s.clock.Now())
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	if slots == nil {
		slots = []booking.SlotView{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"clinic_id": id, "date": d, "slots": slots})
}
