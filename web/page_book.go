package web

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"vaxbook"
	"vaxbook/booking"
	"vaxbook/campaign"
)

// The booking pages are the booking stage: they need a signed-in person
// with a valid waiting-room pass (anyone without one is sent through the
// waiting room and comes back to the page they asked for). Writes go through
// stageWrite, the same checks as the JSON API.

// stageCitizen returns the signed-in person of a booking page. ok is false
// when the person has no valid pass and was sent to the waiting room.
func (s *Server) stageCitizen(w http.ResponseWriter, r *http.Request, v *view) (citizen, bool, error) {
	c, err := s.signedIn(r, v.Now)
	if err != nil {
		return citizen{}, false, err
	}
	v.Sess = &c.sess
	if !s.hasPass(r, c, v.Now) {
		toQueue(w, r, r.URL.RequestURI())
		return c, false, nil
	}
	return c, true, nil
}

// hasPass reports whether the request carries a pass that is valid now for
// this session and person.
func (s *Server) hasPass(r *http.Request, c citizen, now time.Time) bool {
	ck, err := r.Cookie(passCookie)
	if err != nil || ck.Value == "" || s.cfg.WaitRoom == nil {
		return false
	}
	_, err = s.cfg.WaitRoom.VerifyPass(r.Context(), ck.Value, c.sess.ID, c.p.ID, now)
	return err == nil
}

// activeBookings keeps the active bookings (dose order is kept).
func activeBookings(vs []booking.View) []booking.View {
	var out []booking.View
	for _, b := range vs {
		if b.Status == vaxbook.BookingActive {
			out = append(out, b)
		}
	}
	return out
}

// regionNames maps 시군구 codes to names in a language, and 시도 codes too.
type regionNames struct {
	sigungu map[string]string
	sido    map[string]string
	sidoOf  map[string]string // 시군구 → 시도
}

func (s *Server) regionNames(lang string) regionNames {
	rn := regionNames{sigungu: map[string]string{}, sido: map[string]string{}, sidoOf: map[string]string{}}
	for _, g := range s.engine.Regions() {
		sd, sg := g.SidoKo, g.SigunguKo
		if lang == "en" {
			sd, sg = g.SidoEn, g.SigunguEn
		}
		rn.sido[g.SidoCode], rn.sigungu[g.SigunguCode], rn.sidoOf[g.SigunguCode] = sd, sg, g.SidoCode
	}
	return rn
}

// option is one <option>.
type option struct {
	Value, Label string
	Selected     bool
}

// clinicRow is one search result.
type clinicRow struct {
	booking.ClinicView
	Region   string
	Href     string
	Distance string
}

// searchPage is the data of the clinic search page.
type searchPage struct {
	Change     *booking.View // the dose-1 booking being changed
	Sido       []option
	Sigungu    []option
	SidoCode   string
	Q          string
	Near       string
	Home       bool   // showing the home district because nothing was asked
	GeoFailed  bool   // the browser gave no location: home district instead
	Prompt     bool   // a 시도 was chosen but no 시군구
	Err        string // why the search was refused
	ErrParam   string
	Searched   bool
	Results    []clinicRow
	Total      int
	MoreHref   string
	ChangeID   int64
	HomeLabel  string
	HomeHref   string
	ChangeFrom string // "&change=…" for links
}

