package folio

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/foliodb/folio/tx"
	"github.com/foliodb/folio/wal"
)

// TestPowerLossWAL is TestPowerLoss in WAL mode, over both files. The
// numbered transactions commit through crashStorage (the data file) and
// crashLog (the write-ahead log), with a checkpoint every few commits
// (CheckpointBytes is small), so the merged sequence of calls holds page
// writes of logged commits, log appends and syncs, and whole checkpoints
// (free list, file sync, meta, log truncation). For every point k in it,
// images of both files as a power cut there could leave them are opened
// with tx.OpenWithLog, which recovers the log with package wal and
// replays it; then Check, and the contents against the model.
//
// The state found must be transaction j, where j is at least the last
// transaction whose log record a sync covered (every acknowledged commit
// is one: the test fails if a commit returned before its record was
// synced) and at most the last one appended; exactly the first with a log
// of synced records only, exactly the second with every record whole.
// The file's unsynced page writes, whichever of them survive, must not
// change that: logged commits never write the file's meta, and never
// overwrite a page the last checkpoint reaches.
//
// -crash.images (images per point) and -crash.txns scale it, as they do
// TestPowerLoss: -crash.images=16 tries thousands of images.
func TestPowerLossWAL(t *testing.T) {
	for _, c := range []struct {
		ps           int
		ckpt         int64
		noFreelist   bool
		reader       bool // a reader holds a snapshot across checkpoints
		txnsFraction int
		records      string // "images", "operations" or "auto" (the default choice)
	}{
		// Thresholds that make the workload cross several checkpoints
		// (records leave out the pages' zero tails, so they are small).
		// At 6 KiB, half the transactions crossed 3 in 1 seed of 40 (2
		// is a failure); all of them cross at least 7 in 300.
		{1024, 12 << 10, false, false, 1, "images"},
		{4096, 24 << 10, false, false, 1, "images"},
		{1024, 6 << 10, true, false, 1, "images"},
		{1024, 6 << 10, false, true, 1, "images"},
		{1024, 2 << 10, false, false, 1, "operations"},
		{4096, 2 << 10, false, true, 1, "operations"},
		{1024, 2 << 10, false, false, 1, "auto"},
	} {
		name := fmt.Sprintf("page=%d,checkpoint=%dKiB,nofreelistsync=%v", c.ps, c.ckpt>>10, c.noFreelist)
		if c.reader {
			name += ",reader"
		}
		name += "," + c.records
		imageLimit := recordsLimit[c.records]
		t.Run(name, func(t *testing.T) {
			seed := testSeed(t)
			opts := &Options{WAL: true, CheckpointBytes: c.ckpt, NoFreelistSync: c.noFreelist}
			txns := max(*crashTxns/c.txnsFraction, 1)
			var hold [2]int
			if c.reader {
				hold = [2]int{2, max(txns-2, 3)}
			}
			testPowerLossWAL(t, seed, c.ps, opts, imageLimit, txns, max(*crashImages, 2), hold)
		})
	}
}

