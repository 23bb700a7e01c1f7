package web

import (
	"bytes"
	"errors"
	"flag"
	"html"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"vaxbook"
	"vaxbook/booking"
	"vaxbook/campaign"
	"vaxbook/i18n"
	"vaxbook/identity"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./web/ -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update if the change is intended):\n%s", name, firstDiff(want, got))
	}
}

func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + w + "\n  got:  " + g
		}
	}
	return "(same lines, different bytes)"
}

var assetVersion = regexp.MustCompile(`\?v=[0-9a-f]+`)

var seoul = func() *time.Location {
	l, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		panic(err)
	}
	return l
}()

// fixedView is a page view at a fixed instant (Aug 16 2021 21:00 KST: the
// rotation day for digit 6 is open).
func fixedView(t *testing.T, lang, path string) *view {
	t.Helper()
	other := "en"
	if lang == "en" {
		other = "ko"
	}
	return &view{cat: i18n.MustLoad(), loc: seoul, Lang: lang, OtherLang: other, LangURL: path + "&lang=" + other,
		Now: time.Date(2021, 8, 16, 21, 0, 0, 0, seoul), CallCentre: "1339"}
}

func windowByID(t *testing.T, c vaxbook.Campaign, id string) *vaxbook.Window {
	t.Helper()
	for _, w := range c.Windows {
		if w.ID == id {
			return &w
		}
	}
	t.Fatalf("no window %s", id)
	return nil
}

// TestRefusedPagesGolden renders /signin/refused for every refusal a
// sign-in can end in, in Korean and English, and compares with golden files.
func TestRefusedPagesGolden(t *testing.T) {
	camp, err := campaign.Load("kr-2021-18-49")
	if err != nil {
		t.Fatal(err)
	}
	lights := []identity.ProviderLight{
		{Name: "naver", Title: "네이버 Naver", Light: identity.Red, Alternative: "kakao"},
		{Name: "kakao", Title: "카카오 Kakao", Light: identity.Green},
		{Name: "pass", Title: "PASS", Light: identity.Yellow, Alternative: "kakao"},
		{Name: "mobile", Title: "휴대폰 Mobile phone", Light: identity.Green},
		{Name: "cert", Title: "공동인증서 Joint certificate", Light: identity.Green},
	}
	at := time.Date(2021, 8, 16, 20, 59, 0, 0, seoul)
	day7 := windowByID(t, camp, "rotation-2021-08-17")
	late := windowByID(t, camp, "open-2021-08-19")
	tests := []struct {
		name string
		code vaxbook.Code
		o    *identity.Outcome
	}{
		{"other_day", vaxbook.CodeOtherDay, &identity.Outcome{Code: vaxbook.CodeOtherDay, Provider: "kakao", Window: day7, At: at}},
		{"not_open_yet", vaxbook.CodeNotOpenYet, &identity.Outcome{Code: vaxbook.CodeNotOpenYet, Provider: "kakao", Window: windowByID(t, camp, "rotation-2021-08-09"), At: at}},
		{"closed", vaxbook.CodeClosed, &identity.Outcome{Code: vaxbook.CodeClosed, Provider: "mobile", Window: late, At: at}},
		{"not_in_group", vaxbook.CodeNotInGroup, &identity.Outcome{Code: vaxbook.CodeNotInGroup, Provider: "kakao", At: at}},
		{"not_in_registry", vaxbook.CodeNotInRegistry, &identity.Outcome{Code: vaxbook.CodeNotInRegistry, Provider: "cert", At: at}},
		{"device_locked", vaxbook.CodeDeviceLocked, &identity.Outcome{Code: vaxbook.CodeDeviceLocked, Provider: "kakao", Window: day7,
			LockedAt: time.Date(2021, 8, 17, 20, 1, 30, 0, seoul), LockedWith: "pass", At: at}},
		{"provider_unavailable", vaxbook.CodeProviderUnavailable, &identity.Outcome{Code: vaxbook.CodeProviderUnavailable, Provider: "naver", Alternative: "kakao", At: at}},
		{"auth_failed", vaxbook.CodeAuthFailed, &identity.Outcome{Code: vaxbook.CodeAuthFailed, Provider: "naver", At: at}},
		{"other_day_no_details", vaxbook.CodeOtherDay, nil},
		{"unknown_code", "no_such_code", nil},
	}
	for _, tc := range tests {
		for _, lang := range []string{"ko", "en"} {
			t.Run(tc.name+"/"+lang, func(t *testing.T) {
				v := fixedView(t, lang, "/signin/refused?code="+string(tc.code))
				p := buildRefused(v, tc.code, tc.o, lights, camp)
				rec := httptest.NewRecorder()
				if err := render(rec, v, identity.Status(p.Code), "refused", "title.refused", p); err != nil {
					t.Fatal(err)
				}
				body := rec.Body.String()
				if strings.Contains(body, "%!") || strings.Contains(body, "code.") || strings.Contains(body, "refused.") {
					t.Errorf("a message is missing or badly formatted:\n%s", body)
				}
				if tc.o != nil && tc.o.Window != nil && !strings.Contains(body, v.When(tc.o.Window.Opens)) {
					t.Errorf("the person's window (%s) is not on the page", v.When(tc.o.Window.Opens))
				}
				// Asset URLs carry content hashes: a stylesheet change is not a page change.
				page := assetVersion.ReplaceAll(rec.Body.Bytes(), []byte("?v=HASH"))
				golden(t, "pages/refused_"+tc.name+"_"+lang+".golden", page)
			})
		}
	}
}

