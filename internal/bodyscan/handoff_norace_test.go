//go:build !race

package bodyscan

const raceEnabled = false
