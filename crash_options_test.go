package folio

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/foliodb/folio/tx"
	"github.com/foliodb/folio/wal"
)

// Power-loss checks across option combinations. The existing
// crash suites run mostly default options; these run the same kind of
// check (numbered transactions against the model, every call of the
// storage and log doubles a crash point, images reopened, Check, the
// state of one whole transaction between the last acknowledged and the
// last begun) with NoFreelistSync, NoGrowSync, page sizes from 1 KiB to
// 64 KiB, small AllocSize, InitialMmapSize, WAL with tiny CheckpointBytes
// and each WALImageLimit, NoSync with explicit Syncs (only what Sync
// acknowledged counts), Batch, the tail-freeing workload, and sessions
// that switch options between them (WAL on, off and on again), each
// session's open and close recorded too. A second phase recovers random
// crash images with another combination through the doubles and crashes
// again at every call of that recovery and the commits after it.
//
// -opts.deep runs more transactions and images per point.

var optsDeep = flag.Bool("opts.deep", false, "option-combination crash tests: more transactions, images and second crashes")

// ocCombo is one session's options.
type ocCombo struct {
	o          Options
	alloc      int // DB.AllocSize in pages (0: 4)
	imageLimit int // DB.WALImageLimit
	batch      bool
	syncEvery  int // with NoSync: DB.Sync after every syncEvery commits
	// toggle, when > 0, sets DB.NoSync between transactions: off for
	// every toggle-th transaction, on for the others (README: DB.NoSync
	// is "changeable between transactions").
	toggle int
}

func (c ocCombo) String() string {
	var f []string
	if c.o.WAL {
		f = append(f, fmt.Sprintf("wal(ckpt=%d,limit=%d)", c.o.CheckpointBytes, c.imageLimit))
	} else {
		f = append(f, "direct")
	}
	if c.o.NoFreelistSync {
		f = append(f, "nofreelist")
	}
	if c.o.NoGrowSync {
		f = append(f, "nogrowsync")
	}
	if c.o.NoSync {
		f = append(f, fmt.Sprintf("nosync(sync/%d)", c.syncEvery))
	}
	if c.o.InitialMmapSize != 0 {
		f = append(f, fmt.Sprintf("mmap=%d", c.o.InitialMmapSize))
	}
	if c.toggle > 0 {
		f = append(f, fmt.Sprintf("nosync-toggled(sync/%d)", c.toggle))
	}
	if c.batch {
		f = append(f, "batch")
	}
	if c.alloc != 0 {
		f = append(f, fmt.Sprintf("alloc=%dp", c.alloc))
	}
	return strings.Join(f, ",")
}

// ocGen is one write-ahead log: a WAL-mode session's, until an open
// without WAL removes it (removedAt: the file calls by then; -1: live).
type ocGen struct {
	lg        *crashLog
	removedAt int
}

// ocRun is a recording of sessions over one file double and the logs.
type ocRun struct {
	t      *testing.T
	ps     int
	seed   uint64
	txnFn  func(seed uint64, n, ps int) []workOp
	models []*mbucket
	st     *crashStorage
	gens   []ocGen
	// ack[n], begun[n]: calls recorded when transaction n was
	// acknowledged (its commit, or with NoSync the Sync after it) and
	// when it began. first is the transaction the file held at the start.
	ack, begun map[int]int
	// noSync[n]: transaction n committed with NoSync (acknowledged only
	// by a later Sync, or a later durable commit).
	noSync map[int]bool
	first  int
	next   int // next transaction number
	// phases[i] names the phase of call i+1 (open, commit, sync, close).
	phases []string
	combos []ocCombo // combos[i]: the session during call i+1
}

func (r *ocRun) calls() int {
	n := r.st.opCount()
	for _, g := range r.gens {
		n += g.lg.opCount()
	}
	return n
}

func (r *ocRun) label(phase string, c ocCombo) {
	for n := r.calls(); len(r.phases) < n; {
		r.phases = append(r.phases, phase)
		r.combos = append(r.combos, c)
	}
}

func (r *ocRun) live() *ocGen {
	if len(r.gens) == 0 || r.gens[len(r.gens)-1].removedAt >= 0 {
		return nil
	}
	return &r.gens[len(r.gens)-1]
}

