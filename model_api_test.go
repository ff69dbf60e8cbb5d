package folio

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/foliodb/folio/page"
	txpkg "github.com/foliodb/folio/tx"
	"github.com/foliodb/folio/wal"
)

// TestModelAPI drives what the other model tests leave out, at random,
// against the plain map model (mbucket): sequences (Next, Set, Sequence,
// the overflow at the largest uint64), MoveBucket both ways, DeleteBucket
// of buckets holding buckets, handles kept over moves and deletes, cursor
// sessions mixing First, Last, Seek, Next, Prev and Delete (on the top
// level too), ForEach and ForEachBucket, OnCommit hooks, Sync and View
// inside Update, transactions from Begin, Batch from several goroutines
// (one failing), readers held over commits that end with Check and a
// WriteTo or CopyFile whose copy is opened and compared, Checkpoint, crash
// images of a WAL-mode database (its file and log copied between
// commits, so the copy replays the log), reopens in random modes (direct,
// WAL, ReadOnly, NoFreelistSync), Stats and Info against the model, and
// values of every size (nil, empty, either side of the large-value
// threshold, long page runs). After every transaction the whole database
// is compared with the model: every bucket, key and sequence, both walk
// directions, Get, ForEach. Each reopen runs Tx.Check (what `folio check`
// runs) before the close and after the open, and checks every record of
// the log as `folio check` does.
func TestModelAPI(t *testing.T) {
	for _, tc := range []struct {
		ps  int
		wal bool
	}{{1024, false}, {1024, true}, {4096, false}} {
		t.Run(fmt.Sprintf("page=%d/wal=%v", tc.ps, tc.wal), func(t *testing.T) {
			seed := testSeed(t)
			r := &apiRun{
				t:     t,
				rng:   rand.New(rand.NewPCG(seed, uint64(tc.ps)^boolBit(tc.wal))),
				ps:    tc.ps,
				path:  tempPath(t),
				model: newMBucket(),
				ops:   map[string]int{},
			}
			defer func() {
				if !t.Failed() {
					r.closeAll()
					return
				}
				t.Logf("failed at round %d: rerun with -run '%s' -seed %d", r.round, t.Name(), seed)
				// No more checks (a Fatal here would run inside Goexit).
				if r.wtx != nil {
					_ = r.wtx.Rollback()
				}
				for _, rd := range r.readers {
					_ = rd.tx.Rollback()
				}
				if r.db != nil {
					_ = r.db.Close()
				}
			}()
			r.open(&Options{PageSize: tc.ps, NoSync: true, WAL: tc.wal, CheckpointBytes: 64 << 10})
			rounds := 40 * *roundsMul
			if testing.Short() {
				rounds = 20 * *roundsMul
			}
			for r.round = 0; r.round < rounds; r.round++ {
				r.roundOnce()
				if t.Failed() {
					return
				}
			}
			keys, buckets := r.model.count()
			in, _ := r.db.Info()
			t.Logf("%d keys, %d buckets, %d pages, txid %d; ops: %v", keys, buckets, in.HighPage, in.TxID, r.ops)
		})
	}
}

func boolBit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// apiRun is one run of TestModelAPI: the database, its model and the
// readers holding older snapshots.
type apiRun struct {
	t       *testing.T
	rng     *rand.Rand
	ps      int
	path    string
	db      *DB
	opts    *Options
	model   *mbucket
	txid    int // the last commit's txid, as a read transaction's ID
	commits int64
	readers []apiReader
	round   int
	appendN int
	ops     map[string]int // what ran, logged at the end
	// wtx is the transaction from Begin(true) in progress, rolled back
	// if the test fails in it (Close would wait for it).
	wtx *Tx
	// scratchDir holds the copies of the database, one at a time.
	scratchDir string
	// hooks counts OnCommit functions run; Update's are checked against
	// those registered.
	hooks int
}

type apiReader struct {
	tx    *Tx
	model *mbucket
	txid  int
	until int
}

func (r *apiRun) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("round %d: "+format, append([]any{r.round}, args...)...)
}

func (r *apiRun) open(o *Options) {
	r.t.Helper()
	db, err := Open(r.path, 0o600, o)
	if err != nil {
		r.fatalf("open %+v: %v", *o, err)
	}
	r.db, r.opts = db, o
	r.commits = db.Stats().TxStats.Commits
	if !o.ReadOnly {
		db.MaxBatchSize = []int{0, 1, 2, 3}[r.rng.IntN(4)]
		if o.WAL {
			// Page images, operations, or the default's choice: replay
			// (crash images below) re-runs whichever was logged.
			db.WALImageLimit = []int{0, 0, -1, 1 << 20}[r.rng.IntN(4)]
		}
	}
	if in, err := db.Info(); err != nil || in.PageSize != r.ps || in.WAL != (o.WAL && !o.ReadOnly) && !o.ReadOnly {
		r.fatalf("opened %+v: info %+v, %v", *o, in, err)
	}
	// Close checkpoints in WAL mode, and leaving WAL mode checkpoints
	// again: a checkpoint is an empty transaction committed directly.
	r.syncTxid(r.txid, r.txid+2)
}

// syncTxid sets txid to what a View sees, which must be in [lo, hi]: a
// checkpoint (Checkpoint, Close, one a commit or a replay started) is an
// empty commit of its own.
func (r *apiRun) syncTxid(lo, hi int) {
	r.t.Helper()
	var id int
	if err := r.db.View(func(tx *Tx) error { id = tx.ID(); return nil }); err != nil {
		r.fatalf("%v", err)
	}
	if r.txid != 0 && (id < lo || id > hi) {
		r.fatalf("txid %d, want %d to %d", id, lo, hi)
	}
	r.txid = id
}

// closeAll ends the readers and closes the database, checking it.
func (r *apiRun) closeAll() {
	r.endReaders(true)
	if r.db != nil {
		mustCheck(r.t, r.db)
		if err := r.db.Close(); err != nil {
			r.t.Errorf("close: %v", err)
		}
		r.db = nil
	}
}

// roundOnce runs one transaction (or batch) and what may follow it.
func (r *apiRun) roundOnce() {
	t := r.t
	t.Helper()
	if r.rng.IntN(5) == 0 {
		r.startReader()
	}
	switch x := r.rng.IntN(20); {
	case x < 2:
		r.batchRound()
	case x < 5:
		r.beginRound()
	default:
		r.updateRound()
	}
	if t.Failed() {
		return
	}
	r.compareNow("after the transaction", r.rng.IntN(4) == 0)
	if r.rng.IntN(3) == 0 {
		mustCheck(t, r.db)
	}
	r.endReaders(false)
	if st := r.db.Stats(); st.OpenTxN != len(r.readers) {
		r.fatalf("Stats().OpenTxN %d, readers open %d", st.OpenTxN, len(r.readers))
	}
	switch x := r.rng.IntN(30); {
	case x < 3:
		r.ops["checkpoint"]++
		if err := r.db.Checkpoint(); err != nil {
			r.fatalf("checkpoint: %v", err)
		}
		r.syncTxid(r.txid, r.txid+1)
		if in, err := r.db.Info(); err != nil || in.LogPending != 0 || (r.opts.WAL && in.CheckpointTxID != in.TxID) {
			r.fatalf("after Checkpoint: %+v, %v", in, err)
		}
	case x == 3:
		r.ops["sync"]++
		if err := r.db.Sync(); err != nil {
			r.fatalf("sync: %v", err)
		}
	case x < 6 && r.opts.WAL:
		r.crashImage()
	case x < 8:
		r.reopen()
	}
}

