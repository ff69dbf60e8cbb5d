package folio

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/foliodb/folio/tx"
	"github.com/foliodb/folio/wal"
)

// WAL-mode durability under schedules the earlier crash tests
// run one transaction at a time: several goroutines committing at once
// (Update and Batch, group commit), with DB.Sync and DB.Checkpoint called
// beside them, every call of the file and log doubles a crash point.
//
// -walcrash.deep runs more goroutines, commits and images.

var walCrashDeep = flag.Bool("walcrash.deep", false,
	"WAL crash tests: more goroutines, commits and images per crash point")

// wcOp is one change of a writer's commit, in the writer's own bucket
// "w<g>": put or delete a key, create a nested bucket holding a key,
// delete one, move one into the nested bucket "moved", bump the sequence.
type wcOp struct {
	kind   int // 0 put, 1 delete, 2 create nested, 3 drop nested, 4 move nested, 5 sequence
	key    string
	val    []byte
	nested string
}

// wcCommit returns the operations of writer g's commit i (1-based),
// from (seed, g, i) alone.
func wcCommit(seed uint64, g, i, ps int) []wcOp {
	rng := rand.New(rand.NewPCG(seed, uint64(g)<<32|uint64(i)))
	size := rng.IntN(120)
	if rng.IntN(5) == 0 {
		size = ps/4 + 1 + rng.IntN(3*ps) // out of line
	}
	val := make([]byte, size)
	for j := range val {
		val[j] = byte(rng.Uint32())
	}
	ops := []wcOp{{kind: 0, key: fmt.Sprintf("k%03d", i), val: val}}
	if i > 2 && rng.IntN(3) == 0 {
		ops = append(ops, wcOp{kind: 1, key: fmt.Sprintf("k%03d", rng.IntN(i-1)+1)})
	}
	switch rng.IntN(6) {
	case 0:
		ops = append(ops, wcOp{kind: 2, nested: fmt.Sprintf("t%03d", i), key: "x", val: val[:min(len(val), 30)]})
	case 1:
		ops = append(ops, wcOp{kind: 3, nested: fmt.Sprintf("t%03d", rng.IntN(i)+1)})
	case 2:
		ops = append(ops, wcOp{kind: 4, nested: fmt.Sprintf("t%03d", rng.IntN(i)+1)})
	case 3:
		ops = append(ops, wcOp{kind: 5})
	}
	return ops
}

func wcApply(tx *Tx, g, i int, ops []wcOp) error {
	b, err := tx.CreateBucketIfNotExists([]byte("w" + strconv.Itoa(g)))
	if err != nil {
		return err
	}
	for _, op := range ops {
		switch op.kind {
		case 0:
			err = b.Put([]byte(op.key), op.val)
		case 1:
			err = b.Delete([]byte(op.key))
		case 2:
			var n *Bucket
			if n, err = b.CreateBucket([]byte(op.nested)); err == nil {
				err = n.Put([]byte(op.key), op.val)
			}
		case 3:
			if b.Bucket([]byte(op.nested)) != nil {
				err = b.DeleteBucket([]byte(op.nested))
			}
		case 4:
			var mv *Bucket
			if mv, err = b.CreateBucketIfNotExists([]byte("moved")); err == nil &&
				b.Bucket([]byte(op.nested)) != nil && mv.Bucket([]byte(op.nested)) == nil {
				err = b.MoveBucket([]byte(op.nested), mv)
			}
		case 5:
			_, err = b.NextSequence()
		}
		if err != nil {
			return fmt.Errorf("writer %d commit %d: %+v: %w", g, i, op.kind, err)
		}
	}
	c, err := tx.CreateBucketIfNotExists([]byte("ctr"))
	if err != nil {
		return err
	}
	return c.Put([]byte("w"+strconv.Itoa(g)), []byte(strconv.Itoa(i)))
}

