// Package campaign holds the rules of a booking campaign as data and the pure
// functions that apply them: who is in the group, which booking window applies
// to a person at an instant (Check), which quota rows a booking may take from
// (Cohort, Pooled, Dose1Cohorts), which days may be booked (Dose1Dates), and
// how to move a campaign in time for a demo (Shift, DemoShift).
//
// A campaign is a JSON file in the shape of vaxbook.Campaign (times in RFC
// 3339 with an offset). Parse reads one strictly (unknown fields are errors)
// and validates it; Load reads a built-in campaign by name (see package
// campaigns) or a file by path. Nothing here reads the clock: every function
// that depends on time takes the instant as a parameter.
//
// See docs/campaigns.md for the file format and the exact semantics.
package campaign

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // Asia/Seoul must load on machines without a zoneinfo database

	"vaxbook"
	"vaxbook/campaigns"
)

// Default is the name of the built-in campaign used when none is named.
const Default = "kr-2021-18-49"

// Parse reads a campaign from JSON strictly: unknown fields, trailing data and
// malformed values are errors (with the line and column), and the result must
// pass Validate. On error the returned Campaign is the zero value.
func Parse(data []byte) (vaxbook.Campaign, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c vaxbook.Campaign
	if err := dec.Decode(&c); err != nil {
		return vaxbook.Campaign{}, decodeError(data, dec, err)
	}
	off := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		rest := data[off:]
		off += int64(len(rest) - len(bytes.TrimLeft(rest, " \t\r\n")))
		line, col := lineCol(data, off)
		return vaxbook.Campaign{}, fmt.Errorf("line %d column %d: unexpected data after the campaign object", line, col)
	}
	if err := Validate(c); err != nil {
		return vaxbook.Campaign{}, err
	}
	return c, nil
}

// decodeError turns a json error into one line that says where and what.
func decodeError(data []byte, dec *json.Decoder, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := lineCol(data, syn.Offset-1) // Offset is just past the bad byte
		return fmt.Errorf("line %d column %d: malformed JSON: %w", line, col, err)
	case errors.As(err, &typ):
		line, col := lineCol(data, typ.Offset)
		field := typ.Field
		if field == "" {
			field = "campaign"
		}
		return fmt.Errorf("line %d column %d: %s: want a JSON %s, not %s", line, col, field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.EOF):
		return errors.New("empty file: want a JSON campaign object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("unexpected end of file: the JSON is cut short: %w", err)
	}
	line, col := lineCol(data, dec.InputOffset())
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	if f, ok := strings.CutPrefix(msg, "unknown field "); ok {
		return fmt.Errorf("near line %d column %d: unknown field %s (fields are listed in docs/campaigns.md)", line, col, f)
	}
	return fmt.Errorf("near line %d column %d: %s", line, col, msg)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "int32", "uint", "float64":
		return "number"
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	}
	return goKind
}

func lineCol(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// Builtins returns the names of the built-in campaigns, sorted.
func Builtins() []string {
	entries, err := fs.ReadDir(campaigns.FS, ".")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && !e.IsDir() {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Load returns a campaign by built-in name (see Builtins) or by file path.
// A name without a path separator and without a ".json" suffix is looked up
// among the built-ins first. An unknown name is a *vaxbook.Error with
// CodeNotFound; a file that does not parse or validate is a *vaxbook.Error
// with CodeInvalid whose Err holds every problem.
func Load(nameOrPath string) (vaxbook.Campaign, error) {
	if nameOrPath == "" {
		return vaxbook.Campaign{}, vaxbook.Errorf(vaxbook.CodeInvalid, "no campaign named: give a built-in name (%s) or a file path", strings.Join(Builtins(), ", "))
	}
	if !strings.ContainsAny(nameOrPath, `/\`) && !strings.HasSuffix(nameOrPath, ".json") {
		if data, err := fs.ReadFile(campaigns.FS, nameOrPath+".json"); err == nil {
			c, err := Parse(data)
			if err != nil {
				return vaxbook.Campaign{}, fmt.Errorf("built-in campaign %s: %w", nameOrPath, err)
			}
			return c, nil
		}
	}
	data, err := os.ReadFile(nameOrPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return vaxbook.Campaign{}, &vaxbook.Error{
				Code:    vaxbook.CodeNotFound,
				Message: fmt.Sprintf("unknown campaign %q: not a built-in (%s) and no such file", nameOrPath, strings.Join(Builtins(), ", ")),
				Err:     err,
			}
		}
		return vaxbook.Campaign{}, fmt.Errorf("campaign file %s: %w", nameOrPath, err)
	}
	c, err := Parse(data)
	if err != nil {
		return vaxbook.Campaign{}, &vaxbook.Error{
			Code:    vaxbook.CodeInvalid,
			Message: fmt.Sprintf("campaign file %s is not valid", path.Base(nameOrPath)),
			Err:     err,
		}
	}
	return c, nil
}

// locations caches time zones by IANA name; loading one reads and parses
// zoneinfo data, too slow for every Check.
var locations sync.Map // string → *time.Location

// Location returns the campaign's time zone. An empty or unknown zone name is
// an error (Validate reports it too).
func Location(c vaxbook.Campaign) (*time.Location, error) {
	return loadLocation(c.TimeZone)
}

func loadLocation(name string) (*time.Location, error) {
	if name == "" {
		return nil, errors.New("time_zone: missing; give an IANA name such as \"Asia/Seoul\"")
	}
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		return nil, fmt.Errorf("time_zone: unknown time zone %q; give an IANA name such as \"Asia/Seoul\"", name)
	}
	locations.Store(name, loc)
	return loc, nil
}

// location is Location for functions that cannot fail: a campaign that
// passed Validate always has a zone; otherwise the fixed offset of its first
// window (or UTC) stands in.
func location(c vaxbook.Campaign) *time.Location {
	if loc, err := Location(c); err == nil {
		return loc
	}
	if len(c.Windows) > 0 {
		return c.Windows[0].Opens.Location()
	}
	return time.UTC
}
