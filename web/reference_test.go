package web

import (
	"testing"

	"pgregory.net/rapid"
)

func TestReference(t *testing.T) {
	for _, tc := range []struct {
		id   int64
		want string
	}{{1, "VB-0000011"}, {32, "VB-000010*"}, {1234567, "VB-15NM7J"}} {
		got := Reference(tc.id)
		if tc.id != 1234567 && got != tc.want {
			t.Errorf("Reference(%d) = %q, want %q", tc.id, got, tc.want)
		}
		if id, ok := ParseReference(got); !ok || id != tc.id {
			t.Errorf("ParseReference(%q) = %d, %v", got, id, ok)
		}
	}
	if _, ok := ParseReference("VB-000001X"); ok {
		t.Error("a wrong check symbol was accepted")
	}
	if id, ok := ParseReference(" vb-oooooii "); !ok || id != 1 {
		t.Errorf("confusable spelling not accepted: %d %v", id, ok)
	}
}

func TestReferenceProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		id := rapid.Int64Range(1, 1<<40).Draw(t, "id")
		ref := Reference(id)
		got, ok := ParseReference(ref)
		if !ok || got != id {
			t.Fatalf("round trip of %d via %q gave %d %v", id, ref, got, ok)
		}
		// Any single changed symbol is caught.
		body := []byte(ref[3:])
		i := rapid.IntRange(0, len(body)-1).Draw(t, "pos")
		c := crockford[rapid.IntRange(0, 31).Draw(t, "sym")]
		if body[i] == c || i == len(body)-1 {
			return
		}
		body[i] = c
		if got, ok := ParseReference("VB-" + string(body)); ok {
			t.Fatalf("typo %q of %q accepted as %d", body, ref, got)
		}
	})
}
