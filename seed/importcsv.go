package seed

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/pii"
)

// CSV columns of the import files (a header row with these names, in this
// order, is required; see docs/seed.md).
var (
	ClinicColumns = []string{"name", "sigungu_code", "address", "lat", "lng", "vaccine", "phone"} // phone optional
	PeopleColumns = []string{"ci", "birth_date", "nationality", "name", "phone", "sigungu_code"}
)

// Vaccines are the vaccine names an imported clinic may give.
var Vaccines = []string{"pfizer", "moderna", "astrazeneca", "janssen", "novavax"}

// Bounds of imported coordinates: South Korea from Marado to Dokdo.
const (
	minLat, maxLat = 33.0, 38.7
	minLng, maxLng = 124.5, 132.0
)

// RowError is one problem of one row of an import file.
type RowError struct {
	Line   int    // 1-based line of the file where the row starts
	Column string // column name, "" for the whole row
	Reason string
}

func (e RowError) String() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Column, e.Reason)
}

// ImportError lists every problem found in an import file; when it is
// returned nothing was imported. It unwraps to a *vaxbook.Error with
// CodeInvalid.
type ImportError struct {
	File string
	Rows []RowError // ordered by line, then column order
}

// Error returns the full listing, one problem per line.
func (e *ImportError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s, nothing imported:", e.File, e.summary())
	for _, r := range e.Rows {
		fmt.Fprintf(&b, "\n%s:%d: ", e.File, r.Line)
		if r.Column != "" {
			b.WriteString(r.Column + ": ")
		}
		b.WriteString(r.Reason)
	}
	return b.String()
}

func (e *ImportError) summary() string {
	lines := map[int]bool{}
	for _, r := range e.Rows {
		lines[r.Line] = true
	}
	if len(lines) == 1 {
		return "1 bad row"
	}
	return fmt.Sprintf("%d bad rows", len(lines))
}

// Unwrap returns the *vaxbook.Error users see.
func (e *ImportError) Unwrap() error {
	return &vaxbook.Error{Code: vaxbook.CodeInvalid, Message: e.File + ": " + e.summary() + ", nothing imported"}
}

// csvFile reads an import file row by row, checking its header.
type csvFile struct {
	r    *csv.Reader
	name string
	errs []RowError
}

func openCSV(r io.Reader, name string, want []string, optional int) (*csvFile, int, error) {
	br := &bomSkipper{r: r}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	f := &csvFile{r: cr, name: name}
	hdr, err := cr.Read()
	if err == io.EOF {
		return nil, 0, &ImportError{File: name, Rows: []RowError{{Line: 1, Reason: "empty file: want a header row " + strings.Join(want, ",")}}}
	}
	if err != nil {
		return nil, 0, &ImportError{File: name, Rows: []RowError{{Line: 1, Reason: csvReason(err)}}}
	}
	got := make([]string, len(hdr))
	for i, h := range hdr {
		got[i] = strings.ToLower(strings.TrimSpace(h))
	}
	n := len(got)
	if n < len(want)-optional || n > len(want) || !slices.Equal(got, want[:n]) {
		shape := strings.Join(want, ",")
		if optional > 0 {
			shape = strings.Join(want[:len(want)-optional], ",") + "[," + strings.Join(want[len(want)-optional:], ",") + "]"
		}
		return nil, 0, &ImportError{File: name, Rows: []RowError{{Line: 1, Reason: fmt.Sprintf("header is %q, want %s", strings.Join(hdr, ","), shape)}}}
	}
	return f, n, nil
}

// next returns the next row and the line it starts on; ok is false at the
// end. Rows that cannot be read are recorded and skipped.
func (f *csvFile) next() (row []string, line int, ok bool, err error) {
	for {
		rec, err := f.r.Read()
		if err == io.EOF {
			return nil, 0, false, nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			f.errs = append(f.errs, RowError{Line: pe.StartLine, Reason: csvReason(err)})
			continue
		}
		if err != nil {
			return nil, 0, false, fmt.Errorf("%s: %w", f.name, err)
		}
		line, _ := f.r.FieldPos(0)
		return rec, line, true, nil
	}
}

func (f *csvFile) add(line int, col, format string, args ...any) {
	f.errs = append(f.errs, RowError{Line: line, Column: col, Reason: fmt.Sprintf(format, args...)})
}

func (f *csvFile) err() error {
	if len(f.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(f.errs, func(a, b RowError) int { return cmp.Compare(a.Line, b.Line) })
	return &ImportError{File: f.name, Rows: f.errs}
}

func csvReason(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return "malformed CSV: " + pe.Err.Error()
	}
	return "malformed CSV: " + err.Error()
}

// bomSkipper drops a UTF-8 byte-order mark at the start (spreadsheet
// exports write one).
type bomSkipper struct {
	r    io.Reader
	done bool
}