func (r *ocRun) setTag(n int) {
	r.st.setTag(n)
	if g := r.live(); g != nil {
		g.lg.setTag(n)
	}
}

// open opens a session with c, as the root package's Open would over
// the doubles: a log if there is one or c asks for WAL; leaving WAL
// mode replays and checkpoints, closes, removes the log, opens without.
// successor is the run of a process that goes on from a crash image of
// r's: on st, with the log records recs (if any) in its log.
func (r *ocRun) successor(st *crashStorage, recs []logRecord) *ocRun {
	r2 := &ocRun{t: r.t, ps: r.ps, seed: r.seed, txnFn: r.txnFn, models: r.models, ack: map[int]int{}, begun: map[int]int{}, noSync: map[int]bool{}}
	r2.st = st
	if len(recs) > 0 {
		r2.gens = []ocGen{{lg: newCrashLogWith(st, recs), removedAt: -1}}
	}
	return r2
}

// openRecovered opens r's crash image with c and checks that it holds the
// state after one whole transaction, from lo to hi, which it returns.
// where names the image in failures.
func (r *ocRun) openRecovered(c ocCombo, lo, hi int, where string) (*DB, int) {
	t := r.t
	db := r.open(c)
	var j int
	if err := db.View(func(tx *Tx) error {
		var err error
		if j, err = readMarker(tx); err != nil {
			return err
		}
		return diffDB(tx, r.models[j])
	}); err != nil {
		t.Fatalf("%s: recovered: %v", where, err)
	}
	if j < lo || j > hi {
		t.Fatalf("%s: recovered transaction %d, want %d..%d", where, j, lo, hi)
	}
	return db, j
}

func (r *ocRun) open(c ocCombo) *DB {
	t := r.t
	t.Helper()
	r.setTag(r.next)
	o := c.o
	g := r.live()
	if g == nil && o.WAL {
		r.gens = append(r.gens, ocGen{lg: newCrashLog(r.st), removedAt: -1})
		g = r.live()
		g.lg.setTag(r.next)
	}
	var db *DB
	var err error
	if g == nil {
		db, err = tx.Open("opts.db", keepOpen{r.st}, &o)
	} else {
		db, err = tx.OpenWithLog("opts.db", keepOpen{r.st}, g.lg, &o)
		if err == nil && !o.WAL {
			// Leaving WAL mode (db.go, Open).
			if err = db.Close(); err == nil {
				r.label("open (leave WAL)", c)
				// removeLogDir: durable when it returns.
				g.removedAt = r.st.opCount()
				db, err = tx.Open("opts.db", keepOpen{r.st}, &o)
			}
		}
	}
	if err != nil {
		t.Fatalf("open with %v: %v", c, err)
	}
	db.AllocSize = max(c.alloc, 4) * r.ps
	if c.alloc < 0 {
		db.AllocSize = 0
	}
	db.WALImageLimit = c.imageLimit
	r.label("open", c)
	return db
}

// commit runs transactions r.next..to in db with c.
func (r *ocRun) commit(db *DB, c ocCombo, to int) {
	t := r.t
	t.Helper()
	var unacked []int
	for ; r.next <= to; r.next++ {
		n := r.next
		r.setTag(n)
		r.begun[n] = r.calls()
		ops := r.txnFn(r.seed, n, r.ps)
		noSync := c.o.NoSync
		if c.toggle > 0 {
			noSync = n%c.toggle != 0
			db.NoSync = noSync
		}
		fn := func(tx *Tx) error { return applyTxn(tx, n, ops) }
		var err error
		if c.batch {
			err = db.Batch(fn)
		} else {
			err = db.Update(fn)
		}
		if err != nil {
			t.Fatalf("txn %d (%v): %v", n, c, err)
		}
		r.label("commit", c)
		unacked = append(unacked, n)
		if noSync {
			r.noSync[n] = true
		}
		if !noSync {
			r.ack[n] = r.calls()
			unacked = unacked[:0]
		} else if c.syncEvery > 0 && (n-r.first)%c.syncEvery == 0 {
			if err := db.Sync(); err != nil {
				t.Fatalf("sync after txn %d: %v", n, err)
			}
			r.label("sync", c)
			for _, u := range unacked {
				r.ack[u] = r.calls()
			}
			unacked = unacked[:0]
		}
		if err := db.View(func(tx *Tx) error { return diffDB(tx, r.models[n]) }); err != nil {
			t.Fatalf("txn %d, live (%v): %v", n, c, err)
		}
	}
}

