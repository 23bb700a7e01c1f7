package web

import (
	"net/url"
	"testing"

	"vaxbook"
)

func TestParseClinicParams(t *testing.T) {
	tests := []struct {
		query     string
		wantParam string // "" = valid
		check     func(clinicParams) bool
	}{
		{"sigungu=11010", "", func(p clinicParams) bool { return p.Sigungu == "11010" && p.Limit == defaultLimit }},
		{"near=37.5,127.0&radius_km=5", "", func(p clinicParams) bool { return p.Near && p.Lat == 37.5 && p.Lng == 127 && p.RadiusKm == 5 }},
		{"near=37.5,127.0", "", func(p clinicParams) bool { return p.RadiusKm == defaultRadiusKm }},
		{"q=%EB%82%B4%EA%B3%BC", "", func(p clinicParams) bool { return p.Q == "내과" }},
		{"sigungu=11010&date=2021-08-26&vaccine=pfizer&available=true&limit=50&cursor=abc", "", func(p clinicParams) bool {
			return p.Date == vaxbook.MustDate("2021-08-26") && p.Vaccine == "pfizer" && p.Available && p.Limit == 50 && p.Cursor == "abc"
		}},
		{"", "sigungu", nil},
		{"sigungu=1101", "sigungu", nil},
		{"sigungu=1101x", "sigungu", nil},
		{"sigungu=11010&near=37,127", "near", nil},
		{"near=37.5", "near", nil},
		{"near=abc,def", "near", nil},
		{"near=91,127", "near", nil},
		{"near=NaN,127", "near", nil},
		{"near=37,Inf", "near", nil},
		{"sigungu=11010&radius_km=5", "radius_km", nil},
		{"near=37,127&radius_km=0", "radius_km", nil},
		{"near=37,127&radius_km=1000", "radius_km", nil},
		{"near=37,127&radius_km=51", "radius_km", nil},
		{"sigungu=11010&date=2021-02-29", "date", nil},
		{"sigungu=11010&date=tomorrow", "date", nil},
		{"sigungu=11010&vaccine=%3Cscript%3E", "vaccine", nil},
		{"sigungu=11010&available=maybe", "available", nil},
		{"sigungu=11010&limit=0", "limit", nil},
		{"sigungu=11010&limit=101", "limit", nil},
		{"sigungu=11010&limit=ten", "limit", nil},
		{"sigungu=11010&cursor=%00", "cursor", nil},
		{"sigungu=11010&bogus=1", "bogus", nil},
		{"sigungu=11010&sigungu=11020", "sigungu", nil},
		{"q=" + string(make([]byte, 0)) + "%FF", "q", nil},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			v, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			p, err := parseClinicParams(v)
			if tc.wantParam == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if !tc.check(p) {
					t.Fatalf("parsed %+v", p)
				}
				return
			}
			var ve *vaxbook.Error
			if err == nil {
				t.Fatalf("no error, want one naming %q", tc.wantParam)
			}
			if !asError(err, &ve) || ve.Code != vaxbook.CodeInvalid || ve.Param != tc.wantParam {
				t.Fatalf("err = %#v, want invalid_argument naming %q", err, tc.wantParam)
			}
		})
	}
}

func FuzzParseClinicParams(f *testing.F) {
	for _, s := range []string{"sigungu=11010", "near=37.5,127&radius_km=3", "q=x&limit=5", "near=,", "date=2021-13-40"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		v, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		p, err := parseClinicParams(v)
		if err != nil {
			if vaxbook.ErrorCode(err) != vaxbook.CodeInvalid {
				t.Fatalf("error %v is not invalid_argument", err)
			}
			return
		}
		if p.Limit < 1 || p.Limit > maxLimit || (p.Near && (p.RadiusKm <= 0 || p.RadiusKm > maxRadiusKm)) {
			t.Fatalf("accepted out-of-range %+v", p)
		}
	})
}