// compareNow compares the database with the model in a fresh View.
func (r *apiRun) compareNow(what string, full bool) {
	r.t.Helper()
	before := r.db.Stats()
	err := r.db.View(func(tx *Tx) error {
		if tx.ID() != r.txid {
			return fmt.Errorf("read transaction ID %d, last commit %d", tx.ID(), r.txid)
		}
		return compareAPI(tx, r.model, r.ps, r.rng, full)
	})
	if err != nil {
		r.fatalf("%s: %v", what, err)
	}
	if after := r.db.Stats(); after.TxN <= before.TxN {
		r.fatalf("%s: Stats().TxN %d after a View, %d before", what, after.TxN, before.TxN)
	}
	in, err := r.db.Info()
	if err != nil || int(in.TxID) != r.txid || in.WAL && in.LogPending != int(in.TxID-in.CheckpointTxID) {
		r.fatalf("%s: Info %+v, %v; want txid %d", what, in, err, r.txid)
	}
	r.checkPages(what)
}

// checkPages checks Stats against Info when nothing else holds pages:
// the pages the trees reach, the free list's run and the free and
// pending pages fill the file's used extent exactly.
func (r *apiRun) checkPages(what string) {
	r.t.Helper()
	if len(r.readers) > 0 || r.opts.WAL || r.opts.NoFreelistSync {
		return // readers and WAL mode hold pages that Info counts as pending; Tx.Check covers them
	}
	in, err := r.db.Info()
	if err != nil {
		r.fatalf("%s: info: %v", what, err)
	}
	var s BucketStats
	if err := r.db.View(func(tx *Tx) error { s = tx.Cursor().Bucket().Stats(); return nil }); err != nil {
		r.fatalf("%s: %v", what, err)
	}
	reach := s.BranchPageN + s.BranchOverflowN + s.LeafPageN + s.LeafOverflowN + s.LargePageN
	fl := 0
	if in.Freelist != 0 {
		// The free list's run: its first page's header says how long.
		f, err := os.Open(r.path)
		if err != nil {
			r.fatalf("%v", err)
		}
		hdr := make([]byte, page.HeaderSize)
		_, err = f.ReadAt(hdr, int64(in.Freelist)*int64(r.ps))
		f.Close()
		if err != nil || page.PageFlags(hdr) != page.FlagFreelist {
			r.fatalf("%s: free list page %d: %v, kind %v", what, in.Freelist, err, page.PageFlags(hdr))
		}
		fl = 1 + int(page.PageOverflow(hdr))
	}
	if st := r.db.Stats(); st.FreePageN != in.FreePages || st.PendingPageN != in.PendingPages {
		r.fatalf("%s: Stats %d free %d pending, Info %d and %d", what, st.FreePageN, st.PendingPageN, in.FreePages, in.PendingPages)
	}
	if got := 2 + reach + fl + in.FreePages + in.PendingPages; got != int(in.HighPage) {
		r.fatalf("%s: %d pages reached, %d of free list, %d free, %d pending: %d, file uses %d (%+v)",
			what, reach, fl, in.FreePages, in.PendingPages, got, in.HighPage, s)
	}
}

func (r *apiRun) startReader() {
	tx, err := r.db.Begin(false)
	if err != nil {
		r.fatalf("begin reader: %v", err)
	}
	if tx.ID() != r.txid || tx.Writable() {
		r.fatalf("reader ID %d writable %v, last commit %d", tx.ID(), tx.Writable(), r.txid)
	}
	r.ops["reader"]++
	r.readers = append(r.readers, apiReader{tx, r.model.clone(), r.txid, r.round + 1 + r.rng.IntN(8)})
}

// endReaders ends the readers due (all: every one). Each compares its
// snapshot with the model it began with, checks it, and some copy it
// (WriteTo or CopyFile) and open the copy.
func (r *apiRun) endReaders(all bool) {
	r.t.Helper()
	kept := r.readers[:0]
	for _, rd := range r.readers {
		if !all && r.round < rd.until {
			kept = append(kept, rd)
			continue
		}
		if err := compareAPI(rd.tx, rd.model, r.ps, r.rng, true); err != nil {
			r.fatalf("reader of txid %d: %v", rd.txid, err)
		}
		for err := range rd.tx.Check() {
			r.fatalf("reader of txid %d: check: %v", rd.txid, err)
		}
		var cp string
		if r.rng.IntN(2) == 0 {
			cp = filepath.Join(r.scratch(), "copy.db")
			r.copySnapshot(rd.tx, cp)
		}
		if err := rd.tx.Rollback(); err != nil {
			r.fatalf("reader rollback: %v", err)
		}
		if err := rd.tx.Rollback(); !errors.Is(err, ErrTxClosed) {
			r.fatalf("second reader rollback: %v, want ErrTxClosed", err)
		}
		if cp != "" {
			r.openCopy(cp, rd.model, rd.txid, false, false)
		}
	}
	r.readers = kept
}

// scratch returns an empty directory for a copy, removed when the next
// is asked for: a crash image holds a log segment of 8 MiB, and a long
// run makes thousands.
func (r *apiRun) scratch() string {
	r.t.Helper()
	if r.scratchDir == "" {
		r.scratchDir = r.t.TempDir()
	}
	dir := filepath.Join(r.scratchDir, "copy")
	if err := os.RemoveAll(dir); err != nil {
		r.fatalf("%v", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		r.fatalf("%v", err)
	}
	return dir
}

// copySnapshot writes tx's snapshot to path with CopyFile, WriteTo or Copy.
func (r *apiRun) copySnapshot(tx *Tx, path string) {
	r.t.Helper()
	switch r.rng.IntN(3) {
	case 0:
		r.ops["copyfile"]++
		if err := tx.CopyFile(path, 0o600); err != nil {
			r.fatalf("CopyFile: %v", err)
		}
	default:
		r.ops["writeto"]++
		var buf bytes.Buffer
		n, err := tx.WriteTo(&buf)
		if err != nil || n != int64(buf.Len()) || n != tx.Size() {
			r.fatalf("WriteTo: %d bytes (buffer %d, Size %d), %v", n, buf.Len(), tx.Size(), err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
			r.fatalf("%v", err)
		}
	}
}

// openCopy opens a copy of the database (a snapshot's, or a crash image)
// in a random mode and compares it with m. pending: the copy has a log
// whose commits are not checkpointed (a read-only open must refuse);
// hasLog: it has a log (an open without WAL checkpoints, leaving it).
func (r *apiRun) openCopy(path string, m *mbucket, txid int, pending, hasLog bool) {
	r.t.Helper()
	o := r.randomOpts()
	if pending && r.rng.IntN(3) == 0 {
		if _, err := Open(path, 0o600, &Options{ReadOnly: true, WAL: o.WAL}); !errors.Is(err, ErrLogPending) {
			r.fatalf("read-only open of %s with a pending log: %v, want ErrLogPending", filepath.Base(path), err)
		}
	}
	if pending && o.ReadOnly {
		o.ReadOnly = false
	}
	db, err := Open(path, 0o600, o)
	if err != nil {
		r.fatalf("open copy %s (%+v): %v", filepath.Base(path), *o, err)
	}
	defer db.Close()
	for _, check := range []func() error{
		func() error {
			return db.View(func(tx *Tx) error {
				// A replay ends with a checkpoint.
				if tx.ID() != txid && (!hasLog || tx.ID() < txid || tx.ID() > txid+2) {
					return fmt.Errorf("txid %d, want %d", tx.ID(), txid)
				}
				return compareAPI(tx, m, r.ps, r.rng, true)
			})
		},
		func() error {
			tx, err := db.Begin(false)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			for err := range tx.Check() {
				return err
			}
			return nil
		},
	} {
		if err := check(); err != nil {
			r.fatalf("copy %s (%+v): %v", filepath.Base(path), *o, err)
		}
	}
	if !o.ReadOnly {
		// The copy takes writes (a copy's free list is the snapshot's).
		err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("~copy"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), bytes.Repeat([]byte("v"), r.ps))
		})
		if err != nil {
			r.fatalf("write to copy: %v", err)
		}
		mustCheck(r.t, db)
	}
	if err := db.Close(); err != nil {
		r.fatalf("close copy: %v", err)
	}
}

