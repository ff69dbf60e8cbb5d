//go:build race

package wal

// raceEnabled: the race detector allocates, and sync.Pool drops a quarter
// of what is put back, so allocation counts hold only without -race.
const raceEnabled = true
