//go:build race

package translate

// raceEnabled: the race detector changes allocation counts.
const raceEnabled = true