func (r *ocRun) close(db *DB, c ocCombo) {
	t := r.t
	t.Helper()
	mustCheck(t, db)
	r.setTag(r.next - 1)
	if err := db.Close(); err != nil {
		t.Fatalf("close (%v): %v", c, err)
	}
	r.label("close", c)
}

// ocPoint is a crash point: file calls done, the log then (gen -1:
// none) and its calls done.
type ocPoint struct{ file, gen, log int }

// points merges the file's calls with every log's, in order; point i
// follows i calls.
func (r *ocRun) points() []ocPoint {
	type lop struct{ gen, j, f int }
	var lops []lop
	for g, gen := range r.gens {
		for j, op := range gen.lg.ops {
			lops = append(lops, lop{g, j, op.fileOps})
		}
	}
	cur := ocPoint{gen: -1}
	if len(r.gens) > 0 && r.gens[0].lg.base > 0 {
		cur.gen = 0
	}
	f := 0
	var pts []ocPoint
	emit := func() {
		p := cur
		p.file = f
		if p.gen >= 0 {
			if ra := r.gens[p.gen].removedAt; ra >= 0 && f > ra {
				p.gen, p.log = -1, 0
			}
		}
		pts = append(pts, p)
	}
	emit()
	for _, o := range lops {
		for f < o.f {
			f++
			emit()
		}
		cur = ocPoint{gen: o.gen, log: o.j + 1}
		emit()
	}
	for f < r.st.opCount() {
		f++
		emit()
	}
	return pts
}

// expect is the range of transactions an image at point p may hold.
func (r *ocRun) expect(p int) (lo, hi int) {
	lo, hi = r.first, r.first
	for n, at := range r.ack {
		if at <= p && n > lo {
			lo = n
		}
	}
	for n, at := range r.begun {
		if at < p && n > hi {
			hi = n
		}
	}
	return lo, max(lo, hi)
}

// unpromised reports whether point p falls where a NoSync commit had
// begun and nothing had yet acknowledged it (a Sync, or a durable commit
// after it): there, only the synced image is promised (README: with
// NoSync a crash can lose or tear commits; Sync makes them durable).
func (r *ocRun) unpromised(p int) bool {
	for n := range r.noSync {
		if r.begun[n] >= p {
			continue
		}
		acked := false
		for m, at := range r.ack {
			if m >= n && at <= p {
				acked = true
				break
			}
		}
		if !acked {
			return true
		}
	}
	return false
}

// ocStats counts what the images of one combination covered.
type ocStats struct {
	points, images, withLog, replays, fellBack int
	unpromised                                 int // NoSync images skipped (not synced-only)
	grows, cuts, checkpoints                   int
	byPhase                                    map[string]int
}

func (s *ocStats) String() string {
	return fmt.Sprintf("%d points, %d images (%d with a log, %d replayed, %d via the older meta, %d NoSync ones skipped); %d grows, %d cuts, %d checkpoints; by phase %v",
		s.points, s.images, s.withLog, s.replays, s.fellBack, s.unpromised, s.grows, s.cuts, s.checkpoints, s.byPhase)
}

