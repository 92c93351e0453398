//go:build race

package dynmod

const raceEnabled = true
