package main

import (
	"fmt"
	"time"
)

// stageTime is the value of -stage-time: a duration, or "measured" (the
// waiting room measures it: waitroom.Config.MeasureStageTime).
type stageTime struct {
	d        time.Duration
	measured bool
}

func (s *stageTime) String() string {
	if s.measured {
		return "measured"
	}
	if s.d == 0 {
		return ""
	}
	return s.d.String()
}

func (s *stageTime) Set(v string) error {
	if v == "measured" {
		*s = stageTime{measured: true}
		return nil
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return fmt.Errorf("want a duration such as 2m30s, or measured")
	case d <= 0:
		return fmt.Errorf("%s: must be positive (or measured)", d)
	}
	*s = stageTime{d: d}
	return nil
}