// check opens images at every point and checks them, opening each with
// the combination of the session it crashed in, or of the one after.
func (r *ocRun) check(perPoint int, rng *rand.Rand, st *ocStats) {
	t := r.t
	t.Helper()
	pts := r.points()
	if len(pts) != r.calls()+1 {
		t.Fatalf("%d points for %d calls", len(pts), r.calls())
	}
	for _, op := range r.st.ops {
		switch op.kind {
		case opGrow:
			st.grows++
		case opTruncate:
			st.cuts++
		}
	}
	for _, g := range r.gens {
		st.checkpoints += g.lg.truncations()
	}
	dir := scratchDir(t)
	var rc replayCounter
	for p, pt := range pts {
		st.points++
		lo, hi := r.expect(p)
		phase, combo := "start", r.combos[0]
		if p > 0 {
			phase, combo = r.phases[p-1], r.combos[p-1]
		}
		unp := r.unpromised(p)
		for i := 0; i < perPoint; i++ {
			fm, lm := walImageModes(i, rng)
			if unp && i > 0 {
				st.unpromised++
				continue
			}
			img := r.st.image(pt.file, fm, r.ps, rng)
			var li *logImage
			if pt.gen >= 0 {
				x := r.gens[pt.gen].lg.image(pt.log, lm, rng)
				li = &x
			}
			c := combo
			if i >= 2 && p < len(r.combos) && rng.IntN(2) == 0 {
				c = r.combos[len(r.combos)-1] // the last session's options
			}
			where := fmt.Sprintf("crash after call %d/%d (%s, %s), file image %s, log image %s (gen %d, %d calls), reopened %v",
				p, len(pts)-1, phase, r.lastOp(p, pt), fm, lm, pt.gen, pt.log, c)
			st.images++
			st.byPhase[phase]++
			if li != nil && len(li.recs) > 0 {
				st.withLog++
			}
			before := rc.n
			if r.checkImage(where, dir, st.images, img, li, c, lo, hi, rng, &rc) {
				st.fellBack++
			}
			if rc.n > before {
				st.replays++
			}
			if t.Failed() {
				if os.Getenv("FOLIO_OPTSCRASH_DUMP") != "" {
					for i, q := range pts[:p+1] {
						if i == 0 {
							continue
						}
						if q.gen >= 0 && q.log > 0 && (i == 0 || pts[i-1].log != q.log || pts[i-1].gen != q.gen) {
							t.Logf("call %d: %v", i, r.gens[q.gen].lg.ops[q.log-1])
						} else {
							t.Logf("call %d: %v", i, opAt(r.st.ops, q.file))
						}
					}
				}
				t.FailNow()
			}
		}
	}
}

func (r *ocRun) lastOp(p int, pt ocPoint) string {
	if p == 0 {
		return "none"
	}
	return fmt.Sprintf("file %s", opAt(r.st.ops, pt.file))
}

// checkImage opens a crash image as Open would with c's options (a log
// beside it when there is one or c asks for WAL) and checks it holds a
// transaction in [lo, hi] whole, then takes a write and closes cleanly.
func (r *ocRun) checkImage(where, dir string, n int, img []byte, li *logImage, c ocCombo, lo, hi int, rng *rand.Rand, rc *replayCounter) bool {
	t := r.t
	t.Helper()
	o := c.o
	o.VerifyChecksums = true
	o.Logger = rc
	fst := openFileStorage(memFile(t, img), false, false, 0)
	var db *DB
	var err error
	if (li == nil || len(li.recs) == 0) && !o.WAL {
		db, err = tx.Open("opts.db", fst, &o)
	} else {
		d := filepath.Join(dir, strconv.Itoa(n))
		defer os.RemoveAll(d)
		var segs int64 = 64 << 10
		if li != nil {
			li.write(t, d, rng)
			segs = walSegmentSize(li.recs)
		}
		lg, lerr := wal.Open(d, wal.Options{SegmentSize: segs, MaxFreeSegments: -1})
		if lerr != nil {
			t.Errorf("%s: open the log: %v", where, lerr)
			_ = fst.Close()
			return false
		}
		db, err = tx.OpenWithLog("opts.db", fst, lg, &o)
		if err != nil {
			_ = lg.Close()
		}
	}
	if err != nil {
		_ = fst.Close()
		t.Errorf("%s: open: %v", where, err)
		return false
	}
	db.AllocSize = 64 << 10
	db.WALImageLimit = c.imageLimit
	checkHolds(t, where, db, r.models, lo, hi)
	fell := db.Stats().MetaFallback != ""
	writeAfterCrash(t, where, db)
	if err := db.Close(); err != nil {
		t.Errorf("%s: close: %v", where, err)
	}
	return fell
}

