//go:build race

package waitroom_test

const raceEnabled = true
