package folio

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/tx"
	"github.com/foliodb/folio/wal"
)

// Crash tests for the free tail the file gives back (tx/tail.go): a
// write transaction drops a free extent ending at the high water mark,
// and a durable direct commit or a checkpoint truncates the file, not
// synced, once more than two growth steps lie past what the metas and
// open snapshots reach. The workload loads, deletes most of it and
// commits until the file is cut, then loads again (the file grows back
// over the cut) and deletes again; power cuts land everywhere in it,
// on the file and in WAL mode on the log too, and a process is killed
// while it runs the workload in a loop.
//
// Each image must open read-write and read-only, hold exactly an
// acknowledged state (or the one in flight) and pass Check; besides,
// every meta page in it that decodes must reach no page past its end
// (the file keeps what either meta reaches: Open falls back to the other
// one when the newest is damaged), and where the file holds both metas
// whole, damaging the newest must open the older one's state.

var (
	tailCycles = flag.Int("crash.tailcycles", 2, "tail crash tests: load-delete-shrink cycles in the workload (>= 2: the second loads over a cut file)")
	tailKills  = flag.Int("crash.tailkills", 5, "tail process-death test: SIGKILLs per mode (direct, WAL)")
	tailRounds = flag.Int("crash.tailrounds", 1, "tail power-loss tests: first crashes recovered and crashed again, per mode")
	tailAll    = flag.Bool("crash.tailall", false, "tail power-loss test: every variant (page sizes, no reader, WAL record kinds), not only the one with readers in each mode")
)

// The workload: numbered transactions, in cycles of tailCycleLen. A cycle
// loads tailLoads transactions of tailLoadVals values stored out of line
// into bucket "big", then deletes most of it (even cycles the bucket,
// odd ones all its keys but the first few, one Delete each), then makes
// tailShrinks commits of one small put (two in odd cycles), which let
// the file be cut (in WAL mode, at checkpoints: tailCheckpointAfter).
// Every transaction also puts a small value in "keep", and the marker
// (applyTxn).
const (
	tailLoads    = 3
	tailLoadVals = 32
	tailShrinks  = 4
	tailKept     = 8 // keys an odd cycle's delete leaves in "big"
	tailCycleLen = tailLoads + 1 + tailShrinks
	// tailAllocPages is DB.AllocSize in pages: growth steps of 16 pages,
	// so a load grows the file many times and a delete leaves many steps
	// of free tail.
	tailAllocPages = 16
)

// tailStep is transaction n's place in its cycle: < tailLoads a load,
// tailLoads the delete, above a one-put commit.
func tailStep(n int) int { return (n - 1) % tailCycleLen }

// tailCheckpointAfter reports whether, in WAL mode, the workload
// checkpoints after transaction n: after the delete (that checkpoint's
// meta reaches the whole load: the pages the delete freed are held for
// it, or kept for a reader), then not after the first one-put commit,
// then after each of the others. The first is logged only, and so is
// the second until its checkpoint: their high water marks can be low
// while recovery still starts from the delete's checkpoint, below which
// the file may not be cut. The file is cut at the third checkpoint,
// once neither meta slot reaches the load.
func tailCheckpointAfter(n int) bool {
	step := tailStep(n)
	return step == tailLoads || step >= tailLoads+2
}