// ocCase is a run: sessions of combinations, each committing txns
// transactions, at page size ps, over a workload.
type ocCase struct {
	name     string
	ps       int
	tail     bool // the tail-freeing workload (tail_crash_test.go)
	txns     int  // per session
	sessions []ocCombo
	// want says what the run must have produced (ocStats fields).
	want func(s *ocStats) string
}

func roWAL(ckpt int64, limit int) ocCombo {
	return ocCombo{o: Options{WAL: true, CheckpointBytes: ckpt}, imageLimit: limit}
}

func ocCases() []ocCase {
	grows := func(s *ocStats) string {
		if s.grows < 2 {
			return "fewer than 2 grows"
		}
		return ""
	}
	ckpts := func(s *ocStats) string {
		if s.checkpoints < 1 {
			return "no checkpoint truncated the log"
		}
		if s.replays == 0 {
			return "no image replayed the log"
		}
		return ""
	}
	cuts := func(s *ocStats) string {
		if s.cuts == 0 {
			return "the file was never cut"
		}
		return grows(s)
	}
	all := func(fs ...func(*ocStats) string) func(*ocStats) string {
		return func(s *ocStats) string {
			for _, f := range fs {
				if m := f(s); m != "" {
					return m
				}
			}
			return ""
		}
	}
	reopen := func(s *ocStats) string {
		if s.byPhase["open"]+s.byPhase["open (leave WAL)"] == 0 {
			return "no image at a reopen"
		}
		return ""
	}
	direct := ocCombo{}
	nfl := ocCombo{o: Options{NoFreelistSync: true}}
	ngs := ocCombo{o: Options{NoGrowSync: true}, alloc: 1}
	nosync := ocCombo{o: Options{NoSync: true}, syncEvery: 3}
	walNoSync := roWAL(2<<10, 0)
	walNoSync.o.NoSync, walNoSync.syncEvery = true, 3
	walAll := roWAL(1<<10, 0)
	walAll.o.NoFreelistSync, walAll.o.NoGrowSync, walAll.alloc = true, true, 1
	batch := ocCombo{batch: true}
	walBatch := roWAL(1<<10, 1<<20)
	walBatch.batch = true
	mmap := ocCombo{o: Options{InitialMmapSize: 1}, alloc: 1}
	mmapBig := roWAL(2<<10, 0)
	mmapBig.o.InitialMmapSize = 64 << 20
	unlimited := ocCombo{alloc: -1}
	return []ocCase{
		{name: "nofreelistsync", ps: 1024, txns: 10, sessions: []ocCombo{nfl}, want: grows},
		{name: "nogrowsync", ps: 1024, txns: 10, sessions: []ocCombo{ngs}, want: grows},
		{name: "page64k", ps: 65536, txns: 4, sessions: []ocCombo{{alloc: 1}}, want: grows},
		{name: "page4k-mmap", ps: 4096, txns: 8, sessions: []ocCombo{mmap}, want: grows},
		{name: "alloc0", ps: 1024, txns: 8, sessions: []ocCombo{unlimited}, want: func(s *ocStats) string {
			if s.grows == 0 {
				return "no grow"
			}
			return ""
		}},
		{name: "batch", ps: 1024, txns: 8, sessions: []ocCombo{batch}},
		{name: "nosync-sync", ps: 1024, txns: 10, sessions: []ocCombo{nosync}},
		{name: "wal-ops", ps: 1024, txns: 10, sessions: []ocCombo{roWAL(1<<10, -1)}, want: ckpts},
		{name: "wal-auto", ps: 1024, txns: 10, sessions: []ocCombo{roWAL(1<<10, 0)}, want: ckpts},
		{name: "wal-images", ps: 1024, txns: 10, sessions: []ocCombo{roWAL(2<<10, 64<<20)}, want: ckpts},
		{name: "wal-nofreelist-nogrowsync", ps: 1024, txns: 10, sessions: []ocCombo{walAll}, want: ckpts},
		{name: "wal-page64k", ps: 65536, txns: 4, sessions: []ocCombo{roWAL(8<<10, 0)}, want: ckpts},
		{name: "wal-mmap-page4k", ps: 4096, txns: 8, sessions: []ocCombo{mmapBig}, want: ckpts},
		{name: "wal-nosync-sync", ps: 1024, txns: 10, sessions: []ocCombo{walNoSync}},
		{name: "wal-batch", ps: 1024, txns: 8, sessions: []ocCombo{walBatch}, want: ckpts},
		{name: "tail-direct-nogrowsync", ps: 1024, tail: true, txns: 14, sessions: []ocCombo{{o: Options{NoGrowSync: true}, alloc: 4}}, want: cuts},
		{name: "tail-wal-nofreelist", ps: 1024, tail: true, txns: 14, sessions: []ocCombo{func() ocCombo {
			c := roWAL(2<<10, 0)
			c.o.NoFreelistSync = true
			return c
		}()}, want: cuts},
		{name: "nosync-toggled", ps: 1024, txns: 12, sessions: []ocCombo{{toggle: 3, alloc: 1}}, want: grows},
		{name: "wal-nosync-toggled", ps: 1024, txns: 12, sessions: []ocCombo{func() ocCombo {
			c := roWAL(1<<10, 0)
			c.toggle, c.alloc = 3, 1
			return c
		}()}, want: ckpts},
		{name: "switch-wal-on-off-on", ps: 1024, txns: 4, sessions: []ocCombo{direct, roWAL(2<<10, -1), nfl, roWAL(3<<10, 1<<20), ngs}, want: all(ckpts, reopen)},
		{name: "switch-nofreelist-wal", ps: 4096, txns: 4, sessions: []ocCombo{walAll, nfl, roWAL(8<<10, 0), direct}, want: all(ckpts, reopen)},
		{name: "switch-nosync-to-sync", ps: 1024, txns: 5, sessions: []ocCombo{nosync, direct, walNoSync, direct}},
		{name: "switch-wal-nosync-to-wal", ps: 1024, txns: 5, sessions: []ocCombo{walNoSync, roWAL(2<<10, 0)}},
	}
}

