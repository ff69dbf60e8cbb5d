package tx

// PooledViewKeeps runs fn in a read transaction, resets that Tx as View
// does for its pool, and returns how many bucket handles the reset Tx
// keeps for the next View (spares, and room for the opened ones).
func PooledViewKeeps(db *DB, fn func(*Tx) error) (int, error) {
	var t Tx
	if err := db.begin(&t, false); err != nil {
		return 0, err
	}
	t.managed = true
	err := t.run(fn)
	t.managed = false
	t.end()
	t.reset()
	return cap(t.spare) + cap(t.opened), err
}
