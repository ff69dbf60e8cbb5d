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

// RecycledViewTx runs fn in a read transaction, resets that Tx as View
// does for its pool, and begins a read transaction on it and on a new Tx.
// It returns the two, with the fields reset keeps on purpose (spare
// buckets, slice capacity) and those pointing at the Tx itself cleared, for
// the caller to compare; both are ended.
func RecycledViewTx(db *DB, fn func(*Tx) error) (reused, fresh Tx, err error) {
	var used, other Tx
	if err := db.begin(&used, false); err != nil {
		return Tx{}, Tx{}, err
	}
	used.managed = true
	err = used.run(fn)
	used.managed = false
	used.end()
	used.reset()
	if err := db.begin(&used, false); err != nil {
		return Tx{}, Tx{}, err
	}
	used.end()
	if err := db.begin(&other, false); err != nil {
		return Tx{}, Tx{}, err
	}
	other.end()
	for _, t := range []*Tx{&used, &other} {
		// Kept on purpose (capacity for the next use), and pointers to
		// the Tx itself, which differ by construction.
		t.spare, t.opened, t.root.children.few = nil, nil, nil
		t.root.tx = nil
		id, sum := t.root.tree.Root()
		t.root.tree.Reset(nil, id, sum)
	}
	return used, other, err
}

// QueuedBatchCalls is how many Batch calls are queued for the next batch
// transaction (its leader's own call included, until it takes them).
func QueuedBatchCalls(db *DB) int {
	db.batchMu.Lock()
	defer db.batchMu.Unlock()
	if db.batch == nil {
		return 0
	}
	return len(db.batch.calls)
}