func ocScale(c ocCase) (txns, perPoint int) {
	if *optsDeep {
		return c.txns * 3, 6
	}
	if c.tail || c.txns < 8 {
		return c.txns, 3 // the tail cycle, and 64 KiB pages' checkpoints, need them all
	}
	return c.txns * 2 / 3, 3
}

// record runs the sessions of c from a new file.
func ocRecord(t *testing.T, c ocCase, seed uint64) *ocRun {
	txns, _ := ocScale(c)
	total := txns * len(c.sessions)
	r := &ocRun{t: t, ps: c.ps, seed: seed, txnFn: workTxn, ack: map[int]int{}, begun: map[int]int{}, noSync: map[int]bool{}, next: 1}
	if c.tail {
		r.txnFn = tailTxn
		r.models = tailModels(seed, total+8, c.ps)
	} else {
		r.models = workModels(seed, total+8, c.ps)
	}
	r.st = newCrashStorage(t, tx.InitialImage(c.ps))
	for i, s := range c.sessions {
		db := r.open(s)
		r.commit(db, s, (i+1)*txns)
		r.close(db, s)
	}
	return r
}

// TestOptionsPowerLoss: every combination, every call, images
// reopened and checked.
func TestOptionsPowerLoss(t *testing.T) {
	for _, c := range ocCases() {
		t.Run(c.name, func(t *testing.T) {
			seed := testSeed(t)
			_, perPoint := ocScale(c)
			r := ocRecord(t, c, seed)
			st := &ocStats{byPhase: map[string]int{}}
			r.check(perPoint, rand.New(rand.NewPCG(seed, 20)), st)
			t.Logf("%v", st)
			if st.images == 0 {
				t.Fatalf("no crash image")
			}
			if c.want != nil {
				if m := c.want(st); m != "" {
					t.Fatalf("the run did not reach what it aims at: %s (%v)", m, st)
				}
			}
		})
	}
}

