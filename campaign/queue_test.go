package campaign

import (
	"testing"
	"time"

	"vaxbook"
)

func TestQueueWindow(t *testing.T) {
	c, err := Load(Default)
	if err != nil {
		t.Fatal(err)
	}
	kst := time.FixedZone("KST", 9*3600)
	born5 := vaxbook.MustDate("1990-03-15") // digit 5 → Aug 15 20:00 – Aug 16 18:00
	tests := []struct {
		name   string
		at     time.Time
		ok     bool
		window string // opens, when ok
		code   vaxbook.Code
	}{
		{"a day early", time.Date(2021, 8, 14, 20, 0, 0, 0, kst), false, "", vaxbook.CodeOtherDay},
		{"31 min before opening", time.Date(2021, 8, 15, 19, 29, 0, 0, kst), false, "", vaxbook.CodeNotOpenYet},
		{"30 min before opening (pre-queue opens)", time.Date(2021, 8, 15, 19, 30, 0, 0, kst), true, "2021-08-15T20:00:00+09:00", vaxbook.CodeNotOpenYet},
		{"at opening", time.Date(2021, 8, 15, 20, 0, 0, 0, kst), true, "2021-08-15T20:00:00+09:00", vaxbook.CodeEligible},
		{"last second", time.Date(2021, 8, 16, 17, 59, 59, 0, kst), true, "2021-08-15T20:00:00+09:00", vaxbook.CodeEligible},
		{"closed, late period not yet (daily gap)", time.Date(2021, 8, 16, 18, 0, 0, 0, kst), false, "", vaxbook.CodeNotOpenYet},
		{"closed, another cohort's day", time.Date(2021, 8, 16, 21, 0, 0, 0, kst), false, "", vaxbook.CodeOtherDay},
		{"pre-queue of the late period", time.Date(2021, 8, 19, 19, 45, 0, 0, kst), true, "2021-08-19T20:00:00+09:00", vaxbook.CodeNotOpenYet},
		{"after everything", time.Date(2021, 9, 18, 18, 0, 0, 0, kst), false, "", vaxbook.CodeClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, d, ok := QueueWindow(c, born5, vaxbook.National, tc.at)
			if ok != tc.ok || d.Code != tc.code {
				t.Fatalf("ok=%v code=%s, want ok=%v code=%s", ok, d.Code, tc.ok, tc.code)
			}
			if ok && w.Opens.Format(time.RFC3339) != tc.window {
				t.Fatalf("window opens %s, want %s", w.Opens.Format(time.RFC3339), tc.window)
			}
		})
	}
	if _, d, ok := QueueWindow(c, vaxbook.MustDate("1960-01-01"), vaxbook.National, time.Date(2021, 8, 15, 20, 0, 0, 0, kst)); ok || d.Code != vaxbook.CodeNotInGroup {
		t.Fatalf("out of group: ok=%v code=%s", ok, d.Code)
	}
}