// randomOpts picks a mode to open in.
func (r *apiRun) randomOpts() *Options {
	o := &Options{NoSync: r.rng.IntN(3) != 0, VerifyChecksums: r.rng.IntN(3) == 0}
	if r.rng.IntN(2) == 0 {
		o.PageSize = r.ps
	}
	switch x := r.rng.IntN(10); {
	case x < 4:
		o.WAL = true
		o.CheckpointBytes = []int64{16 << 10, 256 << 10, 1 << 40}[r.rng.IntN(3)]
		o.CheckpointInterval = 1 << 62
	case x < 6:
		o.ReadOnly = true
		o.WAL = r.rng.IntN(2) == 0
	case x == 6:
		o.NoFreelistSync = true
	}
	return o
}

// reopen closes the database and opens it in a random mode; a read-only
// open is compared and closed again, and the database opened read-write.
func (r *apiRun) reopen() {
	r.t.Helper()
	r.closeAll()
	r.checkLogRecords(r.path)
	o := r.randomOpts()
	r.ops[fmt.Sprintf("reopen wal=%v ro=%v", o.WAL, o.ReadOnly)]++
	r.open(o)
	mustCheck(r.t, r.db)
	r.compareNow("after reopening", true)
	if o.ReadOnly {
		if !r.db.IsReadOnly() {
			r.fatalf("read-only open says it is not")
		}
		if err := r.db.Update(func(*Tx) error { return nil }); !errors.Is(err, ErrDatabaseReadOnly) {
			r.fatalf("Update of a read-only DB: %v", err)
		}
		r.startReader() // ended by the close, after a look at its snapshot
		r.closeAll()
		o = r.randomOpts()
		o.ReadOnly = false
		r.open(o)
		mustCheck(r.t, r.db)
		r.compareNow("after reopening read-write", true)
	}
}

// checkLogRecords checks every record of the log beside path, as `folio
// check` does: each decodes as page images, operations or an anchor.
func (r *apiRun) checkLogRecords(path string) {
	r.t.Helper()
	dir := LogDir(path)
	if _, err := os.Stat(dir); err != nil {
		return
	}
	lg, err := wal.Open(dir, wal.Options{ReadOnly: true})
	if err != nil {
		r.fatalf("log: %v", err)
	}
	defer lg.Close()
	err = lg.Replay(0, func(lsn uint64, p []byte) error {
		if _, _, err := txpkg.CheckLogRecord(p); err != nil {
			return fmt.Errorf("record %d: %w", lsn, err)
		}
		r.ops["log records"]++
		return nil
	})
	if err != nil {
		r.fatalf("log: %v", err)
	}
}

// crashImage copies the file and the log of the open WAL-mode database
// between commits, as a crash there would leave them (every page the
// last checkpoint reaches is held until the next), opens the copy, which
// replays the log, and compares it with the model.
func (r *apiRun) crashImage() {
	r.t.Helper()
	in, err := r.db.Info()
	if err != nil {
		r.fatalf("info: %v", err)
	}
	r.ops["crash image"]++
	dir := r.scratch()
	cp := filepath.Join(dir, "crash.db")
	copyFile(r.t, r.path, cp)
	copyDir(r.t, LogDir(r.path), LogDir(cp))
	r.checkLogRecords(cp)
	r.openCopy(cp, r.model, r.txid, in.LogPending > 0, true)
}

// updateRound runs one Update: committed, or rolled back by an error.
func (r *apiRun) updateRound() {
	r.t.Helper()
	next := r.model.clone()
	commit := r.rng.IntN(6) != 0
	var a *apiTx
	r.hooks = 0
	err := r.db.Update(func(tx *Tx) error {
		a = r.newTx(tx, next, true)
		if err := a.run(1 + r.rng.IntN(40)); err != nil {
			return err
		}
		if !commit {
			return errRollback
		}
		return nil
	})
	r.ops["update"]++
	switch {
	case commit && err != nil:
		r.fatalf("update: %v\nlast ops: %s", err, a.history())
	case !commit && !errors.Is(err, errRollback):
		r.fatalf("rolled back: %v\nlast ops: %s", err, a.history())
	}
	r.finish(a, commit)
}

// beginRound runs one transaction from Begin(true), committed or rolled
// back by hand.
func (r *apiRun) beginRound() {
	r.t.Helper()
	tx, err := r.db.Begin(true)
	if err != nil {
		r.fatalf("begin: %v", err)
	}
	r.wtx = tx
	defer func() { r.wtx = nil }()
	next := r.model.clone()
	r.hooks = 0
	a := r.newTx(tx, next, false)
	if err := a.run(1 + r.rng.IntN(40)); err != nil {
		_ = tx.Rollback()
		r.fatalf("%v\nlast ops: %s", err, a.history())
	}
	commit := r.rng.IntN(5) != 0
	r.ops["begin"]++
	if commit {
		if err := tx.Commit(); err != nil {
			r.fatalf("commit: %v", err)
		}
	} else if err := tx.Rollback(); err != nil {
		r.fatalf("rollback: %v", err)
	}
	// The ended transaction refuses everything.
	if err := tx.Commit(); !errors.Is(err, ErrTxClosed) {
		r.fatalf("commit after the end: %v", err)
	}
	if tx.Bucket([]byte("x")) != nil || tx.Cursor().Bucket().Get([]byte("x")) != nil {
		r.fatalf("an ended transaction reads")
	}
	for _, b := range a.handles {
		if err := b.Put([]byte("x"), nil); !errors.Is(err, ErrTxClosed) {
			r.fatalf("put through a handle of an ended transaction: %v", err)
		}
		break
	}
	r.finish(a, commit)
}

// finish takes the transaction's model if it committed and checks its
// txid, its hooks and the commit count.
func (r *apiRun) finish(a *apiTx, commit bool) {
	r.t.Helper()
	if a.id != r.txid+1 {
		r.fatalf("write transaction ID %d, last commit %d", a.id, r.txid)
	}
	want := 0
	if commit {
		r.model = a.m
		want = a.hooks
		r.syncTxid(a.id, a.id+1) // the commit may have started a checkpoint
		if in, err := r.db.Info(); err == nil && in.WAL && in.LogPending == 0 {
			r.ops["commit checkpointed (WAL)"]++
		}
	}
	if r.hooks != want {
		r.fatalf("%d OnCommit functions ran, %d registered (commit %v)", r.hooks, a.hooks, commit)
	}
	r.checkCommits()
}

// checkCommits: Stats counts the commits this DB made.
func (r *apiRun) checkCommits() {
	r.t.Helper()
	n := r.db.Stats().TxStats.Commits
	if n < r.commits {
		r.fatalf("Stats().TxStats.Commits went back from %d to %d", r.commits, n)
	}
	r.commits = n
}

