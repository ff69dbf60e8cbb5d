package tx

// SetReplayLimits lowers the size at which a replay transaction commits
// (replayOpsBytes, replayPagesBytes) until the returned func restores them.
func SetReplayLimits(opsBytes, pagesBytes int) (restore func()) {
	o, p := replayOpsBytes, replayPagesBytes
	replayOpsBytes, replayPagesBytes = opsBytes, pagesBytes
	return func() { replayOpsBytes, replayPagesBytes = o, p }
}

// ReplayTxs is how many transactions the open's replay of operations
// committed.
func ReplayTxs(db *DB) int { return db.wal.replayTxs }
