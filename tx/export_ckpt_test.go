package tx

// FaultInCheckpoints makes every checkpoint read its mapping past the
// file's end, as a checkpoint would meet a file truncated underneath it:
// a memory fault (SIGBUS) in the checkpoint's transaction, before it
// writes anything. The returned func turns it off.
func FaultInCheckpoints() (restore func()) {
	checkpointHook = func(tx *Tx) {
		data := tx.r.data
		if int64(len(data)) <= tx.db.st.Size() {
			panic("tx: test: the mapping ends inside the file: no read past its end to fault on")
		}
		faultSink = data[len(data)-1]
	}
	return func() { checkpointHook = nil }
}

// faultSink keeps the faulting read from being optimised away.
var faultSink byte