// TestBookingICSGolden checks the calendar file of a two-dose booking.
func TestBookingICSGolden(t *testing.T) {
	clinic := vaxbook.Clinic{ID: 42, Name: "서울중앙의원, 본관; 2층", SidoCode: "11", SigunguCode: "11010",
		Address: "서울특별시 종로구 세종대로 209 (세종로, 정부서울청사 별관 옆 아주 긴 주소가 줄을 넘깁니다)", Phone: "02-123-4567",
		Lat: 37.5759, Lng: 126.9768, Vaccine: "pfizer"}
	created := time.Date(2021, 8, 17, 20, 3, 4, 0, seoul)
	doses := []booking.View{
		{Booking: vaxbook.Booking{ID: 1234567, PersonID: 9, CampaignID: "kr-2021-18-49", Dose: 1, SlotID: 77, Status: vaxbook.BookingActive,
			Version: 2, CreatedAt: created, UpdatedAt: created.Add(time.Hour)}, StartsAt: time.Date(2021, 8, 27, 9, 30, 0, 0, seoul), Clinic: clinic},
		{Booking: vaxbook.Booking{ID: 1234568, PersonID: 9, CampaignID: "kr-2021-18-49", Dose: 2, SlotID: 977, Status: vaxbook.BookingActive,
			Version: 1, CreatedAt: created}, StartsAt: time.Date(2021, 9, 24, 9, 30, 0, 0, seoul), Clinic: clinic},
	}
	for _, lang := range []string{"ko", "en"} {
		t.Run(lang, func(t *testing.T) {
			b := bookingICS(fixedView(t, lang, "/bookings/1234567.ics?x=1"), doses, "1339")
			for i, line := range strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n") {
				if len(line) > 75 {
					t.Errorf("line %d has %d octets (> 75): %q", i+1, len(line), line)
				}
				if strings.Contains(line, "\n") {
					t.Errorf("line %d has a bare LF", i+1)
				}
			}
			s := string(b)
			for _, want := range []string{"BEGIN:VCALENDAR\r\n", "DTSTART:20210827T003000Z\r\n", "DTSTART:20210924T003000Z\r\n",
				"UID:booking-1234567@kr-2021-18-49.vaxbook\r\n", "SEQUENCE:2\r\n", "DTSTAMP:20210817T120304Z\r\n", "END:VCALENDAR\r\n"} {
				if !strings.Contains(s, want) {
					t.Errorf("missing %q", want)
				}
			}
			if !strings.Contains(strings.ReplaceAll(s, "\r\n ", ""), `LOCATION:서울중앙의원\, 본관\; 2층\, 서울특별시`) {
				t.Errorf("LOCATION not escaped as TEXT")
			}
			golden(t, "booking_"+lang+".ics.golden", b)
		})
	}
}

// TestFoldLine checks folding at 75 octets without splitting a character.
func TestFoldLine(t *testing.T) {
	for _, s := range []string{strings.Repeat("a", 200), "X:" + strings.Repeat("가", 60), "short"} {
		var b bytes.Buffer
		foldLine(&b, s)
		parts := strings.Split(strings.TrimSuffix(b.String(), "\r\n"), "\r\n")
		joined := parts[0]
		for _, p := range parts[1:] {
			if !strings.HasPrefix(p, " ") {
				t.Fatalf("continuation without a space: %q", p)
			}
			joined += p[1:]
		}
		if joined != s {
			t.Fatalf("unfolded %q, want %q", joined, s)
		}
		for _, p := range parts {
			if len(p) > 75 || !utf8.ValidString(p) {
				t.Fatalf("bad line %q", p)
			}
		}
	}
}

