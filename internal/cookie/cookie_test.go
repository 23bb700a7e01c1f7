package cookie

import (
	"net/http"
	"testing"
)

func TestValueAgreesWithNetHTTP(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers []string
		cookie  string
	}{
		{"one", []string{"a=1"}, "a"},
		{"among others", []string{"x=9; a=1; b=2"}, "a"},
		{"spaces", []string{"  x=9 ;   a=1  ; b=2"}, "a"},
		{"first wins", []string{"a=1; a=2"}, "a"},
		{"second header line", []string{"x=1", "a=base64_-.~"}, "a"},
		{"quoted", []string{`a="quoted"`}, "a"},
		{"empty value", []string{"a="}, "a"},
		{"absent", []string{"ab=1; b=2"}, "a"},
		{"prefix is not the name", []string{"aa=1"}, "a"},
		{"invalid value skipped", []string{"a=x\\y; a=2"}, "a"},
		{"no header", nil, "a"},
		{"name only", []string{"a"}, "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			for _, h := range tc.headers {
				r.Header.Add("Cookie", h)
			}
			want, err := r.Cookie(tc.cookie)
			got, ok := Value(r, tc.cookie)
			if ok != (err == nil) || (ok && got != want.Value) {
				t.Fatalf("Value = %q, %v; net/http: %v, %v", got, ok, want, err)
			}
		})
	}
}

func BenchmarkValue(b *testing.B) {
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "vb_device=0123456789abcdef0123456789abcdef; vb_session=0123456789abcdef0123456789abcdef0123456789abcdef; vb_queue=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB")
	b.Run("cookie.Value", func(b *testing.B) {
		for b.Loop() {
			Value(r, "vb_queue")
		}
	})
	b.Run("Request.Cookie", func(b *testing.B) {
		for b.Loop() {
			_, _ = r.Cookie("vb_queue")
		}
	})
}
