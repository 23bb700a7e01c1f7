package main

import (
	"testing"
	"time"
)

func TestStageTimeFlag(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    stageTime
		wantErr bool
	}{
		{"measured", stageTime{measured: true}, false},
		{"30s", stageTime{d: 30 * time.Second}, false},
		{"2m30s", stageTime{d: 150 * time.Second}, false},
		{"0", stageTime{}, true},
		{"-1s", stageTime{}, true},
		{"Measured", stageTime{}, true},
		{"", stageTime{}, true},
	} {
		var s stageTime
		err := s.Set(tc.in)
		if (err != nil) != tc.wantErr || s != tc.want {
			t.Errorf("Set(%q): %+v, %v; want %+v, error %v", tc.in, s, err, tc.want, tc.wantErr)
		}
	}
	if got := (&stageTime{measured: true}).String(); got != "measured" {
		t.Errorf("String of measured: %q", got)
	}
}
