package web

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"vaxbook/booking"
)

// bookingICS is an iCalendar file (RFC 5545) with one event per dose of a
// booking: UTC times (no time-zone table needed), a stable UID per booking
// row, SEQUENCE from the row's version (a change updates the event in the
// calendar), the clinic as LOCATION and GEO, the reference and what to
// bring in the DESCRIPTION, and a reminder the day before. Texts are in the
// view's language.
func bookingICS(v *view, doses []booking.View, callCentre string) []byte {
	var b bytes.Buffer
	line := func(name, value string) { foldLine(&b, name+":"+value) }
	line("BEGIN", "VCALENDAR")
	line("VERSION", "2.0")
	line("PRODID", "-//vaxbook//booking pages//"+strings.ToUpper(v.Lang))
	line("CALSCALE", "GREGORIAN")
	line("METHOD", "PUBLISH")
	ref := ""
	if len(doses) > 0 {
		ref = Reference(doses[0].ID)
	}
	for _, d := range doses {
		stamp := d.UpdatedAt
		if stamp.IsZero() {
			stamp = d.CreatedAt
		}
		summary := v.T("ics.summary", d.Dose)
		desc := []string{v.T("ics.reference", ref)}
		if d.Clinic.Phone != "" {
			desc = append(desc, v.T("ics.clinic_phone", d.Clinic.Phone))
		}
		desc = append(desc, v.T("bring.title"))
		for _, item := range v.bring() {
			desc = append(desc, "- "+item)
		}
		desc = append(desc, v.T("ics.help", callCentre))
		line("BEGIN", "VEVENT")
		line("UID", fmt.Sprintf("booking-%d@%s.vaxbook", d.ID, d.CampaignID))
		line("SEQUENCE", strconv.Itoa(d.Version))
		line("DTSTAMP", icsTime(stamp))
		line("DTSTART", icsTime(d.StartsAt))
		line("DURATION", "PT30M")
		line("SUMMARY", icsText(summary))
		line("LOCATION", icsText(d.Clinic.Name+", "+d.Clinic.Address))
		line("GEO", strconv.FormatFloat(d.Clinic.Lat, 'f', 6, 64)+";"+strconv.FormatFloat(d.Clinic.Lng, 'f', 6, 64))
		line("DESCRIPTION", icsText(strings.Join(desc, "\n")))
		line("STATUS", "CONFIRMED")
		line("TRANSP", "OPAQUE")
		line("BEGIN", "VALARM")
		line("TRIGGER", "-P1D")
		line("ACTION", "DISPLAY")
		line("DESCRIPTION", icsText(summary))
		line("END", "VALARM")
		line("END", "VEVENT")
	}
	line("END", "VCALENDAR")
	return b.Bytes()
}

// icsTime is a UTC DATE-TIME.
func icsTime(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// icsText escapes a TEXT value (RFC 5545 §3.3.11).
func icsText(s string) string {
	return strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`).Replace(s)
}

// foldLine writes a content line, folded so that no line is longer than 75
// octets (continuations start with a space), never inside a UTF-8
// character, ended with CRLF.
func foldLine(b *bytes.Buffer, s string) {
	limit := 75
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		b.WriteString(s[:cut])
		b.WriteString("\r\n ")
		s = s[cut:]
		limit = 74 // the leading space counts
	}
	b.WriteString(s)
	b.WriteString("\r\n")
}