// TestOptionsRecoverChanged crashes each combination's run at random
// points, recovers the images through the doubles with another
// combination (so the recovery's own calls are recorded: replay, torn
// meta replaced, WAL left or entered, checkpoints), commits more, and
// checks images at every call of that.
func TestOptionsRecoverChanged(t *testing.T) {
	cases := ocCases()
	rounds, perPoint := 1, 2
	if *optsDeep {
		rounds, perPoint = 6, 3
	}
	reopenImages := 0
	defer func() {
		if !t.Failed() && reopenImages == 0 {
			t.Errorf("no image of a crash during a recovery's open")
		}
	}()
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.ps > 4096 && !*optsDeep {
				t.Skip("64 KiB pages: with -opts.deep")
			}
			seed := testSeed(t)
			r := ocRecord(t, c, seed)
			rng := rand.New(rand.NewPCG(seed, 21))
			pts := r.points()
			st := &ocStats{byPhase: map[string]int{}}
			recovered := 0
			for round := 0; round < rounds; round++ {
				p := rng.IntN(len(pts))
				pt := pts[p]
				lo, hi := r.expect(p)
				fm, lm := imageMode(rng.IntN(4)), logMode(rng.IntN(4))
				if r.unpromised(p) {
					fm, lm = imageSynced, logSynced // NoSync: only these are promised
				}
				img := r.st.image(pt.file, fm, c.ps, rng)
				var recs []logRecord
				if pt.gen >= 0 {
					li := r.gens[pt.gen].lg.image(pt.log, lm, rng)
					recs = li.whole()
				}
				// Another case's first session's options: WAL on or off,
				// free list, grow sync, image limit.
				other := cases[(ci+1+rng.IntN(len(cases)-1))%len(cases)].sessions[0]
				if other.o.NoSync {
					other.o.NoSync = false
				}
				r2 := r.successor(newCrashStorage(t, img), recs)
				where := fmt.Sprintf("round %d: crash after call %d (%s), file %s, log %s (%d records); recovered with %v",
					round, p, r.phases[max(p-1, 0)], fm, lm, len(recs), other)
				db, j := r2.openRecovered(other, lo, hi, where)
				r2.first, r2.next = j, j+1
				r2.commit(db, other, j+3)
				r2.close(db, other)
				recovered++
				r2.check(perPoint, rng, st)
			}
			reopenImages += st.byPhase["open"] + st.byPhase["open (leave WAL)"]
			t.Logf("%d recoveries: %v", recovered, st)
			if st.images == 0 || recovered == 0 {
				t.Fatalf("no crash image after a recovery")
			}
		})
	}
}

// TestOptionsNoSyncThenSyncedCommit: DB.NoSync is changeable between
// transactions. A NoSync commit writes its pages (here a 20 KiB value)
// without syncing them; the next commit, with NoSync off, returns nil:
// it is acknowledged as durable, and its tree still reaches the value.
// Its sync covers only the range of its own pages, so after a power cut
// right after it returned (only synced bytes on disk) its meta is there
// and the value's pages are not: the acknowledged commit reads damaged.
func TestOptionsNoSyncThenSyncedCommit(t *testing.T) {
	const ps = 1024
	st := newCrashStorage(t, tx.InitialImage(ps))
	db, err := tx.Open("opts.db", st, &Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	put := func(noSync bool, bucket, key string, val []byte) {
		t.Helper()
		db.NoSync = noSync
		if err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte(bucket))
			if err != nil {
				return err
			}
			return b.Put([]byte(key), val)
		}); err != nil {
			t.Fatal(err)
		}
	}
	big := make([]byte, 20<<10)
	for i := range big {
		big[i] = byte(i*7 + 1)
	}
	put(false, "a", "k1", []byte("one"))
	// A hole of free pages low in the file, for the later commits' small
	// pages: the value goes past them, to the end.
	put(false, "a", "filler", make([]byte, 6<<10))
	put(false, "c", "z", make([]byte, 2<<10)) // a live run past the hole
	put(false, "a", "filler", nil)
	put(true, "b", "v", big)             // NoSync: not acknowledged as durable
	put(false, "a", "k2", []byte("two")) // synced, returned nil: durable
	img := st.image(st.opCount(), imageSynced, ps, nil)
	t.Logf("calls: %v", st.ops)
	o := Options{VerifyChecksums: true}
	db2, err := openImage(t, "opts.db", img, &o)
	if err != nil {
		t.Fatalf("power cut after an acknowledged commit: open: %v", err)
	}
	defer db2.Close()
	for _, err := range checkErrs(db2) {
		t.Errorf("power cut after an acknowledged commit: check: %v", err)
	}
	if err := db2.View(func(tx *Tx) error {
		if v := tx.Bucket([]byte("a")).Get([]byte("k2")); string(v) != "two" {
			return fmt.Errorf("a/k2 = %q, want the acknowledged commit's", v)
		}
		if v := tx.Bucket([]byte("b")).Get([]byte("v")); len(v) != len(big) {
			return fmt.Errorf("b/v has %d bytes, want %d (reached by the acknowledged commit's tree)", len(v), len(big))
		}
		return nil
	}); err != nil {
		t.Errorf("power cut after an acknowledged commit: %v", err)
	}
}

