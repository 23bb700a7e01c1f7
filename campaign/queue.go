package campaign

import (
	"time"

	"vaxbook"
)

// DefaultPreQueue is how long before a window opens people may join its
// pre-queue when the campaign does not say.
const DefaultPreQueue = 30 * time.Minute

// PreQueue returns the campaign's pre-queue lead (DefaultPreQueue when unset).
func PreQueue(c vaxbook.Campaign) time.Duration {
	if c.PreQueue > 0 {
		return time.Duration(c.PreQueue)
	}
	return DefaultPreQueue
}

// QueueWindow returns the window a person may be in the waiting room for at
// instant at: the window they may book in now (Check is eligible), or else
// their next window if it opens within the pre-queue lead. ok is false
// otherwise; d is Check's decision either way, so callers can say why.
func QueueWindow(c vaxbook.Campaign, birth vaxbook.Date, nat vaxbook.Nationality, at time.Time) (w vaxbook.Window, d vaxbook.Decision, ok bool) {
	d = Check(c, birth, nat, at)
	if d.Window == nil {
		return vaxbook.Window{}, d, false
	}
	switch d.Code {
	case vaxbook.CodeEligible:
		return *d.Window, d, true
	case vaxbook.CodeNotOpenYet, vaxbook.CodeOtherDay:
		if !at.Before(d.Window.Opens.Add(-PreQueue(c))) {
			return *d.Window, d, true
		}
	}
	return vaxbook.Window{}, d, false
}
