package web

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"vaxbook"
	"vaxbook/booking"
)

// clinicParams is the parsed query of GET /api/v1/clinics.
type clinicParams struct {
	Sigungu   string
	Near      bool
	Lat, Lng  float64
	RadiusKm  float64
	Date      vaxbook.Date
	Vaccine   string
	Available bool
	Q         string
	Limit     int
	Cursor    string
}

// Query limits.
const (
	defaultLimit    = 20
	maxLimit        = 100
	defaultRadiusKm = booking.DefaultRadiusKm
	maxRadiusKm     = booking.MaxRadiusKm
	maxQLen         = 64
	maxCursorLen    = 128
)

var clinicParamNames = map[string]bool{
	"sigungu": true, "near": true, "radius_km": true, "date": true, "vaccine": true,
	"available": true, "q": true, "limit": true, "cursor": true, "lang": true,
}

// parseClinicParams validates the query of a clinic search. Exactly one of
// sigungu, near or q selects clinics (q may also narrow the other two).
// Every error names the parameter.
func parseClinicParams(v url.Values) (clinicParams, error) {
	p := clinicParams{Limit: defaultLimit, RadiusKm: defaultRadiusKm}
	for k, vals := range v {
		if !clinicParamNames[k] {
			return p, vaxbook.InvalidParam(k, "unknown parameter %q", k)
		}
		if len(vals) > 1 {
			return p, vaxbook.InvalidParam(k, "parameter %q given %d times", k, len(vals))
		}
	}
	if s := v.Get("sigungu"); s != "" {
		if len(s) != 5 || !allDigits(s) {
			return p, vaxbook.InvalidParam("sigungu", "sigungu must be a 5-digit district code, got %q", clip(s))
		}
		p.Sigungu = s
	}
	if s := v.Get("near"); s != "" {
		lat, lng, ok := strings.Cut(s, ",")
		if !ok {
			return p, vaxbook.InvalidParam("near", "near must be LAT,LNG")
		}
		var err1, err2 error
		p.Lat, err1 = strconv.ParseFloat(strings.TrimSpace(lat), 64)
		p.Lng, err2 = strconv.ParseFloat(strings.TrimSpace(lng), 64)
		if err1 != nil || err2 != nil || !finite(p.Lat) || !finite(p.Lng) || p.Lat < -90 || p.Lat > 90 || p.Lng < -180 || p.Lng > 180 {
			return p, vaxbook.InvalidParam("near", "near must be LAT,LNG in decimal degrees")
		}
		p.Near = true
	}
	if s := v.Get("radius_km"); s != "" {
		r, err := strconv.ParseFloat(s, 64)
		if err != nil || !finite(r) || r <= 0 || r > maxRadiusKm {
			return p, vaxbook.InvalidParam("radius_km", "radius_km must be a number in (0, %g]", maxRadiusKm)
		}
		if !p.Near {
			return p, vaxbook.InvalidParam("radius_km", "radius_km needs near")
		}
		p.RadiusKm = r
	}
	if s := v.Get("date"); s != "" {
		d, err := vaxbook.ParseDate(s)
		if err != nil {
			return p, vaxbook.InvalidParam("date", "date must be YYYY-MM-DD and exist")
		}
		p.Date = d
	}
	if s := v.Get("vaccine"); s != "" {
		if len(s) > 32 || !isToken(s) {
			return p, vaxbook.InvalidParam("vaccine", "vaccine must be a vaccine name such as pfizer or moderna")
		}
		p.Vaccine = s
	}
	if s := v.Get("available"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return p, vaxbook.InvalidParam("available", "available must be true or false")
		}
		p.Available = b
	}
	if s := v.Get("q"); s != "" {
		if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxQLen {
			return p, vaxbook.InvalidParam("q", "q must be valid text of at most %d characters", maxQLen)
		}
		p.Q = strings.TrimSpace(s)
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return p, vaxbook.InvalidParam("limit", "limit must be a whole number from 1 to %d", maxLimit)
		}
		p.Limit = n
	}
	if s := v.Get("cursor"); s != "" {
		if len(s) > maxCursorLen || !isToken(s) {
			return p, vaxbook.InvalidParam("cursor", "cursor is not one this server gave out")
		}
		p.Cursor = s
	}
	n := 0
	for _, set := range []bool{p.Sigungu != "", p.Near} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return p, vaxbook.InvalidParam("near", "give either sigungu or near, not both")
	case n == 0 && p.Q == "":
		return p, vaxbook.InvalidParam("sigungu", "give sigungu=CODE, near=LAT,LNG or q=NAME")
	}
	return p, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// isToken reports whether s is made of URL-safe token characters.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
			return false
		}
	}
	return s != ""
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// clip shortens user input before echoing it in an error.
func clip(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// parseID parses a positive decimal id from a path segment.
func parseID(param, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, vaxbook.InvalidParam(param, "%s must be a positive whole number", param)
	}
	return id, nil
}