// bookSearch is GET /book: clinics by 시도/시군구, by name or near a place
// (the browser's location, given by script), each with what remains for the
// person's cohort. With nothing asked it shows the person's home district.
func (s *Server) bookSearch(w http.ResponseWriter, r *http.Request, v *view) error {
	c, ok, err := s.stageCitizen(w, r, v)
	if err != nil || !ok {
		return err
	}
	q := r.URL.Query()
	p := searchPage{Q: q.Get("q"), Near: q.Get("near"), GeoFailed: q.Get("geo") == "failed"}
	if err := s.changeContext(r, c, q.Get("change"), &p.Change); err != nil {
		return err
	}
	if p.Change != nil {
		p.ChangeID = p.Change.ID
		p.ChangeFrom = "&change=" + strconv.FormatInt(p.ChangeID, 10)
	} else if vs, err := s.engine.Mine(r.Context(), c.p); err != nil {
		return err
	} else if act := activeBookings(vs); len(act) > 0 {
		return vaxbook.Errorf(vaxbook.CodeAlreadyBooked, "already booked")
	}
	rn := s.regionNames(v.Lang)
	sigungu := q.Get("sigungu")
	p.SidoCode = q.Get("sido")
	if sd, ok := rn.sidoOf[sigungu]; ok {
		p.SidoCode = sd
	} else if sigungu != "" && len(sigungu) == 5 {
		p.Err, p.ErrParam = v.T("param.sigungu"), "sigungu"
		sigungu = ""
	}
	if _, ok := rn.sido[p.SidoCode]; !ok {
		p.SidoCode = ""
	}
	home := c.p.Sigungu
	p.HomeLabel = rn.sigungu[home]
	p.HomeHref = "/book?sigungu=" + url.QueryEscape(home) + p.ChangeFrom
	switch {
	case sigungu == "" && p.Near == "" && p.Q == "" && p.SidoCode == "" && p.Err == "":
		sigungu, p.Home = home, true
		p.SidoCode = rn.sidoOf[home]
	case sigungu == "" && p.Near == "" && p.Q == "" && p.Err == "":
		p.Prompt = true
	}
	p.Sido, p.Sigungu = s.regionOptions(v.Lang, p.SidoCode, sigungu)
	if !p.Prompt && p.Err == "" {
		api := url.Values{"available": {"true"}, "limit": {"20"}}
		for k, val := range map[string]string{"sigungu": sigungu, "near": p.Near, "q": p.Q, "cursor": q.Get("cursor")} {
			if val != "" {
				api.Set(k, val)
			}
		}
		cp, err := parseClinicParams(api)
		if err == nil {
			var res booking.Result
			res, err = s.searchClinics(cp, campaign.Cohort(s.engine.Campaign(), c.p.BirthDate))
			if err == nil {
				p.Searched, p.Total = true, res.Total
				for _, cv := range res.Clinics {
					row := clinicRow{ClinicView: cv, Region: rn.sigungu[cv.SigunguCode],
						Href: fmt.Sprintf("/book/clinic/%d%s", cv.ID, changeQuery(p.ChangeID))}
					if cv.DistanceKm != nil {
						row.Distance = v.T("search.km", *cv.DistanceKm)
					}
					p.Results = append(p.Results, row)
				}
				if res.NextCursor != "" {
					more := url.Values{}
					for k, val := range q {
						if k != "cursor" && k != "lang" {
							more[k] = val
						}
					}
					if p.Home {
						more.Set("sigungu", home)
					}
					more.Set("cursor", res.NextCursor)
					p.MoreHref = "/book?" + more.Encode()
				}
			}
		}
		var ve *vaxbook.Error
		if errors.As(err, &ve) && ve.Code == vaxbook.CodeInvalid {
			p.ErrParam = ve.Param
			p.Err = v.T("param." + ve.Param)
			if !v.cat.Has("param." + ve.Param) {
				p.Err = v.Code(vaxbook.CodeInvalid)
			}
		} else if err != nil {
			return err
		}
	}
	status := http.StatusOK
	if p.Err != "" {
		status = http.StatusBadRequest
	}
	return render(w, v, status, "search", "title.search", p)
}

// regionOptions are the 시도 and (for the chosen 시도) 시군구 options.
func (s *Server) regionOptions(lang, sido, sigungu string) (sidos, sigungus []option) {
	seen := map[string]bool{}
	for _, g := range s.engine.Regions() {
		sd, sg := g.SidoKo, g.SigunguKo
		if lang == "en" {
			sd, sg = g.SidoEn, g.SigunguEn
		}
		if !seen[g.SidoCode] {
			seen[g.SidoCode] = true
			sidos = append(sidos, option{Value: g.SidoCode, Label: sd, Selected: g.SidoCode == sido})
		}
		if g.SidoCode == sido {
			sigungus = append(sigungus, option{Value: g.SigunguCode, Label: sg, Selected: g.SigunguCode == sigungu})
		}
	}
	sort.SliceStable(sidos, func(i, j int) bool { return sidos[i].Value < sidos[j].Value })
	return sidos, sigungus
}

// changeContext finds the active dose-1 booking a change names (the
// change=ID parameter), or leaves *into nil when there is none.
func (s *Server) changeContext(r *http.Request, c citizen, param string, into **booking.View) error {
	if param == "" {
		return nil
	}
	id, err := parseID("change", param)
	if err != nil {
		return err
	}
	vs, err := s.engine.Mine(r.Context(), c.p)
	if err != nil {
		return err
	}
	for _, b := range activeBookings(vs) {
		if b.ID == id {
			b := b
			*into = &b
			return nil
		}
	}
	return vaxbook.Errorf(vaxbook.CodeNotFound, "no active booking %d of yours", id)
}

// dayOption is one vaccination day of a clinic.
type dayOption struct {
	Date      vaxbook.Date
	Remaining int
	Href      string
	Selected  bool
}

// hourGroup is the slots of one hour.
type hourGroup struct {
	Hour  string
	Slots []slotOption
}

