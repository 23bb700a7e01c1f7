package clock

import (
	"testing"
	"time"
)

func TestFakeAndOffset(t *testing.T) {
	t0 := time.Date(2021, 8, 9, 20, 0, 0, 0, time.UTC)
	f := NewFake(t0)
	if !f.Now().Equal(t0) {
		t.Fatalf("Now = %v", f.Now())
	}
	if got := f.Advance(90 * time.Second); !got.Equal(t0.Add(90*time.Second)) || !f.Now().Equal(got) {
		t.Fatalf("Advance = %v, Now = %v", got, f.Now())
	}
	f.Set(t0)
	o := Offset{Base: f, Shift: -time.Hour}
	if !o.Now().Equal(t0.Add(-time.Hour)) {
		t.Fatalf("Offset.Now = %v", o.Now())
	}
	if d := time.Since(System{}.Now()); d < 0 || d > time.Minute {
		t.Fatalf("System clock is off by %v", d)
	}
}
