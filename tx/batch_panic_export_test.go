package tx

// RerunPanicked is the solo run Batch gives a function that panicked with
// v in a batch (batch_panic_stack_test.go).
func RerunPanicked(db *DB, fn func(*Tx) error, v any) error { return db.rerunPanicked(fn, v) }
