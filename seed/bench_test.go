package seed_test

import (
	"crypto/sha256"
	"testing"

	"vaxbook/pii"
	"vaxbook/seed"
)

// Baseline for the ratios in docs/seed.md: one SHA-256 of a 64-byte block,
// the cheapest keyed-hash step a person needs.
func BenchmarkBaselineSHA256(b *testing.B) {
	var buf [64]byte
	for b.Loop() {
		h := sha256.Sum256(buf[:])
		copy(buf[:], h[:])
	}
}

// BenchmarkCitizen: one synthetic person (district, birth date, name,
// phone, CI), one core.
func BenchmarkCitizen(b *testing.B) {
	g := generator(b, seed.DefaultConfig(), "kr-2021-18-49")
	id := int64(0)
	for b.Loop() {
		id++
		g.Citizen(id%1_000_000 + 1)
	}
}

// BenchmarkPerson: a citizen made into a registry row (blind index, name
// and phone sealed), one core: what seeding costs per person before the
// database.
func BenchmarkPerson(b *testing.B) {
	g := generator(b, seed.DefaultConfig(), "kr-2021-18-49")
	keys := pii.DemoKeys()
	id := int64(0)
	for b.Loop() {
		id++
		seed.Person(g.Citizen(id%1_000_000+1), keys)
	}
}

// BenchmarkPeopleStream: the parallel stream Load consumes (all cores);
// ns/op is wall time per person.
func BenchmarkPeopleStream(b *testing.B) {
	cfg := seed.DefaultConfig()
	cfg.People = seed.MaxPeople
	g := generator(b, cfg, "kr-2021-18-49")
	keys := pii.DemoKeys()
	b.ResetTimer()
	n := 0
	for _, err := range g.People(keys, 1, int64(b.N)) {
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
	if n != b.N {
		b.Fatalf("%d people, want %d", n, b.N)
	}
}

// BenchmarkClinicsAndSupply: 14,000 clinics on land and the supply of the
// 18–49 campaign for 1,000,000 people.
func BenchmarkClinicsAndSupply(b *testing.B) {
	g := generator(b, seed.DefaultConfig(), "kr-2021-18-49")
	for b.Loop() {
		c, err := g.Clinics()
		if err != nil {
			b.Fatal(err)
		}
		g.Supply(c)
	}
}
