package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vaxbook/campaign"
)

const campaignTestFile = `{
  "id": "file-test",
  "time_zone": "Asia/Seoul",
  "group": {"born_from": "1950-01-01", "born_to": "2010-12-31", "nationalities": ["KR"]},
  "windows": [
    {"id": "all", "kind": "open", "opens": "2021-08-09T20:00:00+09:00", "closes": "2021-08-10T18:00:00+09:00", "who": {"kind": "any"}}
  ],
  "vaccination": {"from": "2021-08-26", "to": "2021-10-02"},
  "doses": 1,
  "quota": {"cohort": "none"}
}`

const campaignBadFile = `{
  "id": "bad",
  "group": {"born_from": "2010-01-01", "born_to": "1950-12-31", "nationalities": ["KR"]},
  "windows": [
    {"id": "w", "kind": "rotation", "opens": "2021-08-09T20:00:00+09:00", "closes": "2021-08-09T18:00:00+09:00", "who": {"kind": "birth_hour"}}
  ],
  "vaccination": {"from": "2021-08-26", "to": "2021-10-02"},
  "doses": 2,
  "quota": {"cohort": "none"}
}`

func TestRunCampaign(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	for name, body := range map[string]string{good: campaignTestFile, bad: campaignBadFile} {
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const (
		eligible15 = `{"eligible":true,"code":"eligible","window":{"opens":"2021-08-15T20:00:00+09:00","closes":"2021-08-16T18:00:00+09:00"},"message":"You may book now: your booking window opened on 2021-08-15 at 20:00 KST and closes on 2021-08-16 at 18:00 KST."}` + "\n"
		notOpen15  = `{"eligible":false,"code":"not_open_yet","window":{"opens":"2021-08-15T20:00:00+09:00","closes":"2021-08-16T18:00:00+09:00"},"message":"Your booking window opens on 2021-08-15 at 20:00 KST and closes on 2021-08-16 at 18:00 KST."}` + "\n"
	)
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stdout string // exact, unless "~" starts it: then every "|"-separated part must appear
		stderr string // substring; "" means stderr must be empty
	}{
		// check: answers.
		{name: "eligible", args: []string{"check", "--birthdate", "1985-03-15", "--at", "2021-08-15T20:00:00+09:00"}, stdout: eligible15},
		{name: "eligible at Z", args: []string{"check", "--birthdate", "1985-03-15", "--at", "2021-08-15T11:00:00Z"}, stdout: eligible15},
		{name: "second before in -05:00", args: []string{"check", "--birthdate=1985-03-15", "--at=2021-08-15T05:59:59-05:00"}, stdout: notOpen15},
		{name: "other day", args: []string{"check", "--birthdate", "1985-03-31", "--at", "2021-08-10T20:00:00+09:00"},
			stdout: `{"eligible":false,"code":"other_day","window":{"opens":"2021-08-11T20:00:00+09:00","closes":"2021-08-12T18:00:00+09:00"},"message":"Booking is open now for other people; your booking window opens on 2021-08-11 at 20:00 KST and closes on 2021-08-12 at 18:00 KST."}` + "\n"},
		{name: "closed at the exclusive end", args: []string{"check", "--birthdate", "1985-03-31", "--at", "2021-09-18T09:00:00Z"},
			stdout: `{"eligible":false,"code":"closed","window":{"opens":"2021-08-19T20:00:00+09:00","closes":"2021-09-18T18:00:00+09:00"},"message":"Booking is over for you: your last booking window opened on 2021-08-19 at 20:00 KST and closed on 2021-09-18 at 18:00 KST."}` + "\n"},
		{name: "not in group has no window", args: []string{"check", "--birthdate", "2004-01-01", "--at", "2021-08-15T20:00:00+09:00"},
			stdout: `{"eligible":false,"code":"not_in_group","message":"This campaign is for people born from 1972-01-01 to 2003-12-31; a birth date of 2004-01-01 is outside it."}` + "\n"},
		{name: "foreigner, any case", args: []string{"check", "--birthdate", "1985-03-15", "--nationality", "foreign", "--at", "2021-08-15T20:00:00+09:00"}, stdout: eligible15},
		{name: "support fund", args: []string{"check", "--campaign", "kr-2021-support-fund", "--birthdate", "1986-05-05", "--at", "2021-09-06T00:00:00Z"},
			stdout: `~"eligible":true|"opens":"2021-09-06T09:00:00+09:00","closes":"2021-09-07T00:00:00+09:00"`},
		{name: "campaign file", args: []string{"check", "--campaign", good, "--birthdate", "1955-02-28", "--at", "2021-08-10T08:59:59Z"},
			stdout: `~"code":"eligible"|"closes":"2021-08-10T18:00:00+09:00"`},
		{name: "at defaults to now", args: []string{"check", "--birthdate", "1985-03-15"}, stdout: `~"code":"closed"`},
		{name: "env twins", args: []string{"check"},
			env:    map[string]string{"VAXBOOK_BIRTHDATE": "1985-03-15", "VAXBOOK_AT": "2021-08-15T20:00:00+09:00", "VAXBOOK_NATIONALITY": "FOREIGN", "VAXBOOK_CAMPAIGN": "kr-2021-18-49"},
			stdout: eligible15},
		{name: "flags win over env", args: []string{"check", "--at", "2021-08-15T10:59:59Z"},
			env:    map[string]string{"VAXBOOK_BIRTHDATE": "1985-03-15", "VAXBOOK_AT": "2021-08-15T20:00:00+09:00"},
			stdout: notOpen15},
		// check: bad input.
		{name: "impossible date", args: []string{"check", "--birthdate", "2021-02-29"}, code: 2, stderr: `-birthdate: "2021-02-29" is not a date that exists`},
		{name: "malformed date", args: []string{"check", "--birthdate", "15/03/1985"}, code: 2, stderr: `-birthdate`},
		{name: "no birthdate", args: []string{"check", "--at", "2021-08-15T20:00:00+09:00"}, code: 2, stderr: "-birthdate is required"},
		{name: "unknown campaign", args: []string{"check", "--campaign", "kr-1999", "--birthdate", "1985-03-15"}, code: 2, stderr: `unknown campaign "kr-1999"`},
		{name: "invalid campaign file", args: []string{"check", "--campaign", bad, "--birthdate", "1985-03-15"}, code: 2, stderr: "is not valid (run: vaxbook campaign validate"},
		{name: "malformed at", args: []string{"check", "--birthdate", "1985-03-15", "--at", "2021-08-15 20:00"}, code: 2, stderr: `-at: "2021-08-15 20:00" is not an RFC 3339 time`},
		{name: "at without offset", args: []string{"check", "--birthdate", "1985-03-15", "--at", "2021-08-15T20:00:00"}, code: 2, stderr: `-at:`},
		{name: "impossible at", args: []string{"check", "--birthdate", "1985-03-15", "--at", "2021-02-30T20:00:00+09:00"}, code: 2, stderr: `-at:`},
		{name: "unknown nationality", args: []string{"check", "--birthdate", "1985-03-15", "--nationality", "US"}, code: 2, stderr: `-nationality: unknown nationality "US"`},
		{name: "bad env", args: []string{"check"}, env: map[string]string{"VAXBOOK_BIRTHDATE": "1985-02-30"}, code: 2, stderr: `-birthdate: "1985-02-30"`},
		{name: "unknown flag", args: []string{"check", "--birthday", "1985-03-15"}, code: 2, stderr: "flag provided but not defined: -birthday"},
		{name: "stray argument", args: []string{"check", "--birthdate", "1985-03-15", "now"}, code: 2, stderr: `unexpected argument "now"`},
		{name: "check help", args: []string{"check", "-help"}, stdout: "~usage: vaxbook campaign check|(env VAXBOOK_BIRTHDATE)|(env VAXBOOK_AT)|(env VAXBOOK_CAMPAIGN)|(env VAXBOOK_NATIONALITY)"},
		// validate.
		{name: "validate good", args: []string{"validate", good}, stdout: "ok\n"},
		{name: "validate built-in", args: []string{"validate", "kr-2021-18-49"}, stdout: "ok\n"},
		{name: "validate bad", args: []string{"validate", bad}, code: 1,
			stdout: "~" + bad + ": time_zone: missing|" +
				bad + ": group: born_from 2010-01-01 is after born_to 1950-12-31|" +
				bad + `: windows[0] "w": closes 2021-08-09T18:00:00+09:00 is not after opens 2021-08-09T20:00:00+09:00|` +
				bad + `: windows[0] "w".who.kind: unknown predicate "birth_hour"|` +
				bad + ": dose_interval_days: 0; with 2 doses"},
		{name: "validate missing file", args: []string{"validate", filepath.Join(dir, "nope.json")}, code: 2, stderr: "no such file"},
		{name: "validate without file", args: []string{"validate"}, code: 2, stderr: "want exactly one campaign file"},
		{name: "validate help", args: []string{"validate", "-help"}, stdout: "~usage: vaxbook campaign validate"},
		// list and show.
		{name: "list", args: []string{"list"}, stdout: "kr-2021-18-49\nkr-2021-support-fund\n"},
		{name: "show", args: []string{"show", "kr-2021-support-fund"}, stdout: `~"id": "kr-2021-support-fund"|"opens": "2021-09-06T09:00:00+09:00"|"ko": "코로나 상생 국민지원금 온라인 신청 (2021)"`},
		{name: "show file", args: []string{"show", good}, stdout: `~"id": "file-test"`},
		{name: "show unknown", args: []string{"show", "nope"}, code: 2, stderr: `unknown campaign "nope"`},
		// the command itself.
		{name: "no subcommand", args: nil, code: 2, stderr: "usage: vaxbook campaign"},
		{name: "help", args: []string{"-help"}, stdout: "~usage: vaxbook campaign|check|validate|list|show"},
		{name: "unknown subcommand", args: []string{"verify"}, code: 2, stderr: `unknown subcommand "verify"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"VAXBOOK_CAMPAIGN", "VAXBOOK_BIRTHDATE", "VAXBOOK_NATIONALITY", "VAXBOOK_AT"} {
				t.Setenv(k, tc.env[k])
			}
			var stdout, stderr bytes.Buffer
			code := runCampaign(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout.String(), stderr.String())
			}
			if want, ok := strings.CutPrefix(tc.stdout, "~"); ok {
				for _, part := range strings.Split(want, "|") {
					if !strings.Contains(stdout.String(), part) {
						t.Errorf("stdout lacks %q:\n%s", part, stdout.String())
					}
				}
			} else if stdout.String() != tc.stdout {
				t.Errorf("stdout\n got %q\nwant %q", stdout.String(), tc.stdout)
			}
			if tc.stderr == "" {
				if stderr.Len() != 0 {
					t.Errorf("unexpected stderr: %s", stderr.String())
				}
			} else if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.stderr)
			}
			if tc.code == 2 && len(tc.args) > 0 && tc.args[0] == "check" && tc.name != "unknown flag" {
				if n := strings.Count(stderr.String(), "\n"); n != 1 {
					t.Errorf("bad input should get a one-line message, got %d lines:\n%s", n, stderr.String())
				}
			}
		})
	}
}

// TestCampaignShowRoundTrip checks that "show" prints a campaign that parses
// back to the same rules.
func TestCampaignShowRoundTrip(t *testing.T) {
	for _, name := range campaign.Builtins() {
		var stdout, stderr bytes.Buffer
		if code := runCampaign(context.Background(), []string{"show", name}, &stdout, &stderr); code != 0 {
			t.Fatalf("show %s: exit %d: %s", name, code, stderr.String())
		}
		c, err := campaign.Parse(stdout.Bytes())
		if err != nil {
			t.Fatalf("show %s printed an invalid campaign: %v", name, err)
		}
		orig, _ := campaign.Load(name)
		if len(c.Windows) != len(orig.Windows) || c.ID != name {
			t.Fatalf("show %s: round trip lost windows", name)
		}
		for i := range c.Windows {
			if !c.Windows[i].Opens.Equal(orig.Windows[i].Opens) || !c.Windows[i].Closes.Equal(orig.Windows[i].Closes) {
				t.Errorf("show %s: window %d differs", name, i)
			}
		}
	}
}
