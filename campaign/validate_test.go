package campaign_test

import (
	"encoding/json"
	"strings"
	"testing"

	"vaxbook/campaign"
)

// baseCampaign is a small valid campaign that each validation case breaks in
// one way.
const baseCampaign = `{
  "id": "test",
  "title": {"en": "Test"},
  "time_zone": "Asia/Seoul",
  "group": {"born_from": "1972-01-01", "born_to": "2003-12-31", "nationalities": ["KR", "FOREIGN"]},
  "windows": [
    {"id": "r1", "kind": "rotation", "opens": "2021-08-09T20:00:00+09:00", "closes": "2021-08-10T18:00:00+09:00",
     "who": {"kind": "birth_day_digit", "digits": [1]}},
    {"id": "r2", "kind": "rotation", "opens": "2021-08-10T20:00:00+09:00", "closes": "2021-08-11T18:00:00+09:00",
     "who": {"kind": "birth_day_digit", "digits": [2]}},
    {"id": "o", "kind": "open", "opens": "2021-08-19T20:00:00+09:00", "closes": "2021-09-18T18:00:00+09:00",
     "who": {"kind": "any"}}
  ],
  "vaccination": {"from": "2021-08-26", "to": "2021-10-02"},
  "doses": 2,
  "dose_interval_days": 28,
  "quota": {"cohort": "birth_day_digit", "pool_from": "2021-08-19T20:00:00+09:00"},
  "pre_queue": "30m"
}`

type obj = map[string]any

func win(m obj, i int) obj { return m["windows"].([]any)[i].(obj) }