// TestOptionsWALNoSyncCheckpointThenSyncedCommit: in WAL mode a
// checkpoint taken with NoSync (here DB.Checkpoint; Close and the
// CheckpointBytes trigger do the same) writes its meta unsynced, then
// appends an anchor naming that meta to the log. The next commit with
// NoSync off syncs the log, anchor included, but not the file. After a
// power cut there (only synced bytes), the log's anchor names a
// checkpoint the file does not hold, and Open refuses the database
// (ErrLogMismatch): the acknowledged commit, and every one before it,
// is unreachable. (Sync does this right: syncAll syncs the file first.)
func TestOptionsWALNoSyncCheckpointThenSyncedCommit(t *testing.T) {
	const ps = 1024
	for _, how := range []string{"checkpoint", "close-reopen"} {
		t.Run(how, func(t *testing.T) {
			st := newCrashStorage(t, tx.InitialImage(ps))
			lg := newCrashLog(st)
			db, err := tx.OpenWithLog("opts.db", keepOpen{st}, lg, &Options{WAL: true, NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			put := func(key string) {
				t.Helper()
				if err := db.Update(func(tx *Tx) error {
					b, err := tx.CreateBucketIfNotExists([]byte("a"))
					if err != nil {
						return err
					}
					return b.Put([]byte(key), []byte("v-"+key))
				}); err != nil {
					t.Fatal(err)
				}
			}
			put("nosync") // logged, not synced: may be lost
			if how == "checkpoint" {
				if err := db.Checkpoint(); err != nil { // NoSync: meta unsynced
					t.Fatal(err)
				}
				db.NoSync = false
			} else {
				if err := db.Close(); err != nil { // the closing checkpoint, NoSync
					t.Fatal(err)
				}
				if db, err = tx.OpenWithLog("opts.db", keepOpen{st}, lg, &Options{WAL: true}); err != nil {
					t.Fatal(err)
				}
			}
			put("synced") // NoSync off: returned nil, durable
			defer db.Close()

			p := len(lg.points(st.opCount())) - 1
			pt := lg.points(st.opCount())[p]
			img := st.image(pt.file, imageSynced, ps, nil)
			li := lg.image(pt.log, logSynced, nil)
			dir := scratchDir(t)
			li.write(t, dir, nil)
			wl, err := wal.Open(dir, wal.Options{SegmentSize: walSegmentSize(li.recs), MaxFreeSegments: -1})
			if err != nil {
				t.Fatal(err)
			}
			fst := openFileStorage(memFile(t, img), false, false, 0)
			db2, err := tx.OpenWithLog("opts.db", fst, wl, &Options{WAL: true, VerifyChecksums: true})
			if err != nil {
				_ = wl.Close()
				_ = fst.Close()
				t.Fatalf("power cut after an acknowledged commit (log calls %v): open: %v", lg.ops, err)
			}
			defer db2.Close()
			for _, err := range checkErrs(db2) {
				t.Errorf("check: %v", err)
			}
			if err := db2.View(func(tx *Tx) error {
				if b := tx.Bucket([]byte("a")); b == nil || string(b.Get([]byte("synced"))) != "v-synced" {
					return fmt.Errorf("the acknowledged commit is missing")
				}
				return nil
			}); err != nil {
				t.Error(err)
			}
		})
	}
}