// tailTxn returns transaction n's operations (a function of seed and n
// only, as workTxn's: a recovered file at j goes on with j+1).
func tailTxn(seed uint64, n, ps int) []workOp {
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	bytesOf := func(size int) []byte {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	big := []string{"big"}
	var ops []workOp
	switch step := tailStep(n); {
	case step < tailLoads:
		for j := range tailLoadVals {
			// Out of line (over ps/4): mostly one page, one in eight up
			// to three, so freed runs differ in length.
			size := ps/4 + 1 + rng.IntN(ps/2)
			if rng.IntN(8) == 0 {
				size = ps + rng.IntN(2*ps)
			}
			ops = append(ops, workOp{kind: wPut, path: big, key: step*tailLoadVals + j, val: bytesOf(size)})
		}
	case step == tailLoads && (n-1)/tailCycleLen%2 == 0:
		ops = append(ops, workOp{kind: wDeleteBucket, path: big})
	case step == tailLoads:
		for k := tailKept; k < tailLoads*tailLoadVals; k++ {
			ops = append(ops, workOp{kind: wDelete, path: big, key: k})
		}
	case (n-1)/tailCycleLen%2 == 1:
		// What is left of "big" is rewritten too, lower down (best fit):
		// its pages, written last, would keep the tail in use.
		ops = append(ops, workOp{kind: wPut, path: big, key: n % tailKept, val: bytesOf(1 + rng.IntN(60))})
	}
	// "keep" stays one leaf, rewritten by every transaction, for the
	// same reason.
	return append(ops, workOp{kind: wPut, path: []string{"keep"}, key: n % 8, val: bytesOf(1 + rng.IntN(60))})
}

// tailModels returns the models after transactions 0..n of the workload.
func tailModels(seed uint64, n, ps int) []*mbucket {
	models := []*mbucket{newMBucket()}
	m := newMBucket()
	for i := 1; i <= n; i++ {
		applyModel(m, i, tailTxn(seed, i, ps))
		models = append(models, m.clone())
	}
	return models
}

// tailRun is a recorded run of the workload over the crash doubles, and
// what checking its images found.
type tailRun struct {
	t      *testing.T
	seed   uint64
	ps     int
	opts   *Options
	models []*mbucket
	st     *crashStorage
	lg     *crashLog // nil: direct mode
	// base is the transaction the file held when recording began; done[i]
	// is the number of points recorded once transaction base+i had
	// committed (done[0]: before the first). A point counts the calls of
	// both doubles (crashLog.points).
	base int
	done []int
	// quiet marks the points right after a commit (direct mode) or a
	// checkpoint (WAL mode): the file then holds everything it was
	// given, synced, and both metas with their pages.
	quiet map[int]bool
	open  int // points recorded before Close
	wc    *walChecker

	images, readOnly, pending, window, older, fellBack int
}

// newTailRun opens a database over new doubles holding img (nil: a new
// database), with the log holding recs in WAL mode.
func newTailRun(t *testing.T, seed uint64, ps int, opts *Options, models []*mbucket, img []byte, recs []logRecord) (*tailRun, *DB) {
	t.Helper()
	if img == nil {
		img = tx.InitialImage(ps)
	}
	r := &tailRun{t: t, seed: seed, ps: ps, opts: opts, models: models, st: newCrashStorage(t, img), quiet: map[int]bool{}}
	var db *DB
	var err error
	if opts.WAL {
		r.lg = newCrashLogWith(r.st, recs)
		r.wc = newWALChecker(t, opts, models)
		db, err = tx.OpenWithLog("crash.db", r.st, r.lg, opts)
	} else {
		db, err = tx.Open("crash.db", r.st, opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = tailAllocPages * ps
	if err := db.View(func(tx *Tx) error { r.base, err = readMarker(tx); return err }); err != nil {
		t.Fatal(err)
	}
	return r, db
}

// points is how many crash points have been recorded.
func (r *tailRun) points() int {
	n := r.st.opCount()
	if r.lg != nil {
		n += r.lg.opCount()
	}
	return n
}

// commit runs transactions base+1..to through db and closes it. In WAL
// mode some are followed by a checkpoint (tailCheckpointAfter). For each
// pair in holds, a read transaction begun after transaction pair[0]
// stays open until transaction pair[1] (and its checkpoint) has
// committed; the file may not be cut below what it reads meanwhile, and
// it must then still see its snapshot whole (Check and WriteTo read its
// free pages too).
func (r *tailRun) commit(db *DB, to int, holds [][2]int) {
	t := r.t
	t.Helper()
	r.done = []int{r.points()}
	readers := map[int]*Tx{} // by the transaction each reads
	defer func() {
		for _, rtx := range readers {
			_ = rtx.Rollback()
		}
	}()
	for i := r.base + 1; i <= to; i++ {
		r.st.setTag(i)
		ckpts := 0
		if r.lg != nil {
			r.lg.setTag(i)
			ckpts = r.lg.truncations()
		}
		ops := tailTxn(r.seed, i, r.ps)
		if err := db.Update(func(tx *Tx) error { return applyTxn(tx, i, ops) }); err != nil {
			t.Fatalf("txn %d: %v", i, err)
		}
		r.done = append(r.done, r.points())
		if r.lg == nil || r.lg.truncations() > ckpts {
			r.quiet[r.points()] = true
		}
		if r.lg != nil && tailCheckpointAfter(i) {
			if err := db.Checkpoint(); err != nil {
				t.Fatalf("checkpoint after txn %d: %v", i, err)
			}
			r.quiet[r.points()] = true
		}
		if err := db.View(func(tx *Tx) error { return diffDB(tx, r.models[i]) }); err != nil {
			t.Fatalf("txn %d, live: %v", i, err)
		}
		for j, rtx := range readers {
			if size := r.st.Size(); size < rtx.Size() {
				t.Fatalf("after txn %d: file cut to %d bytes under a reader of txn %d that reads %d", i, size, j, rtx.Size())
			}
		}
		for _, h := range holds {
			if rtx := readers[h[0]]; i == h[1] && rtx != nil {
				delete(readers, h[0])
				for err := range rtx.Check() {
					t.Errorf("a reader of txn %d, after txn %d: check: %v", h[0], i, err)
				}
				if _, err := rtx.WriteTo(&bytes.Buffer{}); err != nil {
					t.Errorf("a reader of txn %d, after txn %d: WriteTo: %v", h[0], i, err)
				}
				if err := diffDB(rtx, r.models[h[0]]); err != nil {
					t.Fatalf("a reader of txn %d, after txn %d: %v", h[0], i, err)
				}
				if err := rtx.Rollback(); err != nil {
					t.Fatal(err)
				}
			}
			if i == h[0] {
				rtx, err := db.Begin(false)
				if err != nil {
					t.Fatal(err)
				}
				readers[i] = rtx
			}
		}
	}
	mustCheck(t, db)
	r.open = r.points()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// fileCalls returns the file calls recorded before point p.
func (r *tailRun) fileCalls(p int) int {
	if r.lg == nil {
		return p
	}
	return r.lg.points(r.st.opCount())[p].file
}

// truncations counts the Truncate calls recorded while the database was
// open (Close's excluded), and those the file then grew back over.
func (r *tailRun) truncations() (cuts, regrown int) {
	cut := false
	for _, op := range r.st.ops[:r.fileCalls(r.open)] {
		switch op.kind {
		case opTruncate:
			cuts++
			cut = true
		case opGrow:
			if cut {
				regrown++
			}
			cut = false
		}
	}
	return cuts, regrown
}

// inWindow reports whether a Truncate is among the first k file calls
// with no growth after it: the file is (or may be) shorter than it was,
// and the next commits either make that durable or grow it back.
func inWindow(ops []crashOp, k int) bool {
	in := false
	for _, op := range ops[:k] {
		switch op.kind {
		case opTruncate:
			in = true
		case opGrow:
			in = false
		}
	}
	return in
}

// directExpect is, in direct mode, the transactions an image after point
// k may hold: lo, the last one whose meta a sync covered, and hi, the one
// in flight (or lo). A commit's last call is no longer its meta's sync
// (the file may be cut after it), so the commit in flight may be durable
// already: only-synced images hold exactly lo.
func (r *tailRun) directExpect(k int) (lo, hi int) {
	lo = ackedAt(r.done, k)
	hi = lo
	if lo+1 < len(r.done) && k > r.done[lo] {
		hi = lo + 1
		for _, op := range r.st.ops[r.done[lo]:k] {
			if op.kind == opSync && op.off < 2*int64(r.ps) {
				lo = hi // the meta page's sync: the commit is durable
			}
		}
	}
	return r.base + lo, r.base + hi
}

// check builds images at every point and checks them: the synced-only
// and the everything-written image, and random ones up to perPoint/2
// (in WAL mode at the default perPoint, one of the first two); in a
// truncation window (inWindow), one random image more.
func (r *tailRun) check(perPoint int, rng *rand.Rand) {
	t := r.t
	t.Helper()
	var pts []walPoint
	n := r.st.opCount()
	if r.lg != nil {
		pts = r.lg.points(r.st.opCount())
		n = len(pts) - 1
	}
	for p := 0; p <= n; p++ {
		k := p
		var lo, hi, durable, last int
		if r.lg == nil {
			lo, hi = r.directExpect(p)
		} else {
			k = pts[p].file
			durable, last = r.lg.tagsAt(pts[p].log)
			durable, last = max(durable, r.base), max(last, r.base)
			if ack := r.base + ackedAt(r.done, p); durable < ack {
				t.Fatalf("after call %d: transaction %d acknowledged, %d durable in the log", p, ack, durable)
			}
		}
		images, window := max(perPoint/2, 2), inWindow(r.st.ops, k)
		first := 0
		switch {
		case window:
			images = perPoint/2 + 1
			r.window++
		case r.lg != nil && perPoint <= 4:
			// WAL images cost twice as much, and the log's points are
			// TestPowerLossWAL's: outside a window, one image a point,
			// synced-only and everything-written by turns.
			images, first = 1, p%2
		}
		for i := first; i < first+images; i++ {
			fm, lm := walImageModes(i, rng)
			if r.lg == nil {
				fm = imageMode(min(i, int(imageTorn)))
				if i >= 2 {
					fm = imageSubset + imageMode(rng.IntN(2))
				}
			}
			img := r.st.image(k, fm, r.ps, rng)
			var where string
			if r.lg == nil {
				where = fmt.Sprintf("crash after op %d/%d (%s), image %s", p, n, opAt(r.st.ops, p), fm)
			} else {
				where = fmt.Sprintf("crash after call %d/%d (%s), file image %s, log image %s",
					p, n, r.lg.describe(r.st, pts[p], pts[max(p-1, 0)]), fm, lm)
			}
			if err := tailMetasFit(img, r.ps); err != nil {
				t.Errorf("%s: %v", where, err)
			}
			r.images++
			if r.lg == nil {
				minTxn, maxTxn := lo, hi
				if fm == imageSynced {
					maxTxn = lo
				}
				r.checkReadOnly(where, img, nil, minTxn, maxTxn, rng)
				if checkCrashImage(t, where, img, r.models, minTxn, maxTxn, r.opts) {
					r.fellBack++
				}
			} else {
				li := r.lg.image(pts[p].log, lm, rng)
				minTxn, maxTxn := walExpect(lm, durable, last)
				if window || i == 0 && r.quiet[p] {
					// Writing the log once more costs about as much
					// as the read-write check: only where the file
					// may be short, and after each checkpoint.
					r.checkReadOnly(where, img, &li, minTxn, maxTxn, rng)
				}
				r.wc.check(where, img, li, minTxn, maxTxn, rng)
			}
			if t.Failed() {
				t.FailNow()
			}
		}
		if r.quiet[p] {
			where := fmt.Sprintf("after op %d/%d (%s), newest meta damaged", p, n, opAt(r.st.ops, k))
			r.checkOlderMeta(where, r.st.image(k, imageAll, r.ps, rng), r.base+ackedAt(r.done, p))
			if t.Failed() {
				t.FailNow()
			}
		}
	}
	if r.wc != nil {
		r.fellBack = r.wc.fellBack
	}
}

// tailMetasFit checks that each meta page of img that decodes reaches no
// page past the end of img: the file keeps what either meta reaches
// (Open falls back to the older one, and refuses a meta reaching past
// the end of the file).
func tailMetasFit(img []byte, ps int) error {
	for slot := range 2 {
		if len(img) < (slot+1)*ps {
			return fmt.Errorf("image of %d bytes: no meta page %d", len(img), slot)
		}
		m, err := page.DecodeMeta(img[slot*ps:(slot+1)*ps], page.ID(slot))
		if err != nil {
			continue // torn or never written: Open passes it over
		}
		if need := int64(m.High) * int64(ps); need > int64(len(img)) {
			return fmt.Errorf("meta page %d (txid %d) reaches %d pages (%d bytes), the file holds %d bytes", slot, m.TxID, m.High, need, len(img))
		}
	}
	return nil
}

// checkReadOnly opens img read-only (with the log image li in WAL mode,
// where a log still to replay is refused: ErrLogPending) and checks it
// holds a transaction in [minTxn, maxTxn], whole.
func (r *tailRun) checkReadOnly(where string, img []byte, li *logImage, minTxn, maxTxn int, rng *rand.Rand) {
	t := r.t
	t.Helper()
	where += " (read-only)"
	o := *r.opts
	o.ReadOnly, o.VerifyChecksums = true, true
	st := openFileStorage(memFile(t, img), true, false, 0)
	var db *DB
	var err error
	if li == nil {
		db, err = tx.Open("crash.db", st, &o)
	} else {
		dir := filepath.Join(r.wc.dir, "ro")
		defer os.RemoveAll(dir)
		li.write(t, dir, rng)
		lg, lerr := wal.Open(dir, wal.Options{ReadOnly: true, SegmentSize: walSegmentSize(li.recs), MaxFreeSegments: -1})
		if lerr != nil {
			_ = st.Close()
			t.Errorf("%s: open the log: %v", where, lerr)
			return
		}
		defer lg.Close()
		db, err = tx.OpenWithLog("crash.db", st, lg, &o)
		if errors.Is(err, ErrLogPending) {
			_ = st.Close()
			r.pending++
			return
		}
	}
	if err != nil {
		_ = st.Close()
		t.Errorf("%s: open: %v", where, err)
		return
	}
	defer db.Close()
	r.readOnly++
	checkHolds(t, where, db, r.models, minTxn, maxTxn)
}

// checkOlderMeta damages the newest meta page of img, a file holding
// both metas whole, and checks that a read-only open (of the file alone:
// in WAL mode the log may hold nothing older) falls back to the older
// meta and finds its state, at most transaction maxTxn, whole.
func (r *tailRun) checkOlderMeta(where string, img []byte, maxTxn int) {
	t := r.t
	t.Helper()
	ps := r.ps
	m0, err0 := page.DecodeMeta(img[:ps], 0)
	m1, err1 := page.DecodeMeta(img[ps:2*ps], 1)
	if err0 != nil || err1 != nil || m0.TxID == m1.TxID {
		return // one meta (Open replaced a torn one with the other)
	}
	newest, older := 0, m1
	if m1.TxID > m0.TxID {
		newest, older = 1, m0
	}
	copy(img[newest*ps+32:], bytes.Repeat([]byte{0xff}, 64))
	st := openFileStorage(memFile(t, img), true, false, 0)
	db, err := tx.Open("crash.db", st, &Options{ReadOnly: true, VerifyChecksums: true})
	if err != nil {
		_ = st.Close()
		t.Errorf("%s: open the older meta (txid %d, %d pages; file %d bytes): %v", where, older.TxID, older.High, len(img), err)
		return
	}
	defer db.Close()
	r.older++
	if db.Stats().MetaFallback == "" {
		t.Errorf("%s: opened without falling back to the older meta", where)
	}
	checkHolds(t, where, db, r.models, 0, maxTxn)
}

// TestPowerLossTail cuts the power at every point of the shrinking
// workload, in direct and in WAL mode, with readers held across each
// cycle's delete (the cut waits for them), and checks every image
// (tailRun.check). It fails unless the file was cut while open in every
// cycle, and grown back over a cut.
//
// -crash.images and -crash.tailcycles scale it; -crash.tailall adds
// variants: no readers, 4 KiB pages, no free list synced, WAL records of
// page images only or operations only, WAL checkpoints inside commits.
func TestPowerLossTail(t *testing.T) {
	holds := [][2]int{
		// A reader of the delete's state over the commits after it:
		// they lower the high water mark below the reader's (the
		// pages the delete freed are not in its snapshot), and the cut
		// waits for it to end.
		{tailLoads + 1, tailLoads + 3},
		// A reader of the next load over its delete (in WAL mode and
		// the checkpoint after it, which then keeps the freed tail
		// below its mark): once it ends, the commits logged after that
		// checkpoint have lower marks than it, and the other meta slot
		// (the checkpoint before the load) too, but recovery starts
		// from that checkpoint until the next one.
		{tailCycleLen + tailLoads, tailCycleLen + tailLoads + 1},
	}
	for _, c := range []struct {
		name   string
		ps     int
		opts   Options
		holds  [][2]int
		images int  // DB.WALImageLimit (recordsLimit)
		auto   bool // WAL: checkpoints by CheckpointBytes too
		all    bool // only with -crash.tailall
	}{
		{name: "direct,page=1024,readers", ps: 1024, holds: holds},
		{name: "wal,page=1024,readers", ps: 1024, opts: Options{WAL: true}, holds: holds},
		{name: "direct,page=1024", ps: 1024, all: true},
		{name: "direct,page=4096", ps: 4096, all: true},
		{name: "direct,page=1024,nofreelistsync", ps: 1024, opts: Options{NoFreelistSync: true}, all: true},
		{name: "wal,page=1024,images", ps: 1024, opts: Options{WAL: true}, images: recordsLimit["images"], all: true},
		{name: "wal,page=1024,operations", ps: 1024, opts: Options{WAL: true}, images: recordsLimit["operations"], all: true},
		{name: "wal,page=4096", ps: 4096, opts: Options{WAL: true}, all: true},
		{name: "wal,page=1024,autocheckpoint", ps: 1024, opts: Options{WAL: true}, auto: true, all: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.all && !*tailAll {
				t.Skip("runs with -crash.tailall")
			}
			seed := testSeed(t)
			cycles := max(*tailCycles, 1)
			txns := cycles * tailCycleLen
			opts := tailOptions(c.opts, c.ps, c.auto)
			models := tailModels(seed, txns, c.ps)
			r, db := newTailRun(t, seed, c.ps, opts, models, nil, nil)
			db.WALImageLimit = c.images
			r.commit(db, txns, c.holds)
			cuts, regrown := r.truncations()
			if cuts < cycles || (cycles > 1 && regrown == 0) {
				t.Fatalf("the file was cut %d times while open in %d cycles, and grown back over a cut %d times: the workload must cut it every cycle",
					cuts, cycles, regrown)
			}
			r.check(max(*crashImages, 2), rand.New(rand.NewPCG(seed, 7)))
			t.Logf("%d transactions, %d points (%d file calls, %d cuts while open, %d grown back over), %d images (%d in a truncation window, %d read-only, %d with a log still to replay, %d fell back to the older meta), %d opened the older meta on purpose",
				txns, r.points(), r.st.opCount(), cuts, regrown, r.images, r.window, r.readOnly, r.pending, r.fellBack, r.older)
		})
	}
}

// tailOptions are the workload's options in WAL mode: no checkpoint by
// the clock, and none by the log's size but those auto asks for (every
// two loads, inside a commit); the others are tailCheckpointAfter's.
func tailOptions(o Options, ps int, auto bool) *Options {
	if o.WAL {
		o.CheckpointBytes = 1 << 30
		if auto {
			o.CheckpointBytes = int64(2 * tailLoadVals * ps)
		}
		o.CheckpointInterval = time.Hour
	}
	return &o
}

// TestPowerLossTailTwice cuts the power in a cycle's delete or the commit
// after it, recovers the image through the doubles (so that recovery's
// own calls are recorded: a torn meta replaced, a log replayed and
// checkpointed, the file cut by that checkpoint), runs the workload on
// through the next cuts and into the next load, and cuts the power at
// every point of that: a recovered file must go on shrinking and growing
// as safely as any. It fails unless the recovered files were cut while
// open. -crash.tailrounds scales it.
func TestPowerLossTailTwice(t *testing.T) {
	for _, walMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", walMode), func(t *testing.T) {
			const ps = 1024
			seed := testSeed(t)
			opts := tailOptions(Options{WAL: walMode}, ps, false)
			// The default record choice: a load is logged as operations
			// after small commits logged as images, so the second crash
			// lands in recoveries that wrote the last image record's meta
			// and then replayed operations (TestRecoverImagesThenOpsTwice).
			limit := recordsLimit["auto"]
			// Two cycles: the first crash lands in the delete of either.
			txns := 2 * tailCycleLen
			more := tailShrinks + 2
			models := tailModels(seed, txns+more, ps)
			r, db := newTailRun(t, seed, ps, opts, models, nil, nil)
			db.WALImageLimit = limit
			r.commit(db, txns, nil)
			var pts []walPoint
			if walMode {
				pts = r.lg.points(r.st.opCount())
			}
			rng := rand.New(rand.NewPCG(seed, 8))
			images, cuts := 0, 0
			for round := 0; round < max(*tailRounds, 1); round++ {
				// A point in the delete of a cycle or the commit after it:
				// the file is cut after recovering.
				cycle := rng.IntN(2) * tailCycleLen
				from, to := r.done[cycle+tailLoads], r.done[cycle+tailLoads+2]
				p := from + rng.IntN(to-from+1)
				var img []byte
				var recs []logRecord
				var lo, hi int
				if walMode {
					lm := logMode(rng.IntN(4))
					li := r.lg.image(pts[p].log, lm, rng)
					img = r.st.image(pts[p].file, imageMode(rng.IntN(4)), ps, rng)
					recs = li.whole()
					durable, last := r.lg.tagsAt(pts[p].log)
					lo, hi = walExpect(lm, durable, last)
				} else {
					img = r.st.image(p, imageSubset+imageMode(rng.IntN(2)), ps, rng)
					lo, hi = r.directExpect(p)
				}
				r2, db2 := newTailRun(t, seed, ps, opts, models, img, recs)
				db2.WALImageLimit = limit
				if r2.base < lo || r2.base > hi {
					t.Fatalf("round %d: first crash after call %d: recovered transaction %d, want %d..%d", round, p, r2.base, lo, hi)
				}
				r2.commit(db2, r2.base+more, nil)
				n, _ := r2.truncations()
				cuts += n
				r2.check(2, rng)
				images += r2.images
				if t.Failed() {
					t.FailNow()
				}
			}
			if cuts == 0 {
				t.Fatalf("no recovered file was cut while open in %d rounds", *tailRounds)
			}
			t.Logf("%d rounds, %d cuts after recovering, %d images after a second crash", *tailRounds, cuts, images)
		})
	}
}