func wcApplyModel(m *mbucket, ops []wcOp) {
	for _, op := range ops {
		switch op.kind {
		case 0:
			m.kv[op.key] = string(op.val)
		case 1:
			delete(m.kv, op.key)
		case 2:
			n := newMBucket()
			n.kv[op.key] = string(op.val)
			m.subs[op.nested] = n
		case 3:
			delete(m.subs, op.nested)
		case 4:
			mv := m.subs["moved"]
			if mv == nil {
				mv = newMBucket()
				m.subs["moved"] = mv
			}
			if n := m.subs[op.nested]; n != nil && op.nested != "moved" && mv.subs[op.nested] == nil {
				mv.subs[op.nested] = n
				delete(m.subs, op.nested)
			}
		case 5:
			m.seq++
		}
	}
}

// wcModels returns, per writer, its bucket's model after each commit:
// models[g][i] (nil for i == 0: no bucket yet).
func wcModels(seed uint64, writers, commits, ps int) [][]*mbucket {
	models := make([][]*mbucket, writers)
	for g := range models {
		models[g] = []*mbucket{nil}
		m := newMBucket()
		for i := 1; i <= commits; i++ {
			wcApplyModel(m, wcCommit(seed, g, i, ps))
			models[g] = append(models[g], m.clone())
		}
	}
	return models
}

// wcBook records, per writer and commit, the calls recorded by the
// doubles when the commit began and when it was acknowledged (its
// Update or Batch returned nil; with NoSync, a Sync or Checkpoint begun
// after it returned nil).
type wcBook struct {
	mu       sync.Mutex
	st       *crashStorage
	lg       *crashLog
	begun    [][]int // -1: not yet
	acked    [][]int
	returned []int // per writer, the last commit returned
}

func newWCBook(st *crashStorage, lg *crashLog, writers, commits int) *wcBook {
	b := &wcBook{st: st, lg: lg, returned: make([]int, writers)}
	for range writers {
		bg, ak := make([]int, commits+1), make([]int, commits+1)
		for i := range bg {
			bg[i], ak[i] = -1, -1
		}
		bg[0], ak[0] = 0, 0
		b.begun, b.acked = append(b.begun, bg), append(b.acked, ak)
	}
	return b
}

// calls is the count of calls both doubles recorded: a crash point index.
func (b *wcBook) calls() int { return b.st.opCount() + b.lg.opCount() }

// bounds returns the commits of writer g a crash after p calls may hold:
// at least the last acknowledged, at most the last begun.
func (b *wcBook) bounds(g, p int) (lo, hi int) {
	for i := range b.begun[g] {
		if a := b.acked[g][i]; a >= 0 && a <= p {
			lo = i
		}
		if bg := b.begun[g][i]; bg >= 0 && bg < p {
			hi = i
		}
	}
	return lo, max(lo, hi)
}

type wcCase struct {
	name       string
	ps         int
	ckpt       int64
	imageLimit int
	noSync     bool // commits with NoSync; a goroutine calls Sync and Checkpoint
	noFreelist bool
	batch      bool // odd writers use Batch
	checkpoint bool // a goroutine calls Checkpoint beside the writers
}