func who(m obj, i int) obj { return win(m, i)["who"].(obj) }

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(m obj)
		want   []string // one entry per expected problem line (substrings)
	}{
		{"valid", func(obj) {}, nil},
		{"time zone missing", func(m obj) { delete(m, "time_zone") }, []string{`time_zone: missing`}},
		{"time zone unknown", func(m obj) { m["time_zone"] = "Mars/Olympus" }, []string{`time_zone: unknown time zone "Mars/Olympus"`}},
		{"id missing", func(m obj) { delete(m, "id") }, []string{`id: missing`}},
		{"closes before opens", func(m obj) { win(m, 0)["closes"] = "2021-08-09T18:00:00+09:00" },
			[]string{`windows[0] "r1": closes 2021-08-09T18:00:00+09:00 is not after opens 2021-08-09T20:00:00+09:00`}},
		{"closes when opens", func(m obj) { win(m, 1)["closes"] = "2021-08-10T11:00:00Z" },
			[]string{`windows[1] "r2": closes 2021-08-10T11:00:00Z is not after opens 2021-08-10T20:00:00+09:00`}},
		{"opens missing", func(m obj) { delete(win(m, 2), "opens") }, []string{`windows[2] "o".opens: missing`}},
		{"duplicate window id", func(m obj) { win(m, 1)["id"] = "r1" }, []string{`windows[1] "r1".id: also the id of windows[0]`}},
		{"window id missing", func(m obj) { delete(win(m, 1), "id") }, []string{`windows[1].id: missing`}},
		{"unknown window kind", func(m obj) { win(m, 0)["kind"] = "vip" }, []string{`windows[0] "r1".kind: unknown kind "vip"`}},
		{"no windows", func(m obj) { m["windows"] = []any{} }, []string{`windows: none`}},
		{"rotation overlap for the same people", func(m obj) { who(m, 1)["digits"] = []any{2, 1}; win(m, 1)["opens"] = "2021-08-10T17:00:00+09:00" },
			[]string{`windows[0] "r1" and windows[1] "r2": rotation windows overlap from 2021-08-10T17:00:00+09:00 to 2021-08-10T18:00:00+09:00 and can both select people born on a day ending in 1`}},
		{"rotation overlap for other people is fine", func(m obj) { win(m, 1)["opens"] = "2021-08-10T17:00:00+09:00" }, nil},
		{"open window may overlap rotation", func(m obj) { win(m, 2)["opens"] = "2021-08-09T00:00:00+09:00" }, nil},
		{"rotation overlap on a shared weekday", func(m obj) {
			win(m, 0)["closes"] = "2021-08-20T00:00:00+09:00"
			win(m, 0)["who"] = obj{"kind": "all", "all": []any{obj{"kind": "weekdays", "weekdays": []any{"tue"}}, obj{"kind": "birth_day_digit", "digits": []any{2}}}}
		}, []string{`windows[0] "r1" and windows[1] "r2": rotation windows overlap`}},
		{"rotation overlap on different weekdays is fine", func(m obj) {
			win(m, 0)["closes"] = "2021-08-20T00:00:00+09:00"
			win(m, 0)["who"] = obj{"kind": "all", "all": []any{obj{"kind": "weekdays", "weekdays": []any{"mon", "thu"}}, obj{"kind": "birth_day_digit", "digits": []any{2}}}}
		}, nil},
		{"unknown predicate", func(m obj) { who(m, 0)["kind"] = "birth_month" }, []string{`windows[0] "r1".who.kind: unknown predicate "birth_month"`}},
		{"predicate kind missing", func(m obj) { win(m, 0)["who"] = obj{} }, []string{`windows[0] "r1".who.kind: missing`}},
		{"digit above 9", func(m obj) { who(m, 0)["digits"] = []any{1, 10} }, []string{`windows[0] "r1".who.digits[1]: 10 is not a digit 0–9`}},
		{"negative digit", func(m obj) { who(m, 0)["digits"] = []any{-1} }, []string{`windows[0] "r1".who.digits[0]: -1 is not a digit 0–9`}},
		{"no digits", func(m obj) { delete(who(m, 0), "digits") }, []string{`windows[0] "r1".who.digits: empty`}},
		{"digits on any", func(m obj) { who(m, 2)["digits"] = []any{1} }, []string{`windows[2] "o".who.digits: not used by predicate "any"`}},
		{"unknown weekday", func(m obj) {
			win(m, 2)["who"] = obj{"kind": "all", "all": []any{obj{"kind": "weekdays", "weekdays": []any{"mon", "monday"}}}}
		}, []string{`windows[2] "o".who.all[0].weekdays[1]: unknown weekday "monday"`}},
		{"empty all", func(m obj) { win(m, 2)["who"] = obj{"kind": "all"} }, []string{`windows[2] "o".who.all: empty`}},
		{"contradiction", func(m obj) {
			win(m, 2)["who"] = obj{"kind": "all", "all": []any{obj{"kind": "birth_day_digit", "digits": []any{1}}, obj{"kind": "birth_day_digit", "digits": []any{2}}}}
		}, []string{`windows[2] "o".who: selects nobody`}},
		{"group inverted", func(m obj) { m["group"].(obj)["born_from"] = "2004-01-01" }, []string{`group: born_from 2004-01-01 is after born_to 2003-12-31`}},
		{"group date missing", func(m obj) { delete(m["group"].(obj), "born_to") }, []string{`group.born_to: missing`}},
		{"unknown nationality", func(m obj) { m["group"].(obj)["nationalities"] = []any{"KR", "US"} }, []string{`group.nationalities[1]: unknown nationality "US"; want "KR" or "FOREIGN"`}},
		{"no nationality", func(m obj) { m["group"].(obj)["nationalities"] = []any{} }, []string{`group.nationalities: empty`}},
		{"three doses", func(m obj) { m["doses"] = 3 }, []string{`doses: 3; want 1 or 2`}},
		{"no doses", func(m obj) { delete(m, "doses") }, []string{`doses: 0; want 1 or 2`}},
		{"two doses without interval", func(m obj) { delete(m, "dose_interval_days") }, []string{`dose_interval_days: 0; with 2 doses`}},
		{"two doses with negative interval", func(m obj) { m["dose_interval_days"] = -28 }, []string{`dose_interval_days: -28; with 2 doses`}},
		{"one dose needs no interval", func(m obj) { m["doses"] = 1; delete(m, "dose_interval_days") }, nil},
		{"vaccination inverted", func(m obj) { m["vaccination"].(obj)["to"] = "2021-08-01" }, []string{`vaccination: from 2021-08-26 is after to 2021-08-01`}},
		{"no dose-1 date left", func(m obj) { m["vaccination"].(obj)["to"] = "2021-09-22" },
			[]string{`vaccination: 2021-08-26…2021-09-22 leaves no dose-1 date: dose 2 comes 28 days after dose 1`}},
		{"exactly one dose-1 date left", func(m obj) { m["vaccination"].(obj)["to"] = "2021-09-23" }, nil},
		{"vaccination date missing", func(m obj) { delete(m["vaccination"].(obj), "from") }, []string{`vaccination.from: missing`}},
		{"unknown cohort rule", func(m obj) { m["quota"].(obj)["cohort"] = "birth_month_digit" }, []string{`quota.cohort: unknown cohort rule "birth_month_digit"`}},
		{"cohort rule missing", func(m obj) { delete(m["quota"].(obj), "cohort") }, []string{`quota.cohort: missing`}},
		{"cohort without pool_from", func(m obj) { delete(m["quota"].(obj), "pool_from") }, []string{`quota.pool_from: missing; with cohort rule "birth_day_digit"`}},
		{"cohort none needs no pool_from", func(m obj) { m["quota"] = obj{"cohort": "none"} }, nil},
		{"negative pre-queue", func(m obj) { m["pre_queue"] = "-5m" }, []string{`pre_queue: -5m0s is negative`}},
		{"every problem at once", func(m obj) {
			delete(m, "time_zone")
			win(m, 0)["closes"] = "2021-08-09T18:00:00+09:00"
			who(m, 1)["kind"] = "lucky"
			m["doses"] = 5
			m["quota"].(obj)["cohort"] = "zodiac"
		}, []string{
			`time_zone: missing`,
			`windows[0] "r1": closes`,
			`windows[1] "r2".who.kind: unknown predicate "lucky"`,
			`doses: 5`,
			`quota.cohort: unknown cohort rule "zodiac"`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m obj
			if err := json.Unmarshal([]byte(baseCampaign), &m); err != nil {
				t.Fatal(err)
			}
			tc.mutate(m)
			data, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			c, err := campaign.Parse(data)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if c.ID != "test" {
					t.Fatalf("parsed campaign id %q", c.ID)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse accepted the campaign; want %d problem(s)", len(tc.want))
			}
			if c.ID != "" {
				t.Errorf("Parse returned a campaign with an error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Errorf("got %d problem(s), want %d:\n%s", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if i < len(lines) && !strings.Contains(lines[i], w) {
					t.Errorf("problem %d = %q\nwant it to contain %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestParseStrict(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{"unknown field", strings.Replace(baseCampaign, `"doses": 2,`, `"doses": 2, "colour": "blue",`, 1), `unknown field "colour"`},
		{"unknown nested field", strings.Replace(baseCampaign, `"kind": "any"`, `"kind": "any", "age": 3`, 1), `unknown field "age"`},
		{"trailing data", baseCampaign + `{}`, `line 19 column 2: unexpected data after the campaign object`},
		{"syntax error", strings.Replace(baseCampaign, `"doses": 2,`, `"doses": 2,,`, 1), `line 15 column 14: malformed JSON`},
		{"wrong type", strings.Replace(baseCampaign, `"doses": 2,`, `"doses": "two",`, 1), `line 15 column 17: doses: want a JSON number, not string`},
		{"time without offset", strings.Replace(baseCampaign, `"2021-08-09T20:00:00+09:00"`, `"2021-08-09T20:00:00"`, 1), `parsing time`},
		{"impossible date", strings.Replace(baseCampaign, `"2021-10-02"`, `"2021-02-29"`, 1), `date "2021-02-29"`},
		{"bad duration", strings.Replace(baseCampaign, `"30m"`, `"half an hour"`, 1), `half an hour`},
		{"empty", ``, `empty file`},
		{"cut short", baseCampaign[:100], `unexpected end of file`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := campaign.Parse([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v\nwant it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("a decoding problem should be one line: %q", err)
			}
		})
	}
}

func TestBuiltinsValidate(t *testing.T) {
	names := campaign.Builtins()
	want := []string{"kr-2021-18-49", "kr-2021-support-fund"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("Builtins() = %v, want %v", names, want)
	}
	for _, n := range names {
		c := mustLoad(t, n)
		if c.ID != n {
			t.Errorf("built-in %s has id %q", n, c.ID)
		}
		if err := campaign.Validate(c); err != nil {
			t.Errorf("built-in %s: %v", n, err)
		}
		if c.Title["ko"] == "" || c.Title["en"] == "" {
			t.Errorf("built-in %s lacks a ko or en title", n)
		}
	}
}