// The child side of TestTailProcessDeath: when FOLIO_TAIL_CRASH_CHILD
// names a database, TestTailProcessDeathChild opens it (in WAL mode if
// FOLIO_TAIL_CRASH_CHILD_WAL is set) and runs the shrinking workload from
// the transaction after the file's marker on, printing "ack N" once
// transaction N's Update has returned, until it is killed; in WAL mode
// it checkpoints by CheckpointBytes (inside commits) and after the
// transactions tailCheckpointAfter names. Each time it finds its file
// shorter after a commit or checkpoint than before, it appends a byte to
// the file named like the database with ".cuts" added: the parent counts
// the cuts made while the database was open.
const tailChildEnv = "FOLIO_TAIL_CRASH_CHILD"

func tailChildOptions(walMode bool) *Options {
	o := tailOptions(Options{WAL: walMode}, processPageSize, true)
	o.PageSize = processPageSize
	return o
}

func TestTailProcessDeathChild(t *testing.T) {
	path := os.Getenv(tailChildEnv)
	if path == "" {
		t.Skip("the child of TestTailProcessDeath; runs only when it starts it")
	}
	seed, err := strconv.ParseUint(os.Getenv(tailChildEnv+"_SEED"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	walMode := os.Getenv(tailChildEnv+"_WAL") != ""
	say := func(format string, v ...any) {
		// One write a line, so a kill never leaves half a line.
		if _, err := os.Stdout.WriteString(fmt.Sprintf(format, v...) + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	say("start")
	db, err := Open(path, 0o600, tailChildOptions(walMode))
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = tailAllocPages * processPageSize
	n := 0
	if err := db.View(func(tx *Tx) error { n, err = readMarker(tx); return err }); err != nil {
		t.Fatal(err)
	}
	cuts, err := os.OpenFile(path+".cuts", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	size := fileSize(t, path)
	say("opened %d", n)
	for i := n + 1; i < n+1_000_000; i++ {
		ops := tailTxn(seed, i, processPageSize)
		if err := db.Update(func(tx *Tx) error { return applyTxn(tx, i, ops) }); err != nil {
			t.Fatal(err)
		}
		say("ack %d", i)
		if walMode && tailCheckpointAfter(i) {
			if err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
		if s := fileSize(t, path); s < size {
			if _, err := cuts.Write([]byte{'c'}); err != nil {
				t.Fatal(err)
			}
		}
		size = fileSize(t, path)
	}
}

// TestTailProcessDeath runs the shrinking workload in a child process
// (the test binary re-run) on a real file, in direct and in WAL mode,
// SIGKILLs it at random moments, and after each kill opens a copy of
// the file (and its log), read-only and then read-write, runs Check and
// verifies that it holds the last transaction the child acknowledged or
// the one in flight, whole. The next child goes on from the original.
// It fails unless the children cut their file while open.
//
// -crash.tailkills scales it.
func TestTailProcessDeath(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process per kill")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, walMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", walMode), func(t *testing.T) {
			if walMode {
				t.Setenv(tailChildEnv+"_WAL", "1")
			} else {
				t.Setenv(tailChildEnv+"_WAL", "")
			}
			seed := testSeed(t)
			rng := rand.New(rand.NewPCG(seed, 9))
			// In memory: a kill leaves the page cache, which is all
			// this test looks at, and the children's syncs cost little.
			dir := scratchDir(t)
			path := filepath.Join(dir, "crash.db")
			cp := filepath.Join(dir, "check.db")
			model := newMBucket()
			last, inFlight, pending := 0, 0, 0
			for kill := 0; kill < *tailKills; kill++ {
				waitFor := "ack " + strconv.Itoa(last+1+rng.IntN(tailCycleLen))
				switch {
				case kill == 0:
					// The first child runs a whole cycle: it cuts the
					// file at least once, whatever the other kills do.
					waitFor = "ack " + strconv.Itoa(tailCycleLen+1+rng.IntN(tailCycleLen))
				case rng.IntN(8) == 0:
					waitFor = "opened"
				}
				delay := time.Duration(rng.IntN(2000)) * time.Microsecond
				ack, lastLine := killTestChild(t, exe, "TestTailProcessDeathChild", tailChildEnv, path, seed, waitFor, delay, last)
				copyFile(t, path, cp)
				if err := os.RemoveAll(LogDir(cp)); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(LogDir(path)); err == nil {
					copyLiveSegments(t, LogDir(path), LogDir(cp))
				}
				where := fmt.Sprintf("kill %d (last ack %d, the child's last words %q)", kill, ack, lastLine)
				check := func(db *DB, readOnly bool) error {
					for _, err := range checkErrs(db) {
						t.Errorf("%s: check: %v", where, err)
					}
					return db.View(func(tx *Tx) error {
						j, err := readMarker(tx)
						if err != nil {
							return err
						}
						if j < ack || j > ack+1 {
							return fmt.Errorf("holds transaction %d; the child acknowledged %d", j, ack)
						}
						if j < last {
							return fmt.Errorf("holds transaction %d; an earlier kill left %d", j, last)
						}
						if j == ack+1 && !readOnly {
							inFlight++
						}
						for ; last < j; last++ {
							applyModel(model, last+1, tailTxn(seed, last+1, processPageSize))
						}
						if err := diffDB(tx, model); err != nil {
							return fmt.Errorf("transaction %d partly present: %w", j, err)
						}
						return nil
					})
				}
				// Read-only first: it changes nothing (and refuses a log
				// still to replay).
				ro := &Options{ReadOnly: true, WAL: walMode, VerifyChecksums: true}
				if db, err := Open(cp, 0o600, ro); errors.Is(err, ErrLogPending) {
					pending++
				} else if err != nil {
					t.Fatalf("%s: read-only open: %v", where, err)
				} else {
					err := check(db, true)
					if cerr := db.Close(); cerr != nil {
						t.Fatal(cerr)
					}
					if err != nil {
						t.Fatalf("%s, read-only: %v", where, err)
					}
				}
				db, err := Open(cp, 0o600, &Options{WAL: walMode, VerifyChecksums: true})
				if err != nil {
					t.Fatalf("%s: open: %v", where, err)
				}
				err = check(db, false)
				if cerr := db.Close(); cerr != nil {
					t.Fatal(cerr)
				}
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				if t.Failed() {
					t.FailNow()
				}
			}
			cuts := 0
			if fi, err := os.Stat(path + ".cuts"); err == nil {
				cuts = int(fi.Size())
			}
			if last < tailCycleLen || cuts == 0 {
				t.Fatalf("%d transactions committed in %d kills, the file cut %d times while open: the kills came too early to test anything",
					last, *tailKills, cuts)
			}
			t.Logf("%d kills, %d transactions committed (%d cycles), %d cuts while open, %d kills left the commit in flight durable, %d read-only opens found a log to replay",
				*tailKills, last, last/tailCycleLen, cuts, inFlight, pending)
		})
	}
}