func testPowerLossWAL(t *testing.T, seed uint64, ps int, opts *Options, imageLimit, txns, perPoint int, hold [2]int) {
	st := newCrashStorage(t, tx.InitialImage(ps))
	lg := newCrashLog(st)
	db, err := tx.OpenWithLog("crash.db", st, lg, opts)
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 4 * ps
	db.WALImageLimit = imageLimit
	models := workModels(seed, txns, ps)
	done := commitWAL(t, db, st, lg, seed, 1, txns, ps, models, hold)
	mustCheck(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if n := lg.truncations(); n < 3 {
		t.Fatalf("%d checkpoints in %d transactions; the workload should cross several", n, txns)
	}

	c := newWALChecker(t, opts, models)
	rng := rand.New(rand.NewPCG(seed, 4))
	pts := lg.points(st.opCount())
	for p, pt := range pts {
		ack := ackedAt(done, p)
		durable, last := lg.tagsAt(pt.log)
		if durable < ack || last > ack+1 {
			t.Fatalf("after call %d: transaction %d acknowledged; the log holds records of %d (synced) to %d", p, ack, durable, last)
		}
		prev := pts[max(p-1, 0)]
		for i := 0; i < perPoint; i++ {
			fm, lm := walImageModes(i, rng)
			li := lg.image(pt.log, lm, rng)
			img := st.image(pt.file, fm, ps, rng)
			lo, hi := walExpect(lm, durable, last)
			where := fmt.Sprintf("crash after call %d/%d (%s), file image %s, log image %s (%d records, torn %d)",
				p, len(pts)-1, lg.describe(st, pt, prev), fm, lm, len(li.recs), li.torn)
			c.check(where, img, li, lo, hi, rng)
			if t.Failed() {
				t.FailNow()
			}
		}
	}
	t.Logf("%d transactions, %d file calls and %d log calls (%d checkpoints), %d crash images, %d replayed the log, %d opened via the older meta page",
		txns, st.opCount(), lg.opCount(), lg.truncations(), c.images, c.replays.n, c.fellBack)
}

// TestPowerLossWALTwice cuts the power in WAL mode, then recovers the
// image through the doubles, so that the replay itself (its page writes,
// the file sync, the meta, the log truncation) is recorded too, commits a
// few more transactions, and cuts the power at every point of that: a
// crash during recovery must recover again, and a recovered database must
// go on committing as safely as any.
func TestPowerLossWALTwice(t *testing.T) {
	for _, records := range []string{"images", "operations"} {
		t.Run(records, func(t *testing.T) { testPowerLossWALTwice(t, recordsLimit[records]) })
	}
}

// recordsLimit is the DB.WALImageLimit that makes a test's records page
// images (as long as they fit), operations (replay re-runs them), or
// whichever the default picks per commit.
var recordsLimit = map[string]int{"images": 1 << 20, "operations": -1, "auto": 0}

func testPowerLossWALTwice(t *testing.T, imageLimit int) {
	const ps = 1024
	const txns, more, rounds = 16, 4, 6
	seed := testSeed(t)
	opts := &Options{WAL: true, CheckpointBytes: 16 << 10}
	st := newCrashStorage(t, tx.InitialImage(ps))
	lg := newCrashLog(st)
	db, err := tx.OpenWithLog("crash.db", st, lg, opts)
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 4 * ps
	db.WALImageLimit = imageLimit
	models := workModels(seed, txns+more, ps)
	done := commitWAL(t, db, st, lg, seed, 1, txns, ps, models, [2]int{})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	c := newWALChecker(t, opts, models)
	rng := rand.New(rand.NewPCG(seed, 5))
	pts := lg.points(st.opCount())
	replayCalls := 0
	for round := 0; round < rounds; round++ {
		p := rng.IntN(len(pts))
		pt := pts[p]
		fm := imageMode(rng.IntN(4))
		lm := logMode(rng.IntN(4))
		durable, last := lg.tagsAt(pt.log)
		lo, hi := walExpect(lm, durable, last)
		img := st.image(pt.file, fm, ps, rng)
		li := lg.image(pt.log, lm, rng)
		where := fmt.Sprintf("round %d: crash after call %d (file image %s, log image %s)", round, p, fm, lm)

		// Recover through the doubles: the log as package wal would
		// have recovered it, every whole record durable.
		st2 := newCrashStorage(t, img)
		lg2 := newCrashLogWith(st2, li.whole())
		o := *opts
		o.VerifyChecksums = true
		db2, err := tx.OpenWithLog("crash.db", st2, lg2, &o)
		if err != nil {
			t.Fatalf("%s: open: %v", where, err)
		}
		db2.AllocSize = 4 * ps
		db2.WALImageLimit = imageLimit
		var j int
		err = db2.View(func(tx *Tx) error {
			if j, err = readMarker(tx); err != nil {
				return err
			}
			return diffDB(tx, models[j])
		})
		if err != nil {
			t.Fatalf("%s: recovered transaction %d: %v", where, j, err)
		}
		if j < lo || j > hi {
			t.Fatalf("%s: recovered transaction %d, want %d..%d", where, j, lo, hi)
		}
		if ack := ackedAt(done, p); j < ack {
			t.Fatalf("%s: recovered transaction %d, but %d was acknowledged", where, j, ack)
		}
		replayCalls += st2.opCount() + lg2.opCount()
		done2 := commitWAL(t, db2, st2, lg2, seed, j+1, j+more, ps, models, [2]int{})
		if err := db2.Close(); err != nil {
			t.Fatal(err)
		}

		pts2 := lg2.points(st2.opCount())
		for p2, pt2 := range pts2 {
			durable2, last2 := lg2.tagsAt(pt2.log)
			durable2, last2 = max(durable2, j), max(last2, j)
			if ack := j + ackedAt(done2, p2); durable2 < ack {
				t.Fatalf("%s, then after call %d: transaction %d acknowledged, %d durable", where, p2, ack, durable2)
			}
			for i := 0; i < 3; i++ {
				fm2, lm2 := walImageModes(i, rng)
				li2 := lg2.image(pt2.log, lm2, rng)
				img2 := st2.image(pt2.file, fm2, ps, rng)
				lo2, hi2 := walExpect(lm2, durable2, last2)
				where2 := fmt.Sprintf("%s, recovered at txn %d; crash again after call %d/%d (%s), file image %s, log image %s",
					where, j, p2, len(pts2)-1, lg2.describe(st2, pt2, pts2[max(p2-1, 0)]), fm2, lm2)
				c.check(where2, img2, li2, lo2, hi2, rng)
				if t.Failed() {
					t.FailNow()
				}
			}
		}
	}
	t.Logf("%d rounds, %d calls recovering, %d images after a second crash, %d replayed the log", rounds, replayCalls, c.images, c.replays.n)
}

// commitWAL commits workload transactions from..to through db, labelling
// the calls of each with its number, and checks each against its model.
// Unless hold is zero, a read transaction begun after transaction hold[0]
// stays open until transaction hold[1] has committed (so the pages it
// sees stay pending across checkpoints), and must then still see its
// snapshot. It returns, for each transaction, the calls recorded once it
// had committed: done[i] is for transaction from-1+i (done[0]: before
// the first).
func commitWAL(t *testing.T, db *DB, st *crashStorage, lg *crashLog, seed uint64, from, to, ps int, models []*mbucket, hold [2]int) []int {
	t.Helper()
	done := []int{st.opCount() + lg.opCount()}
	var reader *Tx
	for i := from; i <= to; i++ {
		st.setTag(i)
		lg.setTag(i)
		ops := workTxn(seed, i, ps)
		if err := db.Update(func(tx *Tx) error { return applyTxn(tx, i, ops) }); err != nil {
			t.Fatalf("txn %d: %v", i, err)
		}
		done = append(done, st.opCount()+lg.opCount())
		if err := db.View(func(tx *Tx) error { return diffDB(tx, models[i]) }); err != nil {
			t.Fatalf("txn %d, live: %v", i, err)
		}
		switch {
		case i == hold[0] && hold != [2]int{}:
			var err error
			if reader, err = db.Begin(false); err != nil {
				t.Fatal(err)
			}
		case i == hold[1] && reader != nil:
			if err := diffDB(reader, models[hold[0]]); err != nil {
				t.Fatalf("a reader of transaction %d, after %d: %v", hold[0], i, err)
			}
			if err := reader.Rollback(); err != nil {
				t.Fatal(err)
			}
			reader = nil
		}
	}
	if reader != nil {
		_ = reader.Rollback()
	}
	return done
}

// ackedAt is the last transaction acknowledged by call p, by done (see
// commitWAL), counting from done's first transaction minus one.
func ackedAt(done []int, p int) int {
	lo := 0
	for lo+1 < len(done) && done[lo+1] <= p {
		lo++
	}
	return lo
}

// walImageModes picks the file and log images of the i-th image at a
// point: first both synced only, then both whole (a process death), then
// random pairs.
func walImageModes(i int, rng *rand.Rand) (imageMode, logMode) {
	switch i {
	case 0:
		return imageSynced, logSynced
	case 1:
		return imageAll, logAll
	}
	return imageMode(rng.IntN(4)), logMode(rng.IntN(4))
}

// walExpect is the range of transactions an image may hold, from those
// of the last synced and the last appended records.
func walExpect(lm logMode, durable, last int) (lo, hi int) {
	switch lm {
	case logSynced:
		return durable, durable
	case logAll:
		return last, last
	}
	return durable, last
}

// walChecker opens crash images of both files and checks them.
type walChecker struct {
	t        *testing.T
	dir      string
	opts     Options
	models   []*mbucket
	images   int
	fellBack int
	replays  replayCounter
}

func newWALChecker(t *testing.T, opts *Options, models []*mbucket) *walChecker {
	c := &walChecker{t: t, dir: scratchDir(t), opts: *opts, models: models}
	c.opts.VerifyChecksums = true
	c.opts.Logger = &c.replays
	return c
}

// check opens the file image img with the log image li (written with
// package wal, recovered by it and replayed), runs Check, and checks that
// it holds transaction j for some j in [minTxn, maxTxn], whole; then
// that it takes a logged commit and closes (a checkpoint) cleanly.
func (c *walChecker) check(where string, img []byte, li logImage, minTxn, maxTxn int, rng *rand.Rand) {
	t := c.t
	t.Helper()
	c.images++
	dir := filepath.Join(c.dir, strconv.Itoa(c.images))
	defer os.RemoveAll(dir)
	li.write(t, dir, rng)
	lg, err := wal.Open(dir, wal.Options{SegmentSize: walSegmentSize(li.recs), MaxFreeSegments: -1})
	if err != nil {
		t.Errorf("%s: open the log: %v", where, err)
		return
	}
	st := openFileStorage(memFile(t, img), false, false, 0)
	db, err := tx.OpenWithLog("crash.db", st, lg, &c.opts)
	if err != nil {
		_ = lg.Close()
		_ = st.Close()
		t.Errorf("%s: open: %v", where, err)
		return
	}
	db.AllocSize = 64 << 10
	checkHolds(t, where, db, c.models, minTxn, maxTxn)
	if db.Stats().MetaFallback != "" {
		c.fellBack++
	}
	writeAfterCrash(t, where, db)
	if err := db.Close(); err != nil {
		t.Errorf("%s: close (a checkpoint): %v", where, err)
	}
}