// slotOption is one time the person may pick.
type slotOption struct {
	booking.SlotView
	Dose2At time.Time
}

// clinicPage is the data of the slot picker.
type clinicPage struct {
	Clinic    booking.ClinicView
	Region    string
	Days      []dayOption
	Date      vaxbook.Date
	Hours     []hourGroup
	Available int
	Change    *booking.View
	ChangeID  int64
	Err       string // a refusal of the last attempt (slot full, …)
	BackHref  string
}

// bookClinic is GET /book/clinic/{id}?date=…: the clinic's vaccination days
// with what remains for the person, and the chosen day's times by hour.
func (s *Server) bookClinic(w http.ResponseWriter, r *http.Request, v *view) error {
	c, ok, err := s.stageCitizen(w, r, v)
	if err != nil || !ok {
		return err
	}
	id, err := parseID("id", r.PathValue("id"))
	if err != nil {
		return vaxbook.Errorf(vaxbook.CodeNotFound, "no clinic %q", clip(r.PathValue("id")))
	}
	cv, err := s.engine.Clinic(id)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	p := clinicPage{Clinic: cv, Region: s.regionNames(v.Lang).sigungu[cv.SigunguCode]}
	if err := s.changeContext(r, c, q.Get("change"), &p.Change); err != nil {
		return err
	}
	change := ""
	if p.Change != nil {
		p.ChangeID = p.Change.ID
		change = "&change=" + strconv.FormatInt(p.ChangeID, 10)
	}
	p.BackHref = "/book?sigungu=" + url.QueryEscape(cv.SigunguCode) + change
	if code := vaxbook.Code(q.Get("err")); code != "" {
		if _, known := titles[code]; known {
			p.Err = v.Code(code)
		}
	}
	camp := s.engine.Campaign()
	cohort := campaign.Cohort(camp, c.p.BirthDate)
	want, _ := vaxbook.ParseDate(q.Get("date"))
	dates := campaign.Dose1Dates(camp)
	bySlot := map[vaxbook.Date][]booking.SlotView{}
	for d := dates.From; !d.After(dates.To); d = d.AddDays(1) {
		slots, err := s.engine.Slots(id, d, cohort, v.Now)
		if err != nil {
			return err
		}
		n := 0
		for _, sl := range slots {
			n += sl.Remaining
		}
		bySlot[d] = slots
		p.Days = append(p.Days, dayOption{Date: d, Remaining: n,
			Href: fmt.Sprintf("/book/clinic/%d?date=%s%s", id, d, change)})
		if p.Date.IsZero() && n > 0 && want.IsZero() {
			p.Date = d
		}
	}
	if !want.IsZero() && dates.Contains(want) {
		p.Date = want
	}
	for i := range p.Days {
		p.Days[i].Selected = p.Days[i].Date == p.Date
	}
	var cur *hourGroup
	for _, sl := range bySlot[p.Date] {
		if sl.Remaining <= 0 {
			continue
		}
		p.Available += sl.Remaining
		h := sl.StartsAt.In(v.loc).Format("15:00")
		if cur == nil || cur.Hour != h {
			p.Hours = append(p.Hours, hourGroup{Hour: h})
			cur = &p.Hours[len(p.Hours)-1]
		}
		so := slotOption{SlotView: sl}
		if sl.Dose2 != nil {
			so.Dose2At = sl.Dose2.StartsAt
		}
		cur.Slots = append(cur.Slots, so)
	}
	return render(w, v, http.StatusOK, "clinic", "title.clinic", p)
}

// confirmPage is the data of the confirmation step.
type confirmPage struct {
	Clinic   booking.ClinicView
	Region   string
	Slot     booking.SlotView
	Date     vaxbook.Date
	Change   *booking.View
	ChangeID int64
	Idem     string
	BackHref string
}

// bookConfirm is GET /book/confirm?clinic=…&date=…&slot=…[&change=…]: what
// will be booked, and the form that books it.
func (s *Server) bookConfirm(w http.ResponseWriter, r *http.Request, v *view) error {
	c, ok, err := s.stageCitizen(w, r, v)
	if err != nil || !ok {
		return err
	}
	q := r.URL.Query()
	p, err := s.confirmData(r, v, c, q.Get("clinic"), q.Get("date"), q.Get("slot"), q.Get("change"))
	if err != nil {
		return err
	}
	p.Idem = newIdempotencyKey()
	return render(w, v, http.StatusOK, "confirm", "title.confirm", p)
}