// TestWALCrashConcurrent runs writers committing at once in WAL
// mode over the file and log doubles, then opens images of both at every
// call (each writer's state must be one whole commit of its, between the
// last it was told was durable and the last it began), runs Check, and
// takes a write.
func TestWALCrashConcurrent(t *testing.T) {
	cases := []wcCase{
		// Inline buckets made images small: at 8 KiB some schedules
		// crossed one checkpoint (2 to 7 over 30 runs; 6 to 19 at 3 KiB).
		{name: "update-images", ps: 1024, ckpt: 3 << 10, imageLimit: 1 << 20},
		// At 2 KiB a seed crossed one checkpoint in 4 runs of 15 (4 to
		// 12 at 1 KiB).
		{name: "update-ops", ps: 1024, ckpt: 1 << 10, imageLimit: -1},
		{name: "batch-auto", ps: 1024, ckpt: 1 << 10, batch: true},
		{name: "batch-ops-checkpoints", ps: 4096, ckpt: 4 << 10, imageLimit: -1, batch: true, checkpoint: true},
		{name: "update-auto-nofreelist-checkpoints", ps: 1024, ckpt: 1 << 10, noFreelist: true, checkpoint: true},
		{name: "nosync-sync-checkpoints-auto", ps: 1024, ckpt: 1 << 10, noSync: true, batch: true, checkpoint: true},
		{name: "nosync-sync-images", ps: 1024, ckpt: 4 << 10, imageLimit: 1 << 20, noSync: true},
	}
	writers, commits, perPoint := 3, 7, 3
	if *walCrashDeep {
		writers, commits, perPoint = 5, 16, 6
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seed := testSeed(t)
			wcRunConcurrent(t, c, seed, writers, commits, perPoint)
		})
	}
}

func wcRunConcurrent(t *testing.T, c wcCase, seed uint64, writers, commits, perPoint int) {
	opts := &Options{WAL: true, CheckpointBytes: c.ckpt, NoFreelistSync: c.noFreelist, NoSync: c.noSync}
	models := wcModels(seed, writers, commits, c.ps)
	// How many checkpoints the writers cross depends on the schedule (when
	// the Checkpoint goroutine runs, which pages commits free): over 100
	// runs some crossed 0 or 1. Run again, same seed, rather than check
	// images of a log no checkpoint truncated.
	const tries = 5
	var st *crashStorage
	var lg *crashLog
	var book *wcBook
	metas, most := 0, 0
	for try := 1; ; try++ {
		st, lg, book, metas = wcCommitConcurrent(t, c, opts, seed, writers, commits)
		if metas >= 2 {
			break
		}
		if most = max(most, metas); try == tries {
			t.Fatalf("at most %d checkpoints before Close in %d runs: the workload should cross several", most, tries)
		}
		t.Logf("run %d crossed %d checkpoints before Close; again", try, metas)
	}

	dir := scratchDir(t)
	rng := rand.New(rand.NewPCG(seed, 22))
	pts := lg.points(st.opCount())
	images := 0
	for p, pt := range pts {
		prev := pts[max(p-1, 0)]
		for k := range perPoint {
			fm, lm := walImageModes(k, rng)
			li := lg.image(pt.log, lm, rng)
			img := st.image(pt.file, fm, c.ps, rng)
			where := fmt.Sprintf("crash after call %d/%d (%s), file image %s, log image %s (%d records, torn %d)",
				p, len(pts)-1, lg.describe(st, pt, prev), fm, lm, len(li.recs), li.torn)
			images++
			wcCheckImage(t, where, filepath.Join(dir, strconv.Itoa(images)), opts, img, li, rng,
				func(g int) (int, int) { return book.bounds(g, p) }, models)
			if t.Failed() {
				t.FailNow()
			}
		}
	}
	t.Logf("%d writers x %d commits, %d file calls, %d log calls, %d checkpoints, %d log truncations, %d images",
		writers, commits, st.opCount(), lg.opCount(), metas, lg.truncations(), images)
}