// batchRound runs Batch from several goroutines at once, each changing
// keys of its own in a shared bucket and a sequence of its own; one of
// them may fail, and must then change nothing.
func (r *apiRun) batchRound() {
	r.t.Helper()
	type op struct {
		key string
		val []byte // nil: delete
	}
	g := 2 + r.rng.IntN(4)
	fail := -1
	if r.rng.IntN(3) == 0 {
		fail = r.rng.IntN(g)
	}
	ops := make([][]op, g)
	seq := make([]bool, g)
	for i := range g {
		for n := r.rng.IntN(12); n > 0; n-- {
			o := op{key: fmt.Sprintf("g%d-%03d", i, r.rng.IntN(40))}
			if r.rng.IntN(4) != 0 {
				o.val = r.value()
				if o.val == nil {
					o.val = []byte{}
				}
			}
			ops[i] = append(ops[i], o)
		}
		// NextSequence at the largest uint64 fails (random operations
		// set sequences there).
		sm := r.model.subs["~batch"]
		if sm != nil {
			sm = sm.subs[fmt.Sprintf("s%d", i)]
		}
		seq[i] = r.rng.IntN(2) == 0 && (sm == nil || sm.seq != math.MaxUint64)
	}
	errBatchFail := errors.New("batch function fails")
	var (
		wg    sync.WaitGroup
		errs  = make([]error, g)
		seqs  = make([]uint64, g)
		hooks = make([]int, g)
		mu    sync.Mutex
	)
	for i := range g {
		wg.Go(func() {
			errs[i] = r.db.Batch(func(tx *Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte("~batch"))
				if err != nil {
					return err
				}
				for _, o := range ops[i] {
					if o.val == nil {
						err = b.Delete([]byte(o.key))
					} else {
						err = b.Put([]byte(o.key), o.val)
					}
					if err != nil {
						return err
					}
				}
				if seq[i] {
					sb, err := b.CreateBucketIfNotExists(fmt.Appendf(nil, "s%d", i))
					if err != nil {
						return err
					}
					if seqs[i], err = sb.NextSequence(); err != nil {
						return err
					}
				}
				tx.OnCommit(func() { mu.Lock(); hooks[i]++; mu.Unlock() })
				if i == fail {
					return errBatchFail
				}
				return nil
			})
		})
	}
	var ckptErr error
	if r.rng.IntN(3) == 0 {
		// A checkpoint or a sync while the batch commits: either waits
		// for the write transaction, or runs beside it.
		r.ops["checkpoint beside batch"]++
		sync := r.rng.IntN(2) == 0
		wg.Go(func() {
			if sync {
				ckptErr = r.db.Sync()
			} else {
				ckptErr = r.db.Checkpoint()
			}
		})
	}
	wg.Wait()
	if ckptErr != nil {
		r.fatalf("checkpoint or sync beside a batch: %v", ckptErr)
	}
	r.ops["batch"]++
	m := r.model
	bm := m.subs["~batch"]
	created := false
	for i := range g {
		if i == fail {
			if !errors.Is(errs[i], errBatchFail) || hooks[i] != 0 {
				r.fatalf("failing batch function: %v, %d hooks ran", errs[i], hooks[i])
			}
			continue
		}
		if errs[i] != nil || hooks[i] != 1 {
			r.fatalf("batch function %d: %v, %d hooks ran", i, errs[i], hooks[i])
		}
		if bm == nil && !created {
			bm, created = newMBucket(), true
			m.subs["~batch"] = bm
		}
		for _, o := range ops[i] {
			if o.val == nil {
				delete(bm.kv, o.key)
			} else {
				bm.kv[o.key] = string(o.val)
			}
		}
		if seq[i] {
			name := fmt.Sprintf("s%d", i)
			if bm.subs[name] == nil {
				bm.subs[name] = newMBucket()
			}
			sm := bm.subs[name]
			sm.seq++
			if seqs[i] != sm.seq {
				r.fatalf("batch function %d: NextSequence %d, model %d", i, seqs[i], sm.seq)
			}
		}
	}
	// Batches committed as they formed (and maybe checkpoints).
	r.syncTxid(r.txid+1, r.txid+2*g+1)
	r.checkCommits()
}

// apiTx is one write transaction and its model.
type apiTx struct {
	r       *apiRun
	tx      *Tx
	id      int
	m       *mbucket
	managed bool // Update: Sync and View may be called inside
	// handles are the buckets opened in the transaction, by model: a
	// moved bucket's handle follows it, so its model does too.
	handles map[*mbucket]*Bucket
	dead    []*Bucket // handles of buckets deleted in the transaction
	hooks   int       // OnCommit functions registered
	hist    []string
}

func (r *apiRun) newTx(tx *Tx, m *mbucket, managed bool) *apiTx {
	return &apiTx{r: r, tx: tx, id: tx.ID(), m: m, managed: managed, handles: map[*mbucket]*Bucket{}}
}

func (a *apiTx) history() string {
	if a == nil {
		return ""
	}
	return strings.Join(a.hist[max(0, len(a.hist)-12):], "; ")
}

func (a *apiTx) note(format string, args ...any) {
	a.hist = append(a.hist, fmt.Sprintf(format, args...))
}

func (a *apiTx) run(n int) error {
	if !a.tx.Writable() || a.tx.DB() != a.r.db {
		return errors.New("write transaction not writable, or of another DB")
	}
	for range n {
		if err := a.op(); err != nil {
			return err
		}
	}
	return nil
}

// key returns a random key: mostly from a small set, so operations
// collide; some long (a leaf run past one page), some binary, some
// appended in order (full-page splits).
func (r *apiRun) key() string {
	switch x := r.rng.IntN(40); {
	case x == 0:
		n := r.ps/2 + r.rng.IntN(2*r.ps)
		if r.rng.IntN(10) == 0 {
			n = MaxKeySize - 4 - r.rng.IntN(2) // the longest keys: runs of pages in leaves and branches
		}
		return fmt.Sprintf("k%03d", r.rng.IntN(250)) + strings.Repeat("L", n)
	case x == 1:
		return string([]byte{[]byte{0, 0x7f, 0xff}[r.rng.IntN(3)], byte(r.rng.IntN(256))})
	case x < 4:
		r.appendN++
		return fmt.Sprintf("z%06d", r.appendN)
	default:
		return fmt.Sprintf("k%03d", r.rng.IntN(250))
	}
}

// value returns a random value: nil, empty, small, either side of the
// large-value threshold, a run of pages, now and then a long run.
func (r *apiRun) value() []byte {
	var n int
	switch x := r.rng.IntN(40); {
	case x == 0:
		return nil
	case x == 1:
		return []byte{}
	case x < 4:
		n = r.ps/4 - 1 + r.rng.IntN(3)
	case x < 8:
		n = r.ps/4 + 1 + r.rng.IntN(4*r.ps)
	case x == 8 && r.rng.IntN(3) == 0:
		n = 16*r.ps + r.rng.IntN(16*r.ps)
	default:
		n = r.rng.IntN(100)
	}
	v := make([]byte, n)
	if r.rng.IntN(5) != 0 {
		for i := 0; i < n; i += 8 {
			x := r.rng.Uint64()
			for j := i; j < min(n, i+8); j++ {
				v[j] = byte(x)
				x >>= 8
			}
		}
	}
	return v
}

// pick returns a random bucket path (empty: the top level).
func (a *apiTx) pick() []string {
	var path []string
	cur := a.m
	for len(cur.subs) > 0 && (len(path) == 0 || a.r.rng.IntN(3) != 0) {
		names := slices.Sorted(maps.Keys(cur.subs))
		name := names[a.r.rng.IntN(len(names))]
		path = append(path, name)
		cur = cur.subs[name]
	}
	if len(path) > 0 && a.r.rng.IntN(8) == 0 {
		path = nil
	}
	return path
}

