package sqlite

import (
	"encoding/json"
	"testing"
	"time"

	"vaxbook"
)

func TestAppendOutcomeMatchesJSON(t *testing.T) {
	at := time.Date(2021, 8, 9, 11, 0, 0, 123456000, time.UTC)
	tests := []storedOutcome{
		{},
		{Code: vaxbook.CodeSlotFull, Message: `no place "left" <here> & ü`},
		{Bookings: []vaxbook.Booking{
			{ID: 1, PersonID: 2, CampaignID: "kr-2021-18-49", Dose: 1, SlotID: 3, Cohort: 4, Status: vaxbook.BookingActive, Version: 1, CreatedAt: at, UpdatedAt: at},
			{ID: 5, PersonID: 2, CampaignID: "kr", Dose: 2, SlotID: 6, Cohort: 11, Status: vaxbook.BookingCancelled, Version: 3, CreatedAt: at, UpdatedAt: at.Add(time.Hour)},
		}},
	}
	for _, o := range tests {
		want, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendOutcome(nil, o); string(got) != string(want) {
			t.Errorf("appendOutcome:\n got %s\nwant %s", got, want)
		}
	}
}