// wcCommitConcurrent runs the writers (and the Sync and Checkpoint
// goroutines of c) over new doubles, closes the database, and returns
// the doubles, the book and the checkpoints written before Close.
func wcCommitConcurrent(t *testing.T, c wcCase, opts *Options, seed uint64, writers, commits int) (*crashStorage, *crashLog, *wcBook, int) {
	t.Helper()
	st := newCrashStorage(t, tx.InitialImage(c.ps))
	lg := newCrashLog(st)
	db, err := tx.OpenWithLog("crash.db", st, lg, opts)
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 4 * c.ps
	db.WALImageLimit = c.imageLimit
	db.MaxBatchDelay = 0
	book := newWCBook(st, lg, writers, commits)

	var wg sync.WaitGroup
	errs := make(chan error, writers+2)
	stop := make(chan struct{})
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= commits; i++ {
				ops := wcCommit(seed, g, i, c.ps)
				fn := func(tx *Tx) error { return wcApply(tx, g, i, ops) }
				book.mu.Lock()
				book.begun[g][i] = book.calls()
				book.mu.Unlock()
				var err error
				if c.batch && g%2 == 1 {
					err = db.Batch(fn)
				} else {
					err = db.Update(fn)
				}
				if err != nil {
					errs <- err
					return
				}
				book.mu.Lock()
				book.returned[g] = i
				if !c.noSync {
					book.acked[g][i] = book.calls()
				}
				book.mu.Unlock()
			}
		}()
	}
	// Sync and Checkpoint acknowledge every commit that returned before
	// they began (with NoSync, nothing else does).
	ackers := 0
	if c.noSync {
		ackers++
	}
	if c.checkpoint {
		ackers++
	}
	var side sync.WaitGroup
	for k := range ackers {
		side.Add(1)
		go func() {
			defer side.Done()
			useSync := c.noSync && k == 0
			seen := -1
			for {
				select {
				case <-stop:
					return
				default:
				}
				book.mu.Lock()
				snap := append([]int(nil), book.returned...)
				book.mu.Unlock()
				total := 0
				for _, n := range snap {
					total += n
				}
				// Once per commit or two returned, not in a busy loop:
				// every Sync is a call of the doubles, a crash point.
				if total < seen+1+k {
					time.Sleep(50 * time.Microsecond)
					continue
				}
				seen = total
				var err error
				if useSync {
					err = db.Sync()
				} else {
					err = db.Checkpoint()
				}
				if err != nil {
					errs <- err
					return
				}
				book.mu.Lock()
				at := book.calls()
				for g, last := range snap {
					for i := 1; i <= last; i++ {
						if book.acked[g][i] < 0 {
							book.acked[g][i] = at
						}
					}
				}
				book.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	side.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mustCheck(t, db)
	// Checkpoints (and direct commits, which are checkpoints) write a
	// meta; logged commits do not.
	metas := 0
	st.mu.Lock()
	for _, op := range st.ops {
		if op.kind == opWrite && op.off < int64(2*c.ps) {
			metas++
		}
	}
	st.mu.Unlock()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return st, lg, book, metas
}

// wcCheckImage opens the file image img with the log image li and
// checks each writer's state against bounds and models.
func wcCheckImage(t *testing.T, where, dir string, opts *Options, img []byte, li logImage, rng *rand.Rand,
	bounds func(g int) (lo, hi int), models [][]*mbucket) {
	t.Helper()
	defer os.RemoveAll(dir)
	li.write(t, dir, rng)
	wl, err := wal.Open(dir, wal.Options{SegmentSize: walSegmentSize(li.recs), MaxFreeSegments: -1})
	if err != nil {
		t.Errorf("%s: open the log: %v", where, err)
		return
	}
	fst := openFileStorage(memFile(t, img), false, false, 0)
	o := *opts
	o.VerifyChecksums = true
	o.NoSync = false
	db, err := tx.OpenWithLog("crash.db", fst, wl, &o)
	if err != nil {
		_ = wl.Close()
		_ = fst.Close()
		t.Errorf("%s: open: %v", where, err)
		return
	}
	db.AllocSize = 64 << 10
	for _, err := range checkErrs(db) {
		t.Errorf("%s: check: %v", where, err)
	}
	err = db.View(func(tx *Tx) error {
		ctr := tx.Bucket([]byte("ctr"))
		for g := range models {
			name := "w" + strconv.Itoa(g)
			n := 0
			if ctr != nil {
				if v := ctr.Get([]byte(name)); v != nil {
					var err error
					if n, err = strconv.Atoi(string(v)); err != nil {
						return err
					}
				}
			}
			lo, hi := bounds(g)
			if n < lo || n > hi {
				return fmt.Errorf("writer %d: holds commit %d, want %d..%d", g, n, lo, hi)
			}
			b := tx.Bucket([]byte(name))
			if n == 0 {
				if b != nil {
					return fmt.Errorf("writer %d: no commit, yet its bucket is there", g)
				}
				continue
			}
			if err := diffBucket(b, name, models[g][n]); err != nil {
				return fmt.Errorf("writer %d: commit %d partly present: %w", g, n, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("%s: %v", where, err)
	}
	writeAfterCrash(t, where, db)
	if err := db.Close(); err != nil {
		t.Errorf("%s: close: %v", where, err)
	}
}

// TestWALNoSyncLogTruncated: in WAL mode with NoSync, commits
// append to the log without syncing it, and package wal's Truncate drops
// only records a sync made durable. Every checkpoint (by CheckpointBytes,
// here) truncated nothing, so the log grew by every record written until
// Close: for a file of a few hundred KiB, a log of tens of MiB (and a
// replay of all of it after a crash), however small CheckpointBytes.
func TestWALNoSyncLogTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	const ckpt = 256 << 10
	db, err := Open(path, 0o644, &Options{WAL: true, NoSync: true, CheckpointBytes: ckpt})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(22, 1))
	val := make([]byte, 8<<10)
	var maxLog int64
	checkpoints := 0
	for i := range 2500 { // ~20 MiB of incompressible records
		for j := range val {
			val[j] = byte(rng.Uint32())
		}
		if err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte(fmt.Sprintf("k%03d", i%100)), val)
		}); err != nil {
			t.Fatal(err)
		}
		in, err := db.Info()
		if err != nil {
			t.Fatal(err)
		}
		if in.LogPending == 0 {
			checkpoints++
		}
		maxLog = max(maxLog, in.LogBytes)
	}
	if checkpoints < 10 {
		t.Fatalf("%d checkpoints; the workload should cross many", checkpoints)
	}
	// The active segment (8 MiB) stays whole; records past the last
	// checkpoint are at most CheckpointBytes and one record.
	if limit := int64(8<<20 + ckpt + 64<<10); maxLog > limit {
		t.Fatalf("the log reached %d bytes over %d checkpoints (CheckpointBytes %d): checkpoints do not truncate it",
			maxLog, checkpoints, ckpt)
	}
}

// TestWALOpenAfterNoSyncSession: a direct-mode session with
// NoSync leaves its commits (pages and meta) unsynced in the page cache,
// and exits. A WAL-mode open of the file then appended an anchor naming
// that meta and acknowledged logged commits on top of it, the log synced
// and the file not: after a power cut the file held an older meta, the
// log's anchor named one it did not have, and Open refused the database
// (ErrLogMismatch), every commit of the WAL session with it. A direct
// open syncs what an earlier process left unsynced; a WAL-mode one
// (with the log, or leaving it) must too.
func TestWALOpenAfterNoSyncSession(t *testing.T) {
	const ps = 1024
	for _, second := range []string{"logged", "direct", "checkpoint"} {
		t.Run(second, func(t *testing.T) {
			st := newCrashStorage(t, tx.InitialImage(ps))
			put := func(db *DB, key string, n int) {
				t.Helper()
				if err := db.Update(func(tx *Tx) error {
					b, err := tx.CreateBucketIfNotExists([]byte("a"))
					if err != nil {
						return err
					}
					return b.Put([]byte(key), make([]byte, n))
				}); err != nil {
					t.Fatal(err)
				}
			}
			db, err := tx.Open("x.db", keepOpen{st}, &Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			put(db, "nosync", 3000) // not acknowledged as durable
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			lg := newCrashLog(st)
			db, err = tx.OpenWithLog("x.db", keepOpen{st}, lg, &Options{WAL: true})
			if err != nil {
				t.Fatal(err)
			}
			switch second {
			case "logged":
				put(db, "synced", 10) // a logged commit, acknowledged
			case "direct":
				db.WALImageLimit = 0
				put(db, "synced", 2<<20) // too big to log: committed directly, a checkpoint
			case "checkpoint":
				put(db, "synced", 10)
				if err := db.Checkpoint(); err != nil {
					t.Fatal(err)
				}
			}
			defer db.Close()

			pt := lg.points(st.opCount())
			last := pt[len(pt)-1]
			img := st.image(last.file, imageSynced, ps, nil)
			li := lg.image(last.log, logSynced, nil)
			dir := scratchDir(t)
			li.write(t, dir, nil)
			wl, err := wal.Open(dir, wal.Options{SegmentSize: walSegmentSize(li.recs), MaxFreeSegments: -1})
			if err != nil {
				t.Fatal(err)
			}
			fst := openFileStorage(memFile(t, img), false, false, 0)
			db2, err := tx.OpenWithLog("x.db", fst, wl, &Options{WAL: true, VerifyChecksums: true})
			if err != nil {
				_ = wl.Close()
				_ = fst.Close()
				t.Fatalf("power cut after an acknowledged commit: open: %v", err)
			}
			defer db2.Close()
			for _, err := range checkErrs(db2) {
				t.Errorf("check: %v", err)
			}
			if err := db2.View(func(tx *Tx) error {
				b := tx.Bucket([]byte("a"))
				if b == nil || b.Get([]byte("synced")) == nil || b.Get([]byte("nosync")) == nil {
					return fmt.Errorf("the acknowledged commit (or the state it was made on) is missing")
				}
				return nil
			}); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestWALOptsSwitch runs the option-combination power-loss
// check (crash_options_test.go) over sessions that go from NoSync,
// in direct mode, to WAL mode, and back: the first WAL-mode session
// commits on a file whose last commits no sync covered.
func TestWALOptsSwitch(t *testing.T) {
	nosync := ocCombo{o: Options{NoSync: true}} // never synced
	nosync3 := ocCombo{o: Options{NoSync: true}, syncEvery: 3}
	walNoSync := roWAL(2<<10, 0)
	walNoSync.o.NoSync = true
	walAll := roWAL(1<<10, 0)
	walAll.o.NoFreelistSync, walAll.o.NoGrowSync, walAll.alloc = true, true, 1
	every := roWAL(64<<20, 0)
	every.o.CheckpointInterval = 1 // a checkpoint after every logged commit
	cases := []ocCase{
		{name: "wal-checkpoint-every-commit-to-nosync-to-wal", ps: 1024, txns: 4, sessions: []ocCombo{every, nosync, every}},
		{name: "nosync-to-wal-auto", ps: 1024, txns: 5, sessions: []ocCombo{nosync, roWAL(2<<10, 0)}},
		{name: "nosync-to-wal-images", ps: 1024, txns: 5, sessions: []ocCombo{nosync3, roWAL(4<<10, 1<<20)}},
		{name: "nosync-to-wal-ops-to-direct", ps: 1024, txns: 4, sessions: []ocCombo{nosync, roWAL(1<<10, -1), {}}},
		{name: "walnosync-to-nosync-to-wal", ps: 1024, txns: 4, sessions: []ocCombo{walNoSync, nosync, walAll}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seed := testSeed(t)
			_, perPoint := ocScale(c)
			r := ocRecord(t, c, seed)
			st := &ocStats{byPhase: map[string]int{}}
			r.check(perPoint, rand.New(rand.NewPCG(seed, 2022)), st)
			t.Logf("%v", st)
			if st.checkpoints == 0 || st.replays == 0 {
				t.Fatalf("the run did not reach what it aims at (%v)", st)
			}
		})
	}
}

// TestWALRecoverNoSync recovers crash images of WAL-mode runs
// with NoSync set (in WAL mode, and leaving it), commits more with
// NoSync, and cuts the power at every call of that: the commits the
// crashed session acknowledged must survive a crash during, or after, a
// recovery that syncs nothing of its own commits.
func TestWALRecoverNoSync(t *testing.T) {
	walNoSync := roWAL(1<<10, 0)
	walNoSync.o.NoSync = true
	walNoSyncOps := roWAL(1<<10, -1)
	walNoSyncOps.o.NoSync = true
	directNoSync := ocCombo{o: Options{NoSync: true}}
	recoverWith := []ocCombo{walNoSync, walNoSyncOps, directNoSync}
	cases := []ocCase{
		{name: "wal-ops", ps: 1024, txns: 10, sessions: []ocCombo{roWAL(1<<10, -1)}},
		{name: "wal-auto", ps: 1024, txns: 10, sessions: []ocCombo{roWAL(1<<10, 0)}},
		{name: "wal-images", ps: 1024, txns: 10, sessions: []ocCombo{roWAL(2<<10, 64<<20)}},
	}
	rounds := 4
	if *walCrashDeep {
		rounds = 16
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seed := testSeed(t)
			r := ocRecord(t, c, seed)
			rng := rand.New(rand.NewPCG(seed, 2023))
			pts := r.points()
			st := &ocStats{byPhase: map[string]int{}}
			for round := range rounds {
				p := rng.IntN(len(pts))
				pt := pts[p]
				lo, hi := r.expect(p)
				fm, lm := imageMode(rng.IntN(4)), logMode(rng.IntN(4))
				img := r.st.image(pt.file, fm, c.ps, rng)
				var recs []logRecord
				if pt.gen >= 0 {
					li := r.gens[pt.gen].lg.image(pt.log, lm, rng)
					recs = li.whole()
				}
				other := recoverWith[round%len(recoverWith)]
				r2 := r.successor(newCrashStorage(t, img), recs)
				where := fmt.Sprintf("round %d: crash after call %d (%s), file %s, log %s (%d records); recovered with %v",
					round, p, r.phases[max(p-1, 0)], fm, lm, len(recs), other)
				db, j := r2.openRecovered(other, lo, hi, where)
				r2.first, r2.next = j, j+1
				r2.commit(db, other, j+3)
				r2.close(db, other)
				r2.check(3, rng, st)
			}
			t.Logf("%v", st)
			if st.byPhase["open"]+st.byPhase["open (leave WAL)"] == 0 {
				t.Fatalf("no image of a crash during a recovery")
			}
		})
	}
}

// TestWALKillThenPowerLoss: a process dies (every write it made
// is in the page cache, not all of it on disk), the next one recovers
// the database, maybe with other options, and commits; then the power
// goes, at any call of that. TestOptionsRecoverChanged starts its second
// session from the image as if all of it were durable; here the dead
// process's unsynced writes of the file, and its unsynced log records,
// stay unsynced until someone syncs them. What the dead process had
// acknowledged must survive, and so must the state the recovery opened
// once Open returned.
func TestWALKillThenPowerLoss(t *testing.T) {
	nosync := ocCombo{o: Options{NoSync: true}}
	walNoSync := roWAL(1<<10, 0)
	walNoSync.o.NoSync = true
	walAll := roWAL(1<<10, 0)
	walAll.o.NoFreelistSync, walAll.o.NoGrowSync, walAll.alloc, walAll.batch = true, true, 1, true
	cases := []ocCase{
		{name: "nosync-wal", ps: 1024, txns: 5, sessions: []ocCombo{nosync, roWAL(2<<10, 0)}},
		{name: "wal-ops", ps: 1024, txns: 8, sessions: []ocCombo{roWAL(1<<10, -1)}},
		{name: "wal-images", ps: 1024, txns: 8, sessions: []ocCombo{roWAL(2<<10, 64<<20)}},
		{name: "wal-nosync", ps: 1024, txns: 8, sessions: []ocCombo{walNoSync}},
		{name: "nosync", ps: 1024, txns: 8, sessions: []ocCombo{nosync}},
		{name: "wal-nofreelist-nogrowsync-batch", ps: 1024, txns: 8, sessions: []ocCombo{walAll}},
		{name: "tail-wal", ps: 1024, tail: true, txns: 10, sessions: []ocCombo{roWAL(2<<10, 0)}},
	}
	recoverWith := []ocCombo{roWAL(1<<10, 0), {}, roWAL(2<<10, -1), walNoSync, nosync, walAll}
	rounds := 4
	if *walCrashDeep {
		rounds = 25
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seed := testSeed(t)
			r := ocRecord(t, c, seed)
			rng := rand.New(rand.NewPCG(seed, 2024))
			pts := r.points()
			st := &ocStats{byPhase: map[string]int{}}
			for round := range rounds {
				p := rng.IntN(len(pts))
				pt := pts[p]
				lo, hi := r.expect(p)
				// With NoSync commits not yet synced, a power cut may tear
				// them (README): until the recovery's Open returns, only
				// the synced images are promised.
				unp := r.unpromised(p)
				other := recoverWith[(round+rng.IntN(2))%len(recoverWith)]
				// The disk as of the last syncs, and the page cache on top.
				synced := r.st.image(pt.file, imageSynced, c.ps, rng)
				cache := r.st.image(pt.file, imageAll, c.ps, rng)
				r2 := r.successor(newCrashStorage(t, synced), nil)
				wcDirty(t, r2.st, synced, cache, c.ps)
				if pt.gen >= 0 {
					li := r.gens[pt.gen].lg.image(pt.log, logAll, rng)
					durable := 0
					for i, s := range li.syncAfter {
						if s {
							durable = i + 1
						}
					}
					lg := newCrashLogWith(r2.st, li.recs[:durable])
					for _, rec := range li.recs[durable:] {
						if _, err := lg.Append(rec.payload); err != nil {
							t.Fatal(err)
						}
					}
					// wal.Open syncs the records it finds (their bytes may
					// be in the page cache only).
					if err := lg.SyncTo(lg.LastLSN()); err != nil {
						t.Fatal(err)
					}
					r2.gens = []ocGen{{lg: lg, removedAt: -1}}
				}
				where := fmt.Sprintf("round %d: killed after call %d (%s); recovered with %v", round, p, r.phases[max(p-1, 0)], other)
				// Any transaction from the acknowledged one on.
				db, j := r2.openRecovered(other, lo, math.MaxInt, where)
				// A power cut before the open returned may find any state
				// from the last acknowledged to the one recovered; once it
				// has returned, that one.
				r2.first, r2.next = lo, j+1
				for n := lo + 1; n <= max(hi, j); n++ {
					r2.begun[n] = -1 // before the first call
					r2.noSync[n] = unp
				}
				r2.ack[j] = r2.calls()
				r2.commit(db, other, j+3)
				r2.close(db, other)
				r2.check(3, rng, st)
			}
			t.Logf("%v", st)
		})
	}
}

// wcDirty writes into st, unsynced, what differs between the durable
// file synced and the file as the page cache holds it, cache.
func wcDirty(t *testing.T, st *crashStorage, synced, cache []byte, ps int) {
	t.Helper()
	switch {
	case len(cache) < len(synced):
		if err := st.Truncate(int64(len(cache))); err != nil {
			t.Fatal(err)
		}
	case len(cache) > len(synced):
		if err := st.Grow(int64(len(cache)), false); err != nil {
			t.Fatal(err)
		}
	}
	for off := 0; off < len(cache); off += ps {
		end := min(off+ps, len(cache))
		var old []byte
		if off < len(synced) {
			old = synced[off:min(end, len(synced))]
		}
		if string(old) == string(cache[off:end]) {
			continue
		}
		if err := st.WriteAt([][]byte{cache[off:end]}, int64(off)); err != nil {
			t.Fatal(err)
		}
	}
}