// open returns the handle and model of the bucket at path (nil handle:
// the top level), reusing handles opened before now and then.
func (a *apiTx) open(path []string) (*Bucket, *mbucket, error) {
	m := a.m
	var b *Bucket
	for i, name := range path {
		m = m.subs[name]
		if h, ok := a.handles[m]; ok && a.r.rng.IntN(2) == 0 {
			b = h
			continue
		}
		var nb *Bucket
		if i == 0 {
			nb = a.tx.Bucket([]byte(name))
		} else {
			nb = b.Bucket([]byte(name))
		}
		if nb == nil {
			return nil, nil, fmt.Errorf("bucket %q missing", path[:i+1])
		}
		if h, ok := a.handles[m]; ok && h != nb {
			return nil, nil, fmt.Errorf("bucket %q: a second handle", path[:i+1])
		}
		a.handles[m] = nb
		b = nb
	}
	return b, m, nil
}

// pathName names a bucket path in messages, long names clipped.
func pathName(path []string) string {
	var sb strings.Builder
	for _, p := range path {
		if len(p) > 24 {
			p = fmt.Sprintf("%s...(%d bytes)", p[:16], len(p))
		}
		sb.WriteString("/" + p)
	}
	if sb.Len() == 0 {
		return "/"
	}
	return sb.String()
}

// kill moves the handles of m and every bucket under it to the dead.
func (a *apiTx) kill(m *mbucket) {
	if h, ok := a.handles[m]; ok {
		a.dead = append(a.dead, h)
		delete(a.handles, m)
	}
	for _, s := range m.subs {
		a.kill(s)
	}
}