func (b *bomSkipper) Read(p []byte) (int, error) {
	if b.done {
		return b.r.Read(p)
	}
	b.done = true
	var head [3]byte
	n, err := io.ReadFull(b.r, head[:])
	rest := head[:n]
	if bytes.Equal(rest, []byte("\xef\xbb\xbf")) {
		rest = nil
	}
	b.r = io.MultiReader(bytes.NewReader(rest), b.r)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return 0, err
	}
	return b.r.Read(p)
}

// ReadClinics reads and validates a clinics CSV (columns
// name,sigungu_code,address,lat,lng,vaccine[,phone]) and returns the clinics
// with ids firstID, firstID+1, … in row order. If any row is bad it returns
// no clinics and an *ImportError listing every problem.
func ReadClinics(r io.Reader, file string, firstID int64) ([]vaxbook.Clinic, error) {
	regions, err := regionIndex()
	if err != nil {
		return nil, err
	}
	f, ncol, err := openCSV(r, file, ClinicColumns, 1)
	if err != nil {
		return nil, err
	}
	var out []vaxbook.Clinic
	for {
		row, line, ok, err := f.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if len(row) != ncol {
			f.add(line, "", "has %d fields, want %d (%s)", len(row), ncol, strings.Join(ClinicColumns[:ncol], ","))
			continue
		}
		before := len(f.errs)
		c := vaxbook.Clinic{Name: f.text(line, "name", row[0], 200)}
		if reg, ok := f.sigungu(line, row[1], regions); ok {
			c.SidoCode, c.SigunguCode = reg.SidoCode, reg.SigunguCode
		}
		c.Address = f.text(line, "address", row[2], 300)
		c.Lat = f.coord(line, "lat", row[3], minLat, maxLat)
		c.Lng = f.coord(line, "lng", row[4], minLng, maxLng)
		v := strings.ToLower(strings.TrimSpace(row[5]))
		if !slices.Contains(Vaccines, v) {
			f.add(line, "vaccine", "%q is not one of %s", row[5], strings.Join(Vaccines, ", "))
		}
		c.Vaccine = v
		if ncol == 7 {
			c.Phone = f.phone(line, row[6])
		}
		if len(f.errs) == before {
			if len(out) >= MaxClinics {
				f.add(line, "", "more than %d clinics", MaxClinics)
				break
			}
			c.ID = firstID + int64(len(out))
			out = append(out, c)
		}
	}
	if err := f.err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, &ImportError{File: file, Rows: []RowError{{Line: 1, Reason: "no clinics: the file has only a header"}}}
	}
	return out, nil
}

// PeopleCheck is what CheckPeople found in a valid people file.
type PeopleCheck struct {
	Rows    int // people in the file
	InGroup int // of them, in the campaign's group
}

// CheckPeople reads and validates a people CSV (columns
// ci,birth_date,nationality,name,phone,sigungu_code) without keeping it: a
// file of 20 million rows needs memory only for a 24-byte fingerprint per
// row (to find duplicate identifiers). It counts the people in c's group.
// If any row is bad it returns an *ImportError listing every problem.
func CheckPeople(r io.Reader, file string, c vaxbook.Campaign) (PeopleCheck, error) {
	regions, err := regionIndex()
	if err != nil {
		return PeopleCheck{}, err
	}
	f, _, err := openCSV(r, file, PeopleColumns, 0)
	if err != nil {
		return PeopleCheck{}, err
	}
	type fp struct {
		h    [2]uint64
		line int32
	}
	var fps []fp
	var res PeopleCheck
	for {
		row, line, ok, err := f.next()
		if err != nil {
			return PeopleCheck{}, err
		}
		if !ok {
			break
		}
		p, ok := f.person(line, row, regions)
		if !ok {
			continue
		}
		res.Rows++
		if res.Rows > MaxPeople {
			f.add(line, "", "more than %d people", MaxPeople)
			break
		}
		if campaign.InGroup(c, p.BirthDate, p.Nationality) {
			res.InGroup++
		}
		fps = append(fps, fp{fingerprint(p.CI), int32(min(line, math.MaxInt32))})
	}
	slices.SortFunc(fps, func(a, b fp) int {
		return cmp.Or(cmp.Compare(a.h[0], b.h[0]), cmp.Compare(a.h[1], b.h[1]), cmp.Compare(a.line, b.line))
	})
	for i := 1; i < len(fps); i++ {
		if fps[i].h == fps[i-1].h {
			j := i - 1
			for j > 0 && fps[j-1].h == fps[i].h {
				j--
			}
			f.add(int(fps[i].line), "ci", "same identifier as line %d", fps[j].line)
		}
	}
	if err := f.err(); err != nil {
		return PeopleCheck{}, err
	}
	if res.Rows == 0 {
		return PeopleCheck{}, &ImportError{File: file, Rows: []RowError{{Line: 1, Reason: "no people: the file has only a header"}}}
	}
	return res, nil
}

