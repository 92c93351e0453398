//go:build !race

package dynmod

// raceEnabled: under the race detector sync.Pool drops a quarter of what it
// is given, on purpose.
const raceEnabled = false
