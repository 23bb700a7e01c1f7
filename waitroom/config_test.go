package waitroom

import (
	"strings"
	"testing"
	"time"
)

// TestNewRefuses: a configuration that cannot work is refused with a
// message naming what is wrong, not corrected behind the operator's back.
func TestNewRefuses(t *testing.T) {
	ok := func() Config { return Config{Backend: NewMemory(), Secret: make([]byte, 32)} }
	for _, tc := range []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"no backend", func(c *Config) { c.Backend = nil }, "Backend is required"},
		{"short secret", func(c *Config) { c.Secret = make([]byte, 31) }, "at least 32 bytes"},
		{"negative stage time", func(c *Config) { c.StageTime = -time.Second }, "must not be negative"},
		{"negative stage floor", func(c *Config) { c.StageFloor = -1 }, "must not be negative"},
		{"negative leaver allowance", func(c *Config) { c.LeaverAllowance = -time.Second }, "must not be negative"},
		{"claim timeout past the pass", func(c *Config) { c.ClaimTimeout = 11 * time.Minute }, "must not exceed PassTTL"},
		{"retry past the claim timeout", func(c *Config) { c.MaxRetry = 8 * time.Minute }, "MaxRetry < ClaimTimeout"},
	} {
		c := ok()
		tc.mut(&c)
		if _, err := New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one saying %q", tc.name, err, tc.want)
		}
	}
	if _, err := New(ok()); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
}
