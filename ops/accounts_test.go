package ops

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"vaxbook"
)

func hash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestParseAccounts(t *testing.T) {
	good := hash(t, "s3cret-pass")
	for _, tc := range []struct {
		name    string
		entries []string
		want    string // "" ok, else part of the error
	}{
		{"one", []string{"alice:" + good}, ""},
		{"two", []string{"alice:" + good, " bob.ops:" + good + " "}, ""},
		{"none", nil, ""},
		{"no colon", []string{"alice"}, "entry 1"},
		{"empty name", []string{":" + good}, "entry 1"},
		{"upper case", []string{"Alice:" + good}, "entry 1"},
		{"long name", []string{strings.Repeat("a", 33) + ":" + good}, "entry 1"},
		{"twice", []string{"alice:" + good, "alice:" + good}, "configured twice"},
		{"not bcrypt", []string{"alice:plaintext"}, "not a bcrypt hash"},
		{"second bad", []string{"alice:" + good, "bob:$2a$xx"}, `"bob"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAccounts(tc.entries)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(a.Names()) != len(tc.entries) {
					t.Fatalf("names %v", a.Names())
				}
				return
			}
			if err == nil || vaxbook.ErrorCode(err) != vaxbook.CodeInvalid || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an invalid_argument error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "$2a$") || strings.Contains(err.Error(), "plaintext") {
				t.Fatalf("the error echoes the secret: %v", err)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	a, err := ParseAccounts([]string{"alice:" + hash(t, "right password")})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2021, 8, 9, 20, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, user, pw string
		ok             bool
	}{
		{"right", "alice", "right password", true},
		{"right again (cached)", "alice", "right password", true},
		{"wrong password", "alice", "wrong", false},
		{"unknown user", "mallory", "right password", false},
		{"empty", "", "", false},
		{"too long", "alice", strings.Repeat("x", 73), false},
	} {
		if got := a.Verify(tc.user, tc.pw, now); got != tc.ok {
			t.Errorf("%s: Verify = %v", tc.name, got)
		}
	}
	if !a.Has("alice") || a.Has("mallory") {
		t.Error("Has")
	}
}

func TestGenerateAccount(t *testing.T) {
	a, err := ParseAccounts(nil)
	if err != nil {
		t.Fatal(err)
	}
	a.genCost = bcrypt.MinCost
	g, err := a.GenerateAccount("admin")
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Password) != 20 || g.Name != "admin" {
		t.Fatalf("generated %+v", g)
	}
	now := time.Now()
	if !a.Verify("admin", g.Password, now) || a.Verify("admin", g.Password+"x", now) {
		t.Fatal("the generated password does not verify")
	}
	if got, ok := a.TakeGenerated(); !ok || got != g {
		t.Fatal("TakeGenerated did not return the account")
	}
	if _, ok := a.TakeGenerated(); ok {
		t.Fatal("TakeGenerated returned the password twice")
	}
	b, _ := ParseAccounts(nil)
	b.genCost = bcrypt.MinCost
	g2, _ := b.GenerateAccount("admin")
	if g2.Password == g.Password {
		t.Fatal("two generated passwords are equal")
	}
	if _, err := b.GenerateAccount("Bad Name"); vaxbook.ErrorCode(err) != vaxbook.CodeInvalid {
		t.Fatalf("bad name: %v", err)
	}
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(3, 10*time.Minute)
	t0 := time.Date(2021, 8, 9, 20, 0, 0, 0, time.UTC)
	for i := range 2 {
		l.Fail("k", t0.Add(time.Duration(i)*time.Second))
	}
	if w := l.Allow("k", t0.Add(3*time.Second)); w != 0 {
		t.Fatalf("locked after 2 failures: %v", w)
	}
	l.Fail("k", t0.Add(3*time.Second))
	if w := l.Allow("k", t0.Add(4*time.Second)); w <= 9*time.Minute {
		t.Fatalf("not locked after 3 failures: %v", w)
	}
	if w := l.Allow("other", t0.Add(4*time.Second)); w != 0 {
		t.Fatal("another key is locked")
	}
	if w := l.Allow("k", t0.Add(3*time.Second+10*time.Minute)); w != 0 {
		t.Fatalf("still locked after the window: %v", w)
	}
	// Failures spread wider than the window do not add up.
	l2 := NewLimiter(3, time.Minute)
	for i := range 10 {
		l2.Fail("k", t0.Add(time.Duration(i)*31*time.Second))
	}
	if w := l2.Allow("k", t0.Add(5*time.Minute)); w != 0 {
		t.Fatalf("slow failures locked the key: %v", w)
	}
	l2.Fail("k", t0)
	l2.Reset("k")
	if len(l2.keys) != 0 {
		t.Fatal("Reset kept the key")
	}
}