// ReadPeople streams the people of a CSV file that CheckPeople accepted,
// with ids firstID, firstID+1, … in row order, blind-indexing the CI and
// sealing name and phone with keys. A row that no longer validates (the file
// changed) ends the sequence with an error, which makes Load write nothing.
func ReadPeople(r io.Reader, file string, keys *pii.Keys, firstID int64) iter.Seq2[vaxbook.Person, error] {
	return func(yield func(vaxbook.Person, error) bool) {
		regions, err := regionIndex()
		if err != nil {
			yield(vaxbook.Person{}, err)
			return
		}
		f, _, err := openCSV(r, file, PeopleColumns, 0)
		if err != nil {
			yield(vaxbook.Person{}, err)
			return
		}
		id := firstID
		for {
			row, line, ok, err := f.next()
			if err == nil && len(f.errs) > 0 {
				err = f.err()
			}
			if err != nil {
				yield(vaxbook.Person{}, err)
				return
			}
			if !ok {
				return
			}
			c, ok := f.person(line, row, regions)
			if !ok {
				yield(vaxbook.Person{}, f.err())
				return
			}
			c.ID = id
			id++
			if !yield(Person(c, keys), nil) {
				return
			}
		}
	}
}

func (f *csvFile) person(line int, row []string, regions map[string]vaxbook.Region) (Citizen, bool) {
	if len(row) != len(PeopleColumns) {
		f.add(line, "", "has %d fields, want %d (%s)", len(row), len(PeopleColumns), strings.Join(PeopleColumns, ","))
		return Citizen{}, false
	}
	before := len(f.errs)
	var c Citizen
	c.CI = strings.TrimSpace(row[0])
	switch {
	case c.CI == "":
		f.add(line, "ci", "empty")
	case len(c.CI) > 200:
		f.add(line, "ci", "longer than 200 characters")
	case strings.IndexFunc(c.CI, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
		f.add(line, "ci", "must be printable ASCII without spaces")
	}
	if d, err := vaxbook.ParseDate(strings.TrimSpace(row[1])); err != nil {
		f.add(line, "birth_date", "%q is not a date (want YYYY-MM-DD and a day that exists)", row[1])
	} else if d.Year < 1900 || d.Year > 2099 {
		f.add(line, "birth_date", "%s is out of range 1900…2099", d)
	} else {
		c.BirthDate = d
	}
	switch n := vaxbook.Nationality(strings.TrimSpace(row[2])); n {
	case vaxbook.National, vaxbook.RegisteredAlien:
		c.Nationality = n
	default:
		f.add(line, "nationality", "%q: want %s or %s", row[2], vaxbook.National, vaxbook.RegisteredAlien)
	}
	c.Name = f.text(line, "name", row[3], 100)
	c.Phone = f.phone(line, row[4])
	if reg, ok := f.sigungu(line, row[5], regions); ok {
		c.Sigungu = reg.SigunguCode
	}
	return c, len(f.errs) == before
}

func (f *csvFile) text(line int, col, v string, maxRunes int) string {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		f.add(line, col, "empty")
	case !utf8.ValidString(v):
		f.add(line, col, "not valid UTF-8")
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		f.add(line, col, "contains control characters")
	case utf8.RuneCountInString(v) > maxRunes:
		f.add(line, col, "longer than %d characters", maxRunes)
	}
	return v
}

func (f *csvFile) sigungu(line int, v string, regions map[string]vaxbook.Region) (vaxbook.Region, bool) {
	v = strings.TrimSpace(v)
	reg, ok := regions[v]
	if !ok {
		f.add(line, "sigungu_code", "%q is not a district code (5-digit KOSTAT 2018 code, e.g. 11010 for 종로구; see GET /api/v1/regions)", v)
	}
	return reg, ok
}

func (f *csvFile) coord(line int, col, v string, lo, hi float64) float64 {
	x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(x) {
		f.add(line, col, "%q is not a number", v)
		return 0
	}
	if x < lo || x > hi {
		f.add(line, col, "%v is outside South Korea (%v…%v)", x, lo, hi)
	}
	return x
}

// phone accepts an empty value or a Korean number: 0, then 9–11 digits in
// all, hyphens allowed between groups ("010-1234-5678", "02-123-4567").
func (f *csvFile) phone(line int, v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	digits := 0
	ok := v[0] == '0' && v[len(v)-1] != '-' && !strings.Contains(v, "--")
	for _, r := range v {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '-':
		default:
			ok = false
		}
	}
	if !ok || digits < 9 || digits > 11 {
		f.add(line, "phone", "%q is not a phone number (e.g. 010-1234-5678 or 02-123-4567)", v)
	}
	return v
}

func regionIndex() (map[string]vaxbook.Region, error) {
	regions, err := loadRegions()
	if err != nil {
		return nil, err
	}
	m := make(map[string]vaxbook.Region, len(regions))
	for _, r := range regions {
		m[r.SigunguCode] = r
	}
	return m, nil
}

// fingerprint is the first 128 bits of SHA-256: enough to tell 20 million
// identifiers apart (a false duplicate has a probability around 1e-24).
func fingerprint(s string) [2]uint64 {
	h := sha256.Sum256([]byte(s))
	return [2]uint64{binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:16])}
}
