//go:build race

package rush

// raceEnabled: the race detector slows the in-process server and simulator
// several times, so the integration rush is smaller under it.
const raceEnabled = true
