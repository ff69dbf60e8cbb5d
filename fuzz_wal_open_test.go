package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/tx"
)

// FuzzOpenWithLog opens a fresh database file beside a fuzzed write-ahead
// log: the records a real workload logged (page images, operations, both,
// and anchors), mutated. Recovery decodes each record and applies it to
// the file (page images) or to the tree (operations), so every byte of
// the log reaches the replay code: Open must fail with an error or open a
// database that checks clean, reads through, takes a commit and closes;
// never panic. The unmutated seeds must open.
//
// Input: records, each a 4-byte little-endian length and the payload; a
// length past the end takes the rest.
func FuzzOpenWithLog(f *testing.F) {
	const ps = 1024
	seeds := map[string]int{"images": recordsLimit["images"], "operations": recordsLimit["operations"], "auto": recordsLimit["auto"]}
	for name, limit := range seeds {
		recs := fuzzLogRecords(f, ps, limit, name == "auto")
		f.Add(encodeFuzzLog(recs))
	}
	base := tx.InitialImage(ps)
	want := fileTxID(base, ps) + fuzzLogTxns
	f.Fuzz(func(t *testing.T, in []byte) {
		defer slowGuard("FuzzOpenWithLog", in)()
		openWithFuzzLog(t, base, want, in)
	})
}

// openWithFuzzLog is FuzzOpenWithLog's body: base is the file, want the
// txid the seeds recover.
func openWithFuzzLog(t *testing.T, base []byte, want page.TxID, in0 []byte) {
	const ps = 1024
	recs := decodeFuzzLog(in0)
	st := newCrashStorage(t, base)
	// NB: the storage keeps a mapping (it syncs through it) until it
	// is closed, as the root package's Open does when this fails;
	// without this the fuzzer ran out of mappings.
	defer st.Close()
	lg := newCrashLogWith(st, recs)
	o := *walOpts(ps)
	o.VerifyChecksums = true
	db, err := tx.OpenWithLog("fuzz.db", st, lg, &o)
	if err != nil {
		if isSeed(in0) {
			t.Fatalf("an unmutated log: %v", err)
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrLogMismatch) && !errors.Is(err, ErrInvalid) {
			t.Fatalf("open: an error that is neither ErrCorrupt, ErrLogMismatch nor ErrInvalid: %v", err)
		}
		return
	}
	defer db.Close()
	// A replay of operations ends in a checkpoint: a commit of its own.
	if in, err := db.Info(); err != nil || (isSeed(in0) && (in.TxID < want || in.TxID > want+1)) {
		t.Fatalf("an unmutated log recovered txid %d (%v), want %d or, after operations, %d", in.TxID, err, want, want+1)
	}
	if err := db.View(func(tx *Tx) error {
		for err := range tx.Check() {
			return err
		}
		return readAll(tx)
	}); err != nil {
		t.Fatalf("opened, but: %v", err)
	}
	if err := db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("after"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatalf("a commit after recovery: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// fuzzLogTxns is how many transactions the seed logs hold.
const fuzzLogTxns = 8

// fuzzSeedLogs are the encoded seeds, for isSeed.
var fuzzSeedLogs [][]byte

func isSeed(in []byte) bool {
	for _, s := range fuzzSeedLogs {
		if bytes.Equal(s, in) {
			return true
		}
	}
	return false
}

// fuzzLogRecords commits a fixed workload (nested buckets, large values,
// deletes, sequences) in WAL mode with no checkpoint and returns the log:
// an anchor naming the initial file, then one record per commit. mixed
// logs the first half as page images, the rest as operations.
func fuzzLogRecords(tb testing.TB, ps, limit int, mixed bool) []logRecord {
	tb.Helper()
	st := newCrashStorage(tb, tx.InitialImage(ps))
	lg := newCrashLog(st)
	db, err := tx.OpenWithLog("seed.db", st, lg, walOpts(ps))
	if err != nil {
		tb.Fatal(err)
	}
	db.WALImageLimit = limit
	if mixed {
		db.WALImageLimit = recordsLimit["images"]
	}
	for i := 1; i <= fuzzLogTxns; i++ {
		if mixed && i == fuzzLogTxns/2+1 {
			db.WALImageLimit = recordsLimit["operations"]
		}
		ops := workTxn(7, i, ps)
		if err := db.Update(func(tx *Tx) error { return applyTxn(tx, i, ops) }); err != nil {
			tb.Fatal(err)
		}
	}
	if kinds := logKinds(tb, lg); mixed && kinds != "[anchor images images images images ops ops ops ops]" {
		tb.Fatalf("the mixed seed logged %s", kinds)
	}
	recs := append([]logRecord(nil), lg.recs...)
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
	if len(recs) != fuzzLogTxns+1 {
		tb.Fatalf("%d records, want %d", len(recs), fuzzLogTxns+1)
	}
	fuzzSeedLogs = append(fuzzSeedLogs, encodeFuzzLog(recs))
	return recs
}

func encodeFuzzLog(recs []logRecord) []byte {
	var b []byte
	for _, r := range recs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r.payload)))
		b = append(b, r.payload...)
	}
	return b
}

// decodeFuzzLog splits in into records (at most 64).
func decodeFuzzLog(in []byte) []logRecord {
	var recs []logRecord
	for len(in) >= 4 && len(recs) < 64 {
		n := int(min(uint64(binary.LittleEndian.Uint32(in)), uint64(len(in)-4)))
		recs = append(recs, logRecord{payload: bytes.Clone(in[4 : 4+n])})
		in = in[4+n:]
	}
	return recs
}
