package devidp

import (
	"strconv"
	"strings"

	"golang.org/x/text/unicode/norm"

	"vaxbook"
)

// Person is someone the emulated providers can verify: what a real provider
// knows about a citizen.
type Person struct {
	ID          int64               // registry id in the synthetic country; the login_hint
	CI          string              // stable person identifier (the Korean CI)
	Name        string              //
	Phone       string              // E.164 or local format, as the seed makes it
	BirthDate   vaxbook.Date        //
	Nationality vaxbook.Nationality //
}

// People is the population the providers serve. The seed generator is one
// (see FromFunc); it must match the people loaded into the store, or every
// login ends in not_in_registry.
type People interface {
	// Person returns the person with registry id id.
	Person(id int64) (Person, bool)
	// Count is how many people there are; ids run from 1 to Count.
	Count() int64
}

// funcPeople adapts a pure function of the id.
type funcPeople struct {
	n  int64
	fn func(id int64) Person
}

// FromFunc returns the population of n people whose id i (1…n) is fn(i). The
// seed generator's Citizen method, a pure function of the seed config, fits:
// the dev IdP regenerates any person without the database.
func FromFunc(n int64, fn func(id int64) Person) People { return funcPeople{n: n, fn: fn} }

func (p funcPeople) Person(id int64) (Person, bool) {
	if id < 1 || id > p.n {
		return Person{}, false
	}
	return p.fn(id), true
}

func (p funcPeople) Count() int64 { return p.n }

// Extra returns base with the given people added (ids must not collide with
// base's range; they win if they do). Tests use it for people who exist at a
// provider but not in the registry.
func Extra(base People, extra ...Person) People {
	m := make(map[int64]Person, len(extra))
	for _, p := range extra {
		m[p.ID] = p
	}
	return extraPeople{base: base, extra: m}
}

type extraPeople struct {
	base  People
	extra map[int64]Person
}

func (e extraPeople) Person(id int64) (Person, bool) {
	if p, ok := e.extra[id]; ok {
		return p, true
	}
	return e.base.Person(id)
}

func (e extraPeople) Count() int64 { return e.base.Count() }

// search finds people by id (an exact number) or by name (case-insensitive
// substring, Unicode-normalised so that composed and decomposed Hangul
// match), scanning ids 1…scan of pop plus the extra people; at most limit
// results.
func search(pop People, q string, scan int64, limit int) []Person {
	q = strings.TrimSpace(q)
	if q == "" || limit <= 0 {
		return nil
	}
	if id, err := strconv.ParseInt(q, 10, 64); err == nil {
		if p, ok := pop.Person(id); ok {
			return []Person{p}
		}
		return nil
	}
	needle := foldName(q)
	var out []Person
	if e, ok := pop.(extraPeople); ok {
		for _, p := range e.extra {
			if strings.Contains(foldName(p.Name), needle) {
				out = append(out, p)
				if len(out) == limit {
					return out
				}
			}
		}
	}
	n := min(scan, pop.Count())
	for id := int64(1); id <= n; id++ {
		p, ok := pop.Person(id)
		if !ok {
			continue
		}
		if strings.Contains(foldName(p.Name), needle) {
			out = append(out, p)
			if len(out) == limit {
				break
			}
		}
	}
	return out
}

func foldName(s string) string { return strings.ToLower(norm.NFC.String(s)) }
