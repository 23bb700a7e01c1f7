package campaign_test

import (
	"testing"
	"time"

	"vaxbook"
	"vaxbook/campaign"
)

var sinkDecision vaxbook.Decision
var sinkBool bool

// BenchmarkCheck measures one eligibility decision (the engine makes one per
// booking call) on kr-2021-18-49 during a rotation day.
func BenchmarkCheck(b *testing.B) {
	c := mustLoad(b, "kr-2021-18-49")
	birth := vaxbook.MustDate("1985-03-15")
	at := time.Date(2021, time.August, 15, 21, 0, 0, 0, kst)
	for b.Loop() {
		sinkDecision = campaign.Check(c, birth, vaxbook.National, at)
	}
}

// BenchmarkCheckBaseline is the floor Check is compared with: scanning the
// campaign's windows with Window.Contains, no predicate and no message.
func BenchmarkCheckBaseline(b *testing.B) {
	c := mustLoad(b, "kr-2021-18-49")
	at := time.Date(2021, time.August, 15, 21, 0, 0, 0, kst)
	for b.Loop() {
		open := false
		for _, w := range c.Windows {
			open = open || w.Contains(at)
		}
		sinkBool = open
	}
}
