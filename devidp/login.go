package devidp

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"vaxbook"
)

// sampleSize is how many people, spread over the id range, the login page
// classifies to show examples of each eligibility group.
const (
	sampleSize    = 400
	perGroup      = 6
	searchResults = 20
)

type pageEntry struct {
	Person
	Code  vaxbook.Code
	Opens string // the person's window opening, in the campaign's zone
}

type pageGroup struct {
	Title  string
	People []pageEntry
}

type loginPage struct {
	Title     string
	LoginPath string
	ReqID     string
	Query     string
	Notice    string
	Results   []pageEntry
	Groups    []pageGroup
}

var loginTmpl = template.Must(template.New("login").Funcs(template.FuncMap{
	"dict": func(path, reqID string, e pageEntry) map[string]any {
		return map[string]any{"Path": path, "ReqID": reqID, "E": e}
	},
}).Parse(`<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Title}} 본인인증 (dev)</title>
<style>
body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
h1 small{font-size:.55em;color:#777;font-weight:normal}
.notice{background:#fff3cd;padding:.6rem .8rem;border-radius:.3rem}
ul{list-style:none;padding:0} li{margin:.25rem 0}
li form{display:inline} button.person{font:inherit;padding:.35rem .7rem;cursor:pointer}
.code{color:#666;font-size:.85em;margin-left:.4rem}
input[name=q]{font:inherit;padding:.35rem;width:18rem}
</style></head><body>
<h1>{{.Title}} 본인인증 <small>개발용 신원 제공자 · development identity provider</small></h1>
{{if .Notice}}<p class="notice">{{.Notice}}</p>{{end}}
<form method="get" action="{{.LoginPath}}">
<input type="hidden" name="id" value="{{.ReqID}}">
<input name="q" value="{{.Query}}" placeholder="이름 또는 번호 · name or id" autofocus>
<button>검색 · Search</button>
</form>
{{define "entry"}}<li><form method="post" action="{{.Path}}"><input type="hidden" name="id" value="{{.ReqID}}"><input type="hidden" name="person" value="{{.E.ID}}"><button class="person" type="submit">{{.E.Name}} · {{.E.BirthDate}} · #{{.E.ID}}{{if eq (print .E.Nationality) "FOREIGN"}} · 외국인 foreigner{{end}}</button></form>{{if .E.Code}}<span class="code">{{.E.Code}}{{if .E.Opens}} · {{.E.Opens}}{{end}}</span>{{end}}</li>{{end}}
{{if .Query}}<h2>검색 결과 · Results</h2>
{{if .Results}}<ul>{{range .Results}}{{template "entry" (dict $.LoginPath $.ReqID .)}}{{end}}</ul>{{else}}<p>아무도 없습니다 · nobody found</p>{{end}}{{end}}
{{range .Groups}}{{if .People}}<h2>{{.Title}}</h2><ul>{{range .People}}{{template "entry" (dict $.LoginPath $.ReqID .)}}{{end}}</ul>{{end}}{{end}}
</body></html>
`))

func (p *provider) login(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		p.loginPage(w, r)
	case http.MethodPost:
		p.loginSubmit(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (p *provider) loginPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	a, ok := p.storage.reqs.get(id)
	if !ok || a.done {
		http.Error(w, "This login has expired or was already used. Go back to the booking site and start again.", http.StatusBadRequest)
		return
	}
	page := loginPage{Title: p.title, LoginPath: p.loginPath, ReqID: id, Query: r.URL.Query().Get("q")}
	if a.loginHint != "" {
		page.Notice = "login_hint " + a.loginHint + ": 그런 사람이 없습니다 · no such person"
	}
	now := p.clock.Now()
	c, check := p.campaign(r)
	classify := func(pe Person) pageEntry {
		e := pageEntry{Person: pe}
		if check != nil {
			d := check(c, pe.BirthDate, pe.Nationality, now)
			e.Code = d.Code
			if d.Window != nil && d.Code != vaxbook.CodeClosed {
				e.Opens = d.Window.Opens.In(zone(c)).Format("01-02 15:04 MST")
			}
		}
		return e
	}
	for _, pe := range search(p.people, page.Query, p.srv.cfg.SearchScan, searchResults) {
		page.Results = append(page.Results, classify(pe))
	}
	page.Groups = p.samples(classify, check != nil)
	var buf bytes.Buffer
	if err := loginTmpl.Execute(&buf, page); err != nil {
		p.srv.log.Error("devidp login page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = buf.WriteTo(w)
}

// campaign returns the campaign and the rule to classify sample people, or
// a nil rule when none is configured or the campaign cannot be read.
func (p *provider) campaign(r *http.Request) (vaxbook.Campaign, CheckFunc) {
	cfg := p.srv.cfg
	if cfg.Campaign == nil || cfg.Check == nil {
		return vaxbook.Campaign{}, nil
	}
	c, err := cfg.Campaign(r.Context())
	if err != nil {
		p.srv.log.Warn("devidp: campaign for the login page", "err", err)
		return vaxbook.Campaign{}, nil
	}
	return c, cfg.Check
}

func zone(c vaxbook.Campaign) *time.Location {
	if loc, err := time.LoadLocation(c.TimeZone); err == nil && c.TimeZone != "" {
		return loc
	}
	return time.UTC
}

// samples picks people spread over the id range and groups them by what the
// campaign says about them now.
func (p *provider) samples(classify func(Person) pageEntry, grouped bool) []pageGroup {
	now := pageGroup{Title: "지금 예약 가능 · May book now"}
	other := pageGroup{Title: "다른 날 · Another day"}
	out := pageGroup{Title: "대상 아님 · Not in the age group"}
	all := pageGroup{Title: "예시 · Examples"}
	n := p.people.Count()
	for i := int64(0); i < sampleSize && i < n; i++ {
		id := 1 + i*n/min(n, sampleSize)
		pe, ok := p.people.Person(id)
		if !ok {
			continue
		}
		e := classify(pe)
		var g *pageGroup
		switch {
		case !grouped:
			g = &all
		case e.Code == vaxbook.CodeEligible:
			g = &now
		case e.Code == vaxbook.CodeNotInGroup:
			g = &out
		default:
			g = &other
		}
		if len(g.People) < perGroup {
			g.People = append(g.People, e)
		}
	}
	if !grouped {
		return []pageGroup{all}
	}
	return []pageGroup{now, other, out}
}

func (p *provider) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	a, ok := p.storage.reqs.get(r.PostForm.Get("id"))
	if !ok || a.done {
		http.Error(w, "This login has expired or was already used. Go back to the booking site and start again.", http.StatusBadRequest)
		return
	}
	id, err := strconv.ParseInt(r.PostForm.Get("person"), 10, 64)
	person, found := p.people.Person(id)
	if err != nil || !found {
		http.Error(w, "no such person", http.StatusBadRequest)
		return
	}
	p.finish(w, r, a, person)
}
