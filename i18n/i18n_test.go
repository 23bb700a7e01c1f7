package i18n

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestCatalogsComplete(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Missing(); len(m) > 0 {
		t.Fatalf("missing: %v", m)
	}
	// Every stable code of the root package has a message in both languages.
	src, err := os.ReadFile("../vaxbook.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`Code\s+= "([a-z_0-9]+)"|Code = "([a-z_0-9]+)"`)
	n := 0
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		code := m[1] + m[2]
		n++
		for _, lang := range c.Languages() {
			if got := c.T(lang, "code."+code); got == "code."+code || strings.TrimSpace(got) == "" {
				t.Errorf("%s: no message for code %s", lang, code)
			}
		}
	}
	if n < 30 {
		t.Fatalf("found only %d codes in vaxbook.go; the pattern is stale", n)
	}
}

func TestMatch(t *testing.T) {
	c := MustLoad()
	for _, tc := range []struct{ explicit, accept, want string }{
		{"", "", "ko"},
		{"", "en-US,en;q=0.9", "en"},
		{"", "fr-FR", "ko"},
		{"ko", "en-US", "ko"},
		{"en", "", "en"},
		{"xx", "en", "en"},
		{"", "ko-KR,ko;q=0.9,en;q=0.8", "ko"},
		{"", ";;;garbage", "ko"},
	} {
		if got := c.Match(tc.explicit, tc.accept); got != tc.want {
			t.Errorf("Match(%q, %q) = %q, want %q", tc.explicit, tc.accept, got, tc.want)
		}
	}
}

func TestT(t *testing.T) {
	c := MustLoad()
	if got := c.T("en", "code.slot_full"); !strings.Contains(got, "fully booked") {
		t.Errorf("en slot_full = %q", got)
	}
	if got := c.T("ko", "code.slot_full"); !strings.Contains(got, "찼습니다") {
		t.Errorf("ko slot_full = %q", got)
	}
	if got := c.T("en", "no.such.key"); got != "no.such.key" {
		t.Errorf("unknown key = %q, want the key itself", got)
	}
}
