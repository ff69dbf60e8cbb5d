package folio

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/foliodb/folio/tx"
)

// fillTxn is bigTxn(ps, n) with its large values filled with fill: the
// same operations, so a commit from the same state allocates the same
// pages, and writes other bytes into them.
func fillTxn(ps, n int, fill byte) func(*Tx) error {
	return func(tx *Tx) error {
		if err := bigTxn(ps, n)(tx); err != nil {
			return err
		}
		b := tx.Bucket([]byte("big"))
		for i := 0; i < 12; i++ {
			if err := b.Put([]byte(fmt.Sprintf("v%02d", i)), bytes.Repeat([]byte{fill}, 2*ps+i)); err != nil {
				return err
			}
		}
		return nil
	}
}

func fillModel(m *mbucket, ps int, fill byte) *mbucket {
	m = bigModel(m, ps)
	b := lookupModel(m, []string{"big"}, true)
	for i := 0; i < 12; i++ {
		b.kv[fmt.Sprintf("v%02d", i)] = string(bytes.Repeat([]byte{fill}, 2*ps+i))
	}
	return m
}

// mapFailStorage is crashStorage whose Map fails while failMap is set.
type mapFailStorage struct {
	*crashStorage
	failMap bool
}

func (s *mapFailStorage) Map(size int64) (tx.View, error) {
	if s.failMap {
		return nil, errInjected
	}
	return s.crashStorage.Map(size)
}

// failedMetaWrite opens the fault workload (as faultDB) with pre
// transactions committed and commits bigTxn(ps, pre+1) with its meta
// page's write failing (crashStorage writes the first half of the page,
// the whole meta, before it returns the error). With failMap, every Map
// fails from then on: the restoring of the meta slot, which maps the
// file's meta pages, fails too. It returns the database, its storage,
// the models and the log length before that commit.
func failedMetaWrite(t *testing.T, ps, pre int, failMap bool) (*DB, *crashStorage, []*mbucket, int) {
	t.Helper()
	open := func() (*DB, *mapFailStorage) {
		st := &mapFailStorage{crashStorage: newCrashStorage(t, tx.InitialImage(ps))}
		db, err := tx.Open("fault.db", st, &Options{})
		if err != nil {
			t.Fatal(err)
		}
		db.AllocSize = 4 * ps
		for i := 1; i <= pre; i++ {
			ops := workTxn(3, i, ps)
			if err := db.Update(func(tx *Tx) error { return applyTxn(tx, i, ops) }); err != nil {
				t.Fatal(err)
			}
		}
		return db, st
	}
	models := workModels(3, pre+1, ps)
	// A dry run counts the commit's storage calls: the meta's write and
	// sync are its last two.
	db, st := open()
	calls := st.calls
	if err := db.Update(bigTxn(ps, pre+1)); err != nil {
		t.Fatal(err)
	}
	calls = st.calls - calls
	_ = db.Close()

	db, st = open()
	first := st.opCount()
	st.mu.Lock()
	st.failAt = st.calls + calls - 2
	st.mu.Unlock()
	// The commit maps nothing new (the first view, 16 MiB, covers it).
	st.failMap = failMap
	err := db.Update(bigTxn(ps, pre+1))
	st.failMap = false
	if op := st.failedOp; op == nil || op.kind != opWrite || op.off >= int64(2*ps) {
		t.Fatalf("the failed call is %v, want the meta page's write", op)
	}
	if !errors.Is(err, errInjected) {
		t.Fatalf("commit with a failing meta write: %v, want the injected error", err)
	}
	expectState(t, "after the failed meta write", db, models[pre])
	return db, st.crashStorage, models, first
}

// crashStates cuts the power after each of the calls [from, to] of st:
// every image must open, pass Check and hold one of the states want.
func crashStates(t *testing.T, where string, st *crashStorage, from, to, ps int, want map[string]*mbucket) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(from), uint64(to)))
	for k := from; k <= to; k++ {
		for _, mode := range []imageMode{imageSynced, imageAll, imageSubset, imageTorn} {
			w := fmt.Sprintf("%s, then a crash after op %d (%s), image %s", where, k, opAt(st.ops, k), mode)
			db, err := openImage(t, "fault.db", st.image(k, mode, ps, rng), &Options{VerifyChecksums: true})
			if err != nil {
				t.Fatalf("%s: open: %v", w, err)
			}
			for _, err := range checkErrs(db) {
				t.Errorf("%s: check: %v", w, err)
			}
			held := ""
			if err := db.View(func(tx *Tx) error {
				for name, m := range want {
					if diffDB(tx, m) == nil {
						held = name
					}
				}
				return nil
			}); err != nil {
				t.Fatalf("%s: %v", w, err)
			}
			_ = db.Close()
			if held == "" {
				t.Fatalf("%s: the file holds none of the states expected", w)
			}
		}
	}
}

