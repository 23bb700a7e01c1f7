package waitroom

import (
	"encoding/binary"
	"fmt"
	"testing"
)

func TestSipHashVector(t *testing.T) {
	// Reference vector of SipHash-2-4 (key 00…0f, message 00…07).
	k0, k1 := uint64(0x0706050403020100), uint64(0x0f0e0d0c0b0a0908)
	if got, want := sipHash(k0, k1, 0x0706050403020100), uint64(0x93f5f5799a932462); got != want {
		t.Fatalf("sipHash = %#x, want %#x", got, want)
	}
}

func key(seed uint64) [16]byte {
	var k [16]byte
	binary.LittleEndian.PutUint64(k[:8], seed*0x9E3779B97F4A7C15+1)
	binary.LittleEndian.PutUint64(k[8:], seed^0xdeadbeefcafef00d)
	return k
}

func TestPermIsBijection(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 100, 255, 256, 257, 1000, 4097, 65_537} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			p := NewPerm(key(n), n)
			seen := make([]bool, n)
			for i := uint64(0); i < n; i++ {
				x := p.At(i)
				if x >= n || seen[x] {
					t.Fatalf("At(%d) = %d: out of range or repeated", i, x)
				}
				seen[x] = true
			}
			if p.At(n) != n || p.At(n+5) != n+5 {
				t.Fatal("values outside the domain are not left alone")
			}
		})
	}
}

func TestPermDependsOnKeyAndSize(t *testing.T) {
	a, b := NewPerm(key(1), 1000), NewPerm(key(2), 1000)
	c := NewPerm(key(1), 1001)
	same, sameN := 0, 0
	for i := uint64(0); i < 1000; i++ {
		if a.At(i) == b.At(i) {
			same++
		}
		if a.At(i) == c.At(i) {
			sameN++
		}
	}
	// A random pair of permutations agrees on about one point.
	if same > 10 || sameN > 10 {
		t.Fatalf("permutations under other keys/sizes agree on %d / %d of 1000 points", same, sameN)
	}
}

// TestPermUniform checks with chi-square tests over many keys (fixed seeds)
// that every arrival rank is equally likely to get every place, for a small
// domain (rank × place table) and a larger one (deciles × deciles).
func TestPermUniform(t *testing.T) {
	for _, tc := range []struct {
		n, buckets, runs int
		critical         float64 // χ² at p = 0.001 for (buckets-1)² dof
	}{
		{n: 5, buckets: 5, runs: 5000, critical: 39.25},      // 16 dof
		{n: 10, buckets: 10, runs: 5000, critical: 124.84},   // 81 dof
		{n: 37, buckets: 37, runs: 20000, critical: 1448.28}, // 1296 dof
		{n: 1000, buckets: 10, runs: 500, critical: 124.84},  // 81 dof
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			counts := make([][]float64, tc.buckets)
			for i := range counts {
				counts[i] = make([]float64, tc.buckets)
			}
			for r := 0; r < tc.runs; r++ {
				p := NewPerm(key(uint64(r)+1e6*uint64(tc.n)), uint64(tc.n))
				for i := 0; i < tc.n; i++ {
					at := int(p.At(uint64(i)))
					counts[i*tc.buckets/tc.n][at*tc.buckets/tc.n]++
				}
			}
			expected := float64(tc.runs) * float64(tc.n) / float64(tc.buckets*tc.buckets)
			chi2 := 0.0
			for _, row := range counts {
				for _, o := range row {
					chi2 += (o - expected) * (o - expected) / expected
				}
			}
			if chi2 > tc.critical {
				t.Fatalf("χ² = %.1f > %.1f: places not uniform over ranks", chi2, tc.critical)
			}
			t.Logf("n=%d: χ² = %.1f (critical %.1f)", tc.n, chi2, tc.critical)
		})
	}
}

func BenchmarkPermAt(b *testing.B) {
	p := NewPerm(key(7), 2_000_000)
	var sink uint64
	for i := 0; b.Loop(); i++ {
		sink += p.At(uint64(i) % 2_000_000)
	}
	_ = sink
}
