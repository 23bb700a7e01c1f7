package rush

import (
	"errors"
	"os"
	"slices"
	"testing"
)

func TestHeapPeak(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name  string
		heaps []int64
		wrote []int64 // heaps at which a profile was written
	}{
		{"below the minimum never", []int64{1 * mib, 10 * mib, 63 * mib}, nil},
		{"first above the minimum", []int64{10 * mib, 64 * mib}, []int64{64 * mib}},
		{"growth under a tenth skipped", []int64{100 * mib, 105 * mib, 109 * mib, 110 * mib}, []int64{100 * mib, 110 * mib}},
		{"a fall and a lower rise skipped", []int64{200 * mib, 80 * mib, 150 * mib, 219 * mib, 220 * mib}, []int64{200 * mib, 220 * mib}},
		{"a steady climb", []int64{100 * mib, 200 * mib, 400 * mib, 800 * mib}, []int64{100 * mib, 200 * mib, 400 * mib, 800 * mib}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var wrote []int64
			var cur int64
			h := &heapPeak{path: "p", min: 64 * mib, write: func(string) error { wrote = append(wrote, cur); return nil }}
			for _, x := range tt.heaps {
				cur = x
				if _, err := h.observe(x); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(wrote, tt.wrote) {
				t.Errorf("wrote at %v, want %v", wrote, tt.wrote)
			}
		})
	}
}

func TestHeapPeakWriteFails(t *testing.T) {
	h := &heapPeak{path: "p", min: 1, write: func(string) error { return errors.New("disk full") }}
	if ok, err := h.observe(100); ok || err == nil {
		t.Fatalf("observe = %v, %v; want false and the error", ok, err)
	}
	if h.last != 0 {
		t.Errorf("last = %d after a failed write, want 0 (try again)", h.last)
	}
	var nilPeak *heapPeak
	if ok, err := nilPeak.observe(1 << 40); ok || err != nil {
		t.Errorf("nil heapPeak observe = %v, %v; want false, nil", ok, err)
	}
}

func TestWriteHeapProfile(t *testing.T) {
	p := t.TempDir() + "/heap.pprof"
	h := newHeapPeak(p)
	h.min = 1
	if ok, err := h.observe(2); !ok || err != nil {
		t.Fatalf("observe = %v, %v", ok, err)
	}
	if err := writeHeapProfile(p+".end", true); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{p, p + ".end"} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v, want a non-empty profile", f, err)
		}
	}
}
