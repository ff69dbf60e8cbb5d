package tx

// BatchQueued is how many Batch calls wait for the next batch, and
// BatchLed whether a caller holds the leader's token (goexit_test.go).
func BatchQueued(db *DB) int {
	db.batchMu.Lock()
	defer db.batchMu.Unlock()
	if db.batch == nil {
		return 0
	}
	return len(db.batch.calls)
}

func BatchLed(db *DB) bool { return len(db.batchLead) == 1 }