// confirmData looks up what a confirmation names.
func (s *Server) confirmData(r *http.Request, v *view, c citizen, clinic, date, slot, change string) (confirmPage, error) {
	var p confirmPage
	cid, err1 := parseID("clinic", clinic)
	sid, err2 := parseID("slot", slot)
	d, err3 := vaxbook.ParseDate(date)
	if err := errors.Join(err1, err2, err3); err != nil {
		return p, vaxbook.Errorf(vaxbook.CodeNotFound, "the confirmation link is incomplete")
	}
	cv, err := s.engine.Clinic(cid)
	if err != nil {
		return p, err
	}
	p.Clinic, p.Date, p.Region = cv, d, s.regionNames(v.Lang).sigungu[cv.SigunguCode]
	if err := s.changeContext(r, c, change, &p.Change); err != nil {
		return p, err
	}
	chq := ""
	if p.Change != nil {
		p.ChangeID = p.Change.ID
		chq = "&change=" + strconv.FormatInt(p.ChangeID, 10)
	}
	p.BackHref = fmt.Sprintf("/book/clinic/%d?date=%s%s", cid, d, chq)
	slots, err := s.engine.Slots(cid, d, campaign.Cohort(s.engine.Campaign(), c.p.BirthDate), v.Now)
	if err != nil {
		return p, err
	}
	for _, sl := range slots {
		if sl.ID == sid {
			p.Slot = sl
			return p, nil
		}
	}
	return p, vaxbook.Errorf(vaxbook.CodeSlotNotBookable, "slot %d is not a time of clinic %d on %s", sid, cid, d)
}

// changeQuery is "?change=ID" for links of a change, "" otherwise.
func changeQuery(id int64) string {
	if id == 0 {
		return ""
	}
	return "?change=" + strconv.FormatInt(id, 10)
}

// newIdempotencyKey makes the key a confirmation form carries, so that a
// double submit books once.
func newIdempotencyKey() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return "page-" + base64.RawURLEncoding.EncodeToString(b)
}

// bookSubmit is POST /book/confirm: book (or change) through stageWrite,
// the API's own checks (session, CSRF, eligibility now, device lock, pass,
// idempotency key). Success → the booking's page; a spent or missing pass →
// the waiting room and back; a full slot → the slot picker with the reason.
func (s *Server) bookSubmit(w http.ResponseWriter, r *http.Request, v *view) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		return vaxbook.Errorf(vaxbook.CodeTooLarge, "the form is too large")
	}
	f := r.PostForm
	slot, err := parseID("slot", f.Get("slot"))
	if err != nil {
		return err
	}
	var change int64
	if f.Get("change") != "" {
		if change, err = parseID("change", f.Get("change")); err != nil {
			return err
		}
	}
	r.Header.Set(headerIdempotency, f.Get("idem"))
	back := url.Values{"clinic": {f.Get("clinic")}, "date": {f.Get("date")}, "slot": {f.Get("slot")}}
	if change > 0 {
		back.Set("change", strconv.FormatInt(change, 10))
	}
	var res writeResult
	if change > 0 {
		res, err = s.stageWrite(w, r, http.StatusOK, booking.Write{Kind: vaxbook.MutationChange, BookingID: change, SlotID: slot}, func(st stage, now time.Time) (booking.Confirmation, error) {
			return s.engine.Change(r.Context(), st.p, change, slot, st.idem, now)
		})
	} else {
		res, err = s.stageWrite(w, r, http.StatusCreated, booking.Write{Kind: vaxbook.MutationBook, SlotID: slot}, func(st stage, now time.Time) (booking.Confirmation, error) {
			return s.engine.Book(r.Context(), st.p, slot, st.idem, now)
		})
	}
	if err != nil {
		switch vaxbook.ErrorCode(err) {
		case vaxbook.CodePassRequired, vaxbook.CodePassInvalid, vaxbook.CodePassExpired:
			toQueue(w, r, "/book/confirm?"+back.Encode())
			return nil
		case vaxbook.CodeSlotFull, vaxbook.CodeDose2Unavailable, vaxbook.CodeSlotNotBookable:
			if cid, err2 := parseID("clinic", f.Get("clinic")); err2 == nil {
				again := url.Values{"err": {string(vaxbook.ErrorCode(err))}, "date": {f.Get("date")}}
				if change > 0 {
					again.Set("change", strconv.FormatInt(change, 10))
				}
				http.Redirect(w, r, fmt.Sprintf("/book/clinic/%d?%s", cid, again.Encode()), http.StatusSeeOther)
				return nil
			}
		}
		return err
	}
	if len(res.body.Bookings) == 0 {
		return fmt.Errorf("web: booking write answered no bookings")
	}
	http.Redirect(w, r, fmt.Sprintf("/bookings/%d?done=1", res.body.Bookings[0].ID), http.StatusSeeOther)
	return nil
}