// TestFailedMetaWriteThenOtherCommit: a commit's meta write fails after
// putting the whole meta in the page cache, and the next commit is
// another transaction that allocates the same pages (they went back to
// the free set) and writes other bytes there. The slot the failed meta
// went to must hold a meta naming none of those pages before they are
// overwritten: a power cut at any point from the failed commit on leaves
// a file that opens, passes Check and holds the state before, after the
// failed transaction, or after the next. (The failed meta once stayed in
// its slot until the next commit's meta replaced it, and a crash after
// the next commit's pages left a valid meta over overwritten pages: an
// open that failed, ErrCorrupt.) TestCommitFaults misses this: its retry
// is the same transaction, and writes the same bytes.
func TestFailedMetaWriteThenOtherCommit(t *testing.T) {
	const ps, pre = 1024, 4
	db, st, models, first := failedMetaWrite(t, ps, pre, false)
	defer db.Close()
	failed := st.opCount()
	if err := db.Update(fillTxn(ps, pre+1, 0xa5)); err != nil {
		t.Fatalf("the commit after the failed one: %v", err)
	}
	other := fillModel(models[pre+1], ps, 0xa5)
	expectState(t, "after the next commit", db, other)

	// The test means something only if the next commit overwrote pages
	// of the failed one with other bytes.
	wrote := map[int64][]byte{}
	for _, op := range st.ops[first:failed] {
		for i := 0; op.kind == opWrite && op.off >= 2*ps && i+ps <= len(op.data); i += ps {
			wrote[op.off+int64(i)] = op.data[i : i+ps]
		}
	}
	over := 0
	for _, op := range st.ops[failed:] {
		for i := 0; op.kind == opWrite && i+ps <= len(op.data); i += ps {
			if old, ok := wrote[op.off+int64(i)]; ok && !bytes.Equal(old, op.data[i:i+ps]) {
				over++
			}
		}
	}
	if over == 0 {
		t.Fatal("the next commit overwrote no page of the failed one")
	}
	t.Logf("the next commit overwrote %d pages of the failed one", over)

	crashStates(t, "a failed meta write, then another commit", st, first, st.opCount(), ps, map[string]*mbucket{
		"before": models[pre], "failed": bigModel(models[pre+1], ps), "next": other,
	})
	// Once the next commit is done, only it.
	img := st.image(st.opCount(), imageSynced, ps, nil)
	db2, err := openImage(t, "fault.db", img, &Options{VerifyChecksums: true})
	if err != nil {
		t.Fatal(err)
	}
	expectState(t, "synced after the next commit", db2, other)
	_ = db2.Close()
}

// TestFailedMetaWriteThenClose: a commit that grew the file fails at
// its meta write, and the database is closed; Close gives back the
// file's tail past the high water mark, which held the failed commit's
// pages. The file must open at the state before the transaction (or
// after it, as a crash before Close may leave it), never refuse to: the
// failed meta once stayed in its slot, naming pages past the file's new
// end.
func TestFailedMetaWriteThenClose(t *testing.T) {
	const ps, pre = 1024, 4
	db, st, models, first := failedMetaWrite(t, ps, pre, false)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	truncated := false
	for _, op := range st.ops[first:] {
		truncated = truncated || op.kind == opTruncate
	}
	if !truncated {
		t.Fatal("Close did not give back the file's tail")
	}
	crashStates(t, "a failed meta write, then Close", st, first, st.opCount(), ps, map[string]*mbucket{
		"before": models[pre], "failed": bigModel(models[pre+1], ps),
	})
	// What Close left, whole.
	db2, err := openImage(t, "fault.db", st.image(st.opCount(), imageAll, ps, nil), &Options{VerifyChecksums: true})
	if err != nil {
		t.Fatalf("open after Close: %v", err)
	}
	expectState(t, "after Close", db2, models[pre])
	_ = db2.Close()
}

// TestFailedMetaWriteUnrestored: a commit's meta write fails, and so does
// putting the current meta back in its slot. The slot may hold the failed
// meta, whose pages must then stay as they are: the database refuses
// writes (ErrSyncFailed) until reopened, Close keeps the file's tail, and
// a power cut anywhere leaves a file that opens at the state before or
// after the failed transaction, and takes writes.
func TestFailedMetaWriteUnrestored(t *testing.T) {
	const ps, pre = 1024, 4
	db, st, models, first := failedMetaWrite(t, ps, pre, true)
	err := db.Update(fillTxn(ps, pre+1, 0xa5))
	if !errors.Is(err, ErrSyncFailed) {
		t.Fatalf("a commit after a meta slot left unrestored: %v, want ErrSyncFailed", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, op := range st.ops[first:] {
		if op.kind == opTruncate {
			t.Fatalf("Close cut the file's tail (%s) with the failed meta maybe in its slot", op)
		}
	}
	crashStates(t, "a failed meta write left in its slot, then Close", st, first, st.opCount(), ps, map[string]*mbucket{
		"before": models[pre], "failed": bigModel(models[pre+1], ps),
	})
}