// TestErrorPageEveryCode renders the error page for every code the API
// can answer, in both languages: the status is the API's, the sentence
// comes from the catalog, and an internal error shows nothing of its cause.
func TestErrorPageEveryCode(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	for code := range titles {
		for _, lang := range []string{"ko", "en"} {
			t.Run(string(code)+"/"+lang, func(t *testing.T) {
				v := fixedView(t, lang, "/x?y=1")
				rec := httptest.NewRecorder()
				s.pageError(rec, httptest.NewRequest("GET", "/x", nil), v, vaxbook.Errorf(code, "detail for developers %d", 42))
				body := rec.Body.String()
				if got := rec.Header().Get("X-Vaxbook-Code"); got != string(code) {
					t.Errorf("X-Vaxbook-Code %q, want %q (refusals on pages are counted by it)", got, code)
				}
				if rec.Code != statusOf(code) {
					t.Errorf("status %d, want %d", rec.Code, statusOf(code))
				}
				msg := v.Code(code)
				if msg == "code."+string(code) || !strings.Contains(body, html.EscapeString(msg)) {
					t.Errorf("no sentence for %s in %s", code, lang)
				}
				if strings.Contains(body, "detail for developers") || strings.Contains(body, "%!") {
					t.Errorf("the page shows internals or a broken message:\n%s", body)
				}
				if rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
					t.Errorf("Content-Type %q", rec.Header().Get("Content-Type"))
				}
			})
		}
	}
	t.Run("a cause that is not a vaxbook error is a 500 page without it", func(t *testing.T) {
		v := fixedView(t, "en", "/x?y=1")
		rec := httptest.NewRecorder()
		s.pageError(rec, httptest.NewRequest("GET", "/x", nil), v, errors.New("pq: relation \"person\" does not exist"))
		if rec.Code != 500 || strings.Contains(rec.Body.String(), "relation") || !strings.Contains(rec.Body.String(), "Something went wrong") {
			t.Errorf("500 page: %d\n%s", rec.Code, rec.Body.String())
		}
	})
}

func landingFixture(t testing.TB) landingPage {
	camp, err := campaign.Load("kr-2021-18-49")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2021, 8, 16, 21, 0, 0, 0, seoul)
	lights := providerViews([]identity.ProviderLight{
		{Name: "naver", Title: "네이버 Naver", Light: identity.Red, Alternative: "kakao"},
		{Name: "kakao", Title: "카카오 Kakao", Light: identity.Green},
		{Name: "pass", Title: "PASS", Light: identity.Yellow, Alternative: "kakao"},
	})
	p := landingPage{Campaign: campaignTitle(camp, "en"), Dose1: campaign.Dose1Dates(camp), Doses: 2, Interval: 28,
		Clinics: 14000, Providers: lights, National: true, Birth: "1990-08-17",
		Answer: answerBirth(camp, vaxbook.MustDate("1990-08-17"), vaxbook.National, now)}
	for _, w := range camp.Windows {
		if w.Contains(now) {
			p.OpenNow = append(p.OpenNow, newWindowView(w, now))
		}
	}
	for _, pv := range lights {
		if pv.Alt != "" {
			p.Busy = append(p.Busy, pv)
		}
	}
	return p
}

// TestLandingSuggestsAnotherProvider: a congested provider's light says
// so in words (not only colour) and the page suggests a faster one.
func TestLandingSuggestsAnotherProvider(t *testing.T) {
	for lang, want := range map[string][]string{
		"en": {"네이버 Naver: Congested. 카카오 Kakao is faster right now.", "PASS: Delayed.", "Born on day 17 of the month → last digit 7",
			"people born on the 7th, 17th or 27th of a month", "from Tue 17 Aug 2021, 20:00 KST to Wed 18 Aug 2021, 18:00 KST"},
		"ko": {"네이버 Naver: 혼잡. 지금은 카카오 Kakao(으)로 인증하는 것이 더 빠릅니다.", "생일 17일 → 끝자리 7", "생일이 7일, 17일, 27일인 분"},
	} {
		v := fixedView(t, lang, "/?x=1")
		rec := httptest.NewRecorder()
		if err := render(rec, v, 200, "landing", "title.landing", landingFixture(t)); err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(html.UnescapeString(rec.Body.String()), w) {
				t.Errorf("%s landing lacks %q", lang, w)
			}
		}
	}
}

// BenchmarkPageRender measures rendering the landing page against encoding
// the same data as JSON (the API's cost for it), in the same run.
func BenchmarkPageRender(b *testing.B) {
	p := landingFixture(b)
	v := &view{cat: i18n.MustLoad(), loc: seoul, Lang: "ko", OtherLang: "en", LangURL: "/?lang=en",
		Now: time.Date(2021, 8, 16, 21, 0, 0, 0, seoul), CallCentre: "1339"}
	b.Run("baseline-json", func(b *testing.B) {
		for b.Loop() {
			writeJSON(httptest.NewRecorder(), 200, p)
		}
	})
	b.Run("landing-html", func(b *testing.B) {
		for b.Loop() {
			if err := render(httptest.NewRecorder(), v, 200, "landing", "title.landing", p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