// op runs one random operation.
func (a *apiTx) op() error {
	r := a.r
	path := a.pick()
	b, cur, err := a.open(path)
	if err != nil {
		return err
	}
	where := pathName(path)
	if b == nil {
		cur = a.m
	}
	x := r.rng.IntN(100)
	if b == nil && x < 40 {
		x = 40 + r.rng.IntN(60) // the top level holds only buckets
	}
	create := func(name string) (*Bucket, error) {
		if r.rng.IntN(3) == 0 {
			if b == nil {
				return a.tx.CreateBucketIfNotExists([]byte(name))
			}
			return b.CreateBucketIfNotExists([]byte(name))
		}
		if b == nil {
			return a.tx.CreateBucket([]byte(name))
		}
		return b.CreateBucket([]byte(name))
	}
	switch {
	case x < 25: // put
		k, v := r.key(), r.value()
		a.note("put %s %.12q %d", where, k, len(v))
		r.ops["put"]++
		err := b.Put([]byte(k), v)
		if _, sub := cur.subs[k]; sub {
			if !errors.Is(err, ErrIncompatibleValue) {
				return fmt.Errorf("%s: put over bucket %q: %v", where, k, err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: put %.12q: %w", where, k, err)
		}
		cur.kv[k] = string(v)
		clear(v) // Put copied it
	case x < 32: // delete a key, present or not
		k := r.key()
		if len(cur.kv) > 0 && r.rng.IntN(2) == 0 {
			k = slices.Sorted(maps.Keys(cur.kv))[r.rng.IntN(len(cur.kv))]
		}
		a.note("delete %s %.12q", where, k)
		r.ops["delete"]++
		err := b.Delete([]byte(k))
		if _, sub := cur.subs[k]; sub {
			if !errors.Is(err, ErrIncompatibleValue) {
				return fmt.Errorf("%s: delete of bucket %q: %v", where, k, err)
			}
			return nil
		}
		if err != nil {
			return err
		}
		delete(cur.kv, k)
	case x < 34: // delete a run of keys: leaves merge, trees empty
		keys := slices.Sorted(maps.Keys(cur.kv))
		if len(keys) == 0 {
			return nil
		}
		lo := r.rng.IntN(len(keys))
		hi := min(len(keys), lo+1+r.rng.IntN(len(keys)))
		a.note("delete run %s %d..%d", where, lo, hi)
		r.ops["delete run"]++
		for _, k := range keys[lo:hi] {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
			delete(cur.kv, k)
		}
	case x < 40: // sequences
		return a.sequence(b, cur, where)
	case x < 52: // cursor session
		c := a.tx.Cursor()
		if b != nil {
			c = b.Cursor()
		}
		a.note("cursor %s", where)
		r.ops["cursor"]++
		if c.Bucket() != b && b != nil {
			return fmt.Errorf("%s: Cursor().Bucket() is another bucket", where)
		}
		return a.cursorSession(c, cur, where)
	case x < 63: // create a bucket, fill it some
		name := r.key()
		if r.rng.IntN(3) == 0 && len(cur.kv) > 0 {
			name = slices.Sorted(maps.Keys(cur.kv))[r.rng.IntN(len(cur.kv))]
		}
		a.note("create %s %.12q", where, name)
		r.ops["create bucket"]++
		nb, err := create(name)
		switch {
		case cur.subs[name] != nil:
			// CreateBucketIfNotExists returns it.
			if err == nil && nb != nil {
				if h, ok := a.handles[cur.subs[name]]; ok && h != nb {
					return fmt.Errorf("%s: CreateBucketIfNotExists %q: another handle", where, name)
				}
				a.handles[cur.subs[name]] = nb
				return nil
			}
			if !errors.Is(err, ErrBucketExists) {
				return fmt.Errorf("%s: create existing %q: %v", where, name, err)
			}
			return nil
		case hasKey(cur.kv, name):
			if !errors.Is(err, ErrIncompatibleValue) {
				return fmt.Errorf("%s: create over value %q: %v", where, name, err)
			}
			return nil
		case err != nil:
			return fmt.Errorf("%s: create %q: %w", where, name, err)
		}
		sub := newMBucket()
		cur.subs[name] = sub
		a.handles[sub] = nb
		for i := r.rng.IntN(25); i > 0; i-- {
			k, v := r.key(), r.value()
			if _, isSub := sub.subs[k]; isSub {
				continue
			}
			if r.rng.IntN(6) == 0 && !hasKey(sub.kv, k) {
				if _, err := nb.CreateBucket([]byte(k)); err != nil {
					return fmt.Errorf("%s/%s: create %q: %w", where, name, k, err)
				}
				sub.subs[k] = newMBucket()
				continue
			}
			if err := nb.Put([]byte(k), v); err != nil {
				return err
			}
			sub.kv[k] = string(v)
		}
	case x < 67: // delete a bucket (one holding buckets if there is one), maybe recreate it
		return a.deleteBucket(b, cur, where, create)
	case x < 70: // many small puts: trees of several levels
		if b == nil {
			return nil
		}
		n := 30 + r.rng.IntN(200)
		// Now and then ~1.5 MiB of large values: in WAL mode more than
		// a record of page images holds, so the commit goes to the file
		// directly (a checkpoint).
		big := r.rng.IntN(16) == 0
		if big {
			n = (3 << 19) / (3 * r.ps)
		}
		a.note("bulk %s %d big %v", where, n, big)
		r.ops["bulk"]++
		seq := r.rng.IntN(2) == 0
		for i := range n {
			k := fmt.Sprintf("k%03d", r.rng.IntN(1000))
			if seq {
				r.appendN++
				k = fmt.Sprintf("z%06d", r.appendN)
			}
			if cur.subs[k] != nil {
				continue
			}
			v := fmt.Appendf(nil, "%d-%d", r.round, i)
			if big {
				v = append(v, bytes.Repeat([]byte{byte(i)}, 2*r.ps+r.rng.IntN(2*r.ps))...)
			}
			if err := b.Put([]byte(k), v); err != nil {
				return fmt.Errorf("%s: bulk put %q: %w", where, k, err)
			}
			cur.kv[k] = string(v)
		}
	case x < 79: // move a bucket
		return a.move(path, b, cur, where)
	case x < 84: // ForEach, ForEachBucket
		a.note("foreach %s", where)
		r.ops["foreach"]++
		if b == nil {
			var names []string
			err := a.tx.ForEach(func(name []byte, nb *Bucket) error {
				names = append(names, string(name))
				if nb == nil || nb.Sequence() != cur.subs[string(name)].seq {
					return fmt.Errorf("tx.ForEach: bucket %q handle %v", name, nb)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if want := slices.Sorted(maps.Keys(cur.subs)); !slices.Equal(names, want) {
				return fmt.Errorf("tx.ForEach %q, model %q", names, want)
			}
			return nil
		}
		return compareWalks(b, cur, cur.keys(), where)
	case x < 87: // a handle of a deleted bucket refuses
		if len(a.dead) == 0 {
			return nil
		}
		r.ops["dead handle"]++
		return deadHandle(a.dead[r.rng.IntN(len(a.dead))])
	case x < 89: // OnCommit
		r.ops["oncommit"]++
		a.hooks++
		a.tx.OnCommit(func() { r.hooks++ })
		a.tx.OnCommit(nil) // ignored
	case x < 91: // fill settings: splits at other points
		if b != nil {
			b.FillPercent = 0.1 + 0.9*r.rng.Float64()
			b.AppendFillPercent = 0.1 + 0.9*r.rng.Float64()
		}
	case x < 93: // the top level holds only buckets and has no sequence
		rb := a.tx.Cursor().Bucket()
		if err := rb.Put([]byte("k"), []byte("v")); !errors.Is(err, ErrIncompatibleValue) {
			return fmt.Errorf("put at the top level: %v", err)
		}
		if _, err := rb.NextSequence(); !errors.Is(err, ErrIncompatibleValue) {
			return fmt.Errorf("NextSequence at the top level: %v", err)
		}
		if err := rb.SetSequence(3); !errors.Is(err, ErrIncompatibleValue) {
			return fmt.Errorf("SetSequence at the top level: %v", err)
		}
	case x == 96 && r.rng.IntN(3) == 0: // WriteTo in a write transaction copies the last commit
		r.ops["writeto in update"]++
		cp := filepath.Join(r.scratch(), "copy.db")
		r.copySnapshot(a.tx, cp)
		r.openCopy(cp, r.model, r.txid, false, false)
	case x < 96: // View inside a write transaction reads the last commit; Sync inside Update
		r.ops["view in update"]++
		if a.managed && r.rng.IntN(3) == 0 {
			if err := r.db.Sync(); err != nil {
				return fmt.Errorf("sync inside Update: %w", err)
			}
		}
		committed := r.model
		return r.db.View(func(tx *Tx) error {
			if tx.ID() != r.txid {
				return fmt.Errorf("View inside Update: txid %d, want %d", tx.ID(), r.txid)
			}
			names := slices.Sorted(maps.Keys(committed.subs))
			if len(names) == 0 {
				return nil
			}
			name := names[r.rng.IntN(len(names))]
			return compareAPIBucket(tx.Bucket([]byte(name)), committed.subs[name], "view:"+name, r.ps, r.rng, false, true)
		})
	default: // Get, Bucket, and Bucket of a value
		k := r.key()
		if len(cur.kv) > 0 && r.rng.IntN(2) == 0 {
			k = slices.Sorted(maps.Keys(cur.kv))[r.rng.IntN(len(cur.kv))]
		}
		var v []byte
		var nb *Bucket
		if b == nil {
			nb = a.tx.Bucket([]byte(k))
		} else {
			v, nb = b.Get([]byte(k)), b.Bucket([]byte(k))
		}
		mv, ok := cur.kv[k]
		if ok != (v != nil) || string(v) != mv {
			return fmt.Errorf("%s: Get(%.12q) = %d bytes (nil %v), model %v", where, k, len(v), v == nil, ok)
		}
		if (nb != nil) != (cur.subs[k] != nil) {
			return fmt.Errorf("%s: Bucket(%.12q) = %v, model %v", where, k, nb, cur.subs[k] != nil)
		}
		if nb != nil && (nb.Sequence() != cur.subs[k].seq || !nb.Writable() || nb.Tx() != a.tx) {
			return fmt.Errorf("%s: Bucket(%.12q): sequence %d, model %d", where, k, nb.Sequence(), cur.subs[k].seq)
		}
	}
	return nil
}

func (a *apiTx) sequence(b *Bucket, cur *mbucket, where string) error {
	r := a.r
	if b == nil {
		return nil
	}
	if b.Sequence() != cur.seq {
		return fmt.Errorf("%s: Sequence %d, model %d", where, b.Sequence(), cur.seq)
	}
	r.ops["sequence"]++
	if r.rng.IntN(3) == 0 {
		v := []uint64{r.rng.Uint64N(100), math.MaxUint64 - r.rng.Uint64N(2), r.rng.Uint64(), 0}[r.rng.IntN(4)]
		a.note("setseq %s %d", where, v)
		if err := b.SetSequence(v); err != nil {
			return fmt.Errorf("%s: SetSequence: %w", where, err)
		}
		cur.seq = v
		return nil
	}
	a.note("nextseq %s", where)
	s, err := b.NextSequence()
	if cur.seq == math.MaxUint64 {
		if !errors.Is(err, ErrSequenceOverflow) || b.Sequence() != cur.seq {
			return fmt.Errorf("%s: NextSequence at the largest: %d, %v", where, s, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	cur.seq++
	if s != cur.seq || b.Sequence() != s {
		return fmt.Errorf("%s: NextSequence %d (Sequence %d), model %d", where, s, b.Sequence(), cur.seq)
	}
	return nil
}

func (a *apiTx) deleteBucket(b *Bucket, cur *mbucket, where string, create func(string) (*Bucket, error)) error {
	r := a.r
	name := r.key()
	switch {
	case len(cur.subs) > 0 && r.rng.IntN(8) != 0:
		names := slices.Sorted(maps.Keys(cur.subs))
		name = names[r.rng.IntN(len(names))]
		for _, n := range names { // rather one holding buckets
			if len(cur.subs[n].subs) > 0 && r.rng.IntN(2) == 0 {
				name = n
				break
			}
		}
	case len(cur.kv) > 0 && r.rng.IntN(2) == 0:
		name = slices.Sorted(maps.Keys(cur.kv))[r.rng.IntN(len(cur.kv))]
	}
	a.note("delete bucket %s %.12q", where, name)
	r.ops["delete bucket"]++
	var err error
	if b == nil {
		err = a.tx.DeleteBucket([]byte(name))
	} else {
		err = b.DeleteBucket([]byte(name))
	}
	sub := cur.subs[name]
	switch {
	case sub != nil:
		if err != nil {
			return fmt.Errorf("%s: delete bucket %q: %w", where, name, err)
		}
		if len(sub.subs) > 0 {
			r.ops["delete bucket holding buckets"]++
		}
	case hasKey(cur.kv, name):
		if !errors.Is(err, ErrIncompatibleValue) {
			return fmt.Errorf("%s: delete bucket of value %q: %v", where, name, err)
		}
		return nil
	default:
		if !errors.Is(err, ErrBucketNotFound) {
			return fmt.Errorf("%s: delete missing bucket %q: %v", where, name, err)
		}
		return nil
	}
	delete(cur.subs, name)
	a.kill(sub)
	if b != nil && b.Bucket([]byte(name)) != nil || b == nil && a.tx.Bucket([]byte(name)) != nil {
		return fmt.Errorf("%s: bucket %q still there after DeleteBucket", where, name)
	}
	if r.rng.IntN(3) == 0 {
		nb, err := create(name)
		if err != nil {
			return fmt.Errorf("%s: recreate %q: %w", where, name, err)
		}
		s := newMBucket()
		cur.subs[name] = s
		a.handles[s] = nb
		if nb.Sequence() != 0 || nb.Get([]byte("k001")) != nil {
			return fmt.Errorf("%s: recreated %q is not empty", where, name)
		}
	}
	return nil
}

// move moves a bucket from the one at path (or the top level) to another
// (or the top level), with tx.MoveBucket or Bucket.MoveBucket.
func (a *apiTx) move(path []string, b *Bucket, cur *mbucket, where string) error {
	r := a.r
	name := r.key()
	switch {
	case len(cur.subs) > 0 && r.rng.IntN(6) != 0:
		name = slices.Sorted(maps.Keys(cur.subs))[r.rng.IntN(len(cur.subs))]
	case len(cur.kv) > 0 && r.rng.IntN(2) == 0:
		name = slices.Sorted(maps.Keys(cur.kv))[r.rng.IntN(len(cur.kv))]
	}
	dpath := a.pick()
	if r.rng.IntN(10) == 0 {
		dpath = slices.Clone(path) // the same bucket
	}
	dst, dcur, err := a.open(dpath)
	if err != nil {
		return err
	}
	if dst == nil {
		dcur = a.m
	}
	a.note("move %s %.12q to %s", where, name, pathName(dpath))
	r.ops["move"]++
	switch {
	case b != nil && r.rng.IntN(2) == 0:
		err = b.MoveBucket([]byte(name), dst)
	case b == nil && r.rng.IntN(3) == 0:
		err = a.tx.Cursor().Bucket().MoveBucket([]byte(name), dst)
	default:
		err = a.tx.MoveBucket([]byte(name), b, dst)
	}
	switch {
	case cur.subs[name] == nil && hasKey(cur.kv, name):
		if !errors.Is(err, ErrIncompatibleValue) {
			return fmt.Errorf("%s: move value %q: %v", where, name, err)
		}
	case cur.subs[name] == nil:
		if !errors.Is(err, ErrBucketNotFound) {
			return fmt.Errorf("%s: move missing %q: %v", where, name, err)
		}
	default:
		done, err := applyModelMove(where, name, path, dpath, cur, dcur, err)
		if err != nil {
			return err
		}
		if done {
			r.ops["move done"]++
		}
	}
	return nil
}

// apiCursor is the model of a cursor with Delete: pos is where it stands
// in keys (-1: never moved; len(keys): past the end); deleted says a
// Delete left it on the key that followed the one deleted, which Next
// returns without moving and a second Delete removes.
type apiCursor struct {
	keys    []string
	pos     int
	deleted bool
}

func (c *apiCursor) at() (string, bool) {
	if c.pos < 0 || c.pos >= len(c.keys) {
		return "", false
	}
	return c.keys[c.pos], true
}

func (c *apiCursor) first() (string, bool) {
	c.pos, c.deleted = 0, false
	return c.at()
}

func (c *apiCursor) last() (string, bool) {
	c.pos, c.deleted = max(len(c.keys)-1, 0), false
	return c.at()
}

func (c *apiCursor) seek(k string) (string, bool) {
	c.pos, _ = slices.BinarySearch(c.keys, k)
	c.deleted = false
	return c.at()
}

func (c *apiCursor) next() (string, bool) {
	switch {
	case c.pos < 0:
		return "", false
	case c.deleted:
		c.deleted = false
		return c.at()
	case c.pos+1 < len(c.keys):
		c.pos++
		return c.at()
	}
	return "", false
}

func (c *apiCursor) prev() (string, bool) {
	if c.pos < 0 {
		return "", false
	}
	c.deleted = false
	if c.pos > 0 {
		c.pos--
		return c.at()
	}
	return "", false
}

// cursorSession runs random moves and deletes on c and the model.
func (a *apiTx) cursorSession(c *Cursor, m *mbucket, where string) error {
	r := a.r
	mc := &apiCursor{keys: m.keys(), pos: -1}
	var log []string
	// A walk mostly one way, or a mix; deletes now and then, or in
	// streaks that empty whole leaves.
	fwd := []int{40, 10, 25}[r.rng.IntN(3)]
	del := []int{8, 8, 30}[r.rng.IntN(3)]
	for steps := 5 + r.rng.IntN(40); steps > 0; steps-- {
		var k, v []byte
		var want string
		var ok bool
		var op string
		switch x := r.rng.IntN(42 + del); {
		case x < 2:
			op = "first"
			k, v = c.First()
			want, ok = mc.first()
		case x < 4:
			op = "last"
			k, v = c.Last()
			want, ok = mc.last()
		case x < 7:
			sk := r.key()
			if len(mc.keys) > 0 && r.rng.IntN(2) == 0 {
				sk = mc.keys[r.rng.IntN(len(mc.keys))]
			}
			op = fmt.Sprintf("seek %.12q", sk)
			k, v = c.Seek([]byte(sk))
			want, ok = mc.seek(sk)
		case x < 7+del:
			op = "delete"
			err := c.Delete()
			target, on := mc.at()
			if mc.pos < 0 {
				on = false
			}
			switch {
			case on && m.subs[target] != nil:
				if !errors.Is(err, ErrIncompatibleValue) {
					return fmt.Errorf("%s: cursor delete of bucket %q: %v; ops %v", where, target, err, log)
				}
			case err != nil:
				return fmt.Errorf("%s: cursor delete: %w; ops %v", where, err, log)
			case on:
				delete(m.kv, target)
				mc.keys = slices.Delete(mc.keys, mc.pos, mc.pos+1)
				mc.deleted = true
				r.ops["cursor delete"]++
			}
			log = append(log, op)
			continue
		case x < 7+del+(35*fwd)/50:
			op = "next"
			k, v = c.Next()
			want, ok = mc.next()
		default:
			op = "prev"
			k, v = c.Prev()
			want, ok = mc.prev()
		}
		log = append(log, op)
		if ok != (k != nil) || string(k) != want {
			return fmt.Errorf("%s: cursor %s = %.12q, model %.12q (%v); ops %v", where, op, k, want, ok, log[max(0, len(log)-10):])
		}
		if !ok {
			continue
		}
		if m.subs[want] != nil {
			if v != nil {
				return fmt.Errorf("%s: cursor %s: bucket %q has a value", where, op, want)
			}
		} else if mv := m.kv[want]; v == nil || string(v) != mv {
			return fmt.Errorf("%s: cursor %s: %.12q = %d bytes, model %d", where, op, want, len(v), len(mv))
		}
	}
	return nil
}

// deadHandle checks that a handle of a deleted bucket reads nothing and
// refuses writes.
func deadHandle(b *Bucket) error {
	if b.Get([]byte("k001")) != nil || b.Bucket([]byte("k001")) != nil {
		return errors.New("deleted bucket reads")
	}
	if k, _ := b.Cursor().First(); k != nil {
		return fmt.Errorf("deleted bucket's cursor at %q", k)
	}
	if err := b.Put([]byte("k"), nil); !errors.Is(err, ErrBucketNotFound) {
		return fmt.Errorf("put into a deleted bucket: %v", err)
	}
	if _, err := b.NextSequence(); !errors.Is(err, ErrBucketNotFound) {
		return fmt.Errorf("NextSequence of a deleted bucket: %v", err)
	}
	if _, err := b.CreateBucket([]byte("k")); !errors.Is(err, ErrBucketNotFound) {
		return fmt.Errorf("CreateBucket in a deleted bucket: %v", err)
	}
	if err := b.ForEach(func(k, v []byte) error { return nil }); !errors.Is(err, ErrBucketNotFound) {
		return fmt.Errorf("ForEach of a deleted bucket: %v", err)
	}
	if s := b.Stats(); s != (BucketStats{}) {
		return fmt.Errorf("Stats of a deleted bucket: %+v", s)
	}
	return nil
}

// compareWalks compares ForEach and ForEachBucket with the model.
func compareWalks(b *Bucket, m *mbucket, want []string, where string) error {
	var got []string
	err := b.ForEach(func(k, v []byte) error {
		got = append(got, string(k))
		if m.subs[string(k)] != nil {
			if v != nil {
				return fmt.Errorf("%s: ForEach: bucket %q has a value", where, k)
			}
		} else if mv, ok := m.kv[string(k)]; !ok || v == nil || mv != string(v) {
			return fmt.Errorf("%s: ForEach: %.12q = %d bytes (nil %v), model %v %d", where, k, len(v), v == nil, ok, len(mv))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("%s: ForEach %d keys, model %d", where, len(got), len(want))
	}
	var names []string
	if err := b.ForEachBucket(func(k []byte) error { names = append(names, string(k)); return nil }); err != nil {
		return err
	}
	if want := slices.Sorted(maps.Keys(m.subs)); !slices.Equal(names, want) {
		return fmt.Errorf("%s: ForEachBucket %q, model %q", where, names, want)
	}
	return nil
}

// count returns the keys (nested bucket names included) and the buckets
// (m included) of m and every bucket under it, as BucketStats counts them.
func (m *mbucket) count() (keys, buckets int) {
	keys, buckets = len(m.kv)+len(m.subs), 1
	for _, s := range m.subs {
		k, b := s.count()
		keys, buckets = keys+k, buckets+b
	}
	return keys, buckets
}

// compareAPI compares everything tx sees with m.
func compareAPI(tx *Tx, m *mbucket, ps int, rng *rand.Rand, full bool) error {
	want := m.keys()
	var got []string
	err := tx.ForEach(func(name []byte, b *Bucket) error {
		got = append(got, string(name))
		if b == nil {
			return fmt.Errorf("tx.ForEach: nil bucket %q", name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("top-level buckets %q, model %q", got, want)
	}
	c := tx.Cursor()
	got = got[:0]
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		if v != nil {
			return fmt.Errorf("top-level cursor: %q has a value", k)
		}
		got = append(got, string(k))
	}
	slices.Reverse(got)
	if !slices.Equal(got, want) {
		return fmt.Errorf("top-level reverse walk %q, model %q", got, want)
	}
	for _, name := range want {
		if err := compareAPIBucket(tx.Bucket([]byte(name)), m.subs[name], name, ps, rng, full, true); err != nil {
			return err
		}
	}
	if !tx.Writable() {
		s := tx.Cursor().Bucket().Stats()
		keys, buckets := m.count()
		if s.KeyN != keys || s.BucketN != buckets {
			return fmt.Errorf("top level: Stats %d keys %d buckets, model %d and %d", s.KeyN, s.BucketN, keys, buckets)
		}
	}
	return nil
}

// compareAPIBucket compares b with m, recursively: sequence, both walks,
// Get, Bucket, ForEach, ForEachBucket, Seek, and Stats (in a read
// transaction: of the top-level buckets, of all in a full compare).
// Get reads every key in a full compare, else some: the walks read all.
func compareAPIBucket(b *Bucket, m *mbucket, where string, ps int, rng *rand.Rand, full, top bool) error {
	if b == nil {
		return fmt.Errorf("%s: bucket missing", where)
	}
	if b.Sequence() != m.seq {
		return fmt.Errorf("%s: sequence %d, model %d", where, b.Sequence(), m.seq)
	}
	want := m.keys()
	c := b.Cursor()
	i := 0
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if i >= len(want) || string(k) != want[i] {
			return fmt.Errorf("%s: key %d is %.12q, model %d keys", where, i, k, len(want))
		}
		if m.subs[want[i]] != nil {
			if v != nil {
				return fmt.Errorf("%s: bucket %q has a value", where, k)
			}
		} else if mv := m.kv[want[i]]; v == nil || string(v) != mv {
			return fmt.Errorf("%s: %.12q = %d bytes (nil %v), model %d", where, k, len(v), v == nil, len(mv))
		}
		i++
	}
	if i != len(want) {
		return fmt.Errorf("%s: %d keys, model %d", where, i, len(want))
	}
	i = len(want) - 1
	for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
		if i < 0 || string(k) != want[i] {
			return fmt.Errorf("%s: reverse walk at %.12q, model index %d", where, k, i)
		}
		i--
	}
	if i != -1 {
		return fmt.Errorf("%s: reverse walk stopped %d keys early", where, i+1)
	}
	// Get: every key in a full compare, else some (the walks above
	// read every one).
	n := 0
	for k, v := range m.kv {
		if n++; !full && n > 20 {
			break
		}
		if got := b.Get([]byte(k)); got == nil || string(got) != v {
			return fmt.Errorf("%s: Get(%.12q) = %d bytes (nil %v), model %d", where, k, len(got), got == nil, len(v))
		}
		if b.Bucket([]byte(k)) != nil {
			return fmt.Errorf("%s: Bucket(%.12q) of a value", where, k)
		}
	}
	// Seek to a random key, then a step back.
	for range 3 {
		sk := fmt.Sprintf("k%03d", rng.IntN(260))
		j, _ := slices.BinarySearch(want, sk)
		k, _ := c.Seek([]byte(sk))
		if j < len(want) != (k != nil) || k != nil && string(k) != want[j] {
			return fmt.Errorf("%s: Seek(%q) = %.12q, model index %d of %d", where, sk, k, j, len(want))
		}
		k, _ = c.Prev()
		if j > 0 != (k != nil) || k != nil && string(k) != want[j-1] {
			return fmt.Errorf("%s: Seek(%q), Prev = %.12q, model index %d of %d", where, sk, k, j-1, len(want))
		}
	}
	if err := compareWalks(b, m, want, where); err != nil {
		return err
	}
	if (full || top) && !b.Writable() {
		s := b.Stats()
		keys, buckets := m.count()
		if s.KeyN != keys || s.BucketN != buckets {
			return fmt.Errorf("%s: Stats %d keys %d buckets, model %d and %d", where, s.KeyN, s.BucketN, keys, buckets)
		}
		large, notLarge := false, true
		for _, v := range m.kv {
			large = large || len(v) > ps/4
			notLarge = notLarge && len(v) < ps/4
		}
		if large && s.LargePageN == 0 || notLarge && len(m.subs) == 0 && s.LargePageN != 0 {
			return fmt.Errorf("%s: Stats %d large pages, model large values %v", where, s.LargePageN, large)
		}
	}
	for name, sub := range m.subs {
		if b.Get([]byte(name)) != nil {
			return fmt.Errorf("%s: Get of bucket %q not nil", where, name)
		}
		if err := compareAPIBucket(b.Bucket([]byte(name)), sub, where+"/"+name, ps, rng, full, false); err != nil {
			return err
		}
	}
	return nil
}
