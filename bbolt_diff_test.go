package folio

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/foliodb/folio/btree"
	"github.com/foliodb/folio/page"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// TestBboltDiff runs the same random operations against folio and bbolt
// 1.4, each on its own file, and compares every result as it comes: keys,
// values (nil against empty), nested buckets, error classes, sequences,
// ForEach orders, cursor moves; the elements of each bucket a write
// changed, at once; the whole of both databases (and the root's Stats)
// after every transaction and after a reopen. Cursor moves are also
// checked against a model of the bucket, which says what folio promises
// where bbolt's answer is one of its bugs.
//
// Where folio differs on purpose (README, "The API, and where it differs
// from bbolt"), the comparator encodes the difference where it arises,
// naming the README's bullet: it asks bbolt for what gives folio's
// answer, or checks folio's answer and undoes what bbolt did instead.
// Where bbolt has a bug no program relies on, the same. Each time one of
// these is met it is counted, and the counts are logged.
//
// Half the seeds run folio in WAL mode (logging page images or
// operations, as the commit picks, or operations only): there a reopen
// is, every other time, of a copy of the file and its log taken while
// open, whose open replays the commits since the last checkpoint.
//
// The operations are in bbolt_diff_ops_test.go, the cursors and their
// model in bbolt_diff_cursor_test.go, the listings and comparisons in
// bbolt_diff_contents_test.go.
//
//	go test -run TestBboltDiff -diff.seeds 64 -diff.ops 50000   # longer
//	go test -run TestBboltDiff -seed S -diff.seeds 1             # one seed again
func TestBboltDiff(t *testing.T) {
	first := testSeed(t)
	for i := range *diffSeeds {
		seed := first + uint64(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			newDiffRun(t, seed).run(*diffOps)
		})
	}
}

var (
	diffOps   = flag.Int("diff.ops", 2500, "TestBboltDiff: operations per seed")
	diffSeeds = flag.Int("diff.seeds", 4, "TestBboltDiff: seeds to run, counting up from -seed (or a random one)")
)

// errDiffStop ends a ForEach early; errDiffRollback fails an Update.
var (
	errDiffStop     = errors.New("diff: stop the walk")
	errDiffRollback = errors.New("diff: fail the update")
)

// diffErrs are the error classes: each folio sentinel and bbolt's.
var diffErrs = []struct {
	name  string
	folio error
	bolt  error
}{
	{"ErrBucketNotFound", ErrBucketNotFound, berrors.ErrBucketNotFound},
	{"ErrBucketExists", ErrBucketExists, berrors.ErrBucketExists},
	{"ErrBucketNameRequired", ErrBucketNameRequired, berrors.ErrBucketNameRequired},
	{"ErrKeyRequired", ErrKeyRequired, berrors.ErrKeyRequired},
	{"ErrKeyTooLarge", ErrKeyTooLarge, berrors.ErrKeyTooLarge},
	{"ErrValueTooLarge", ErrValueTooLarge, berrors.ErrValueTooLarge},
	{"ErrIncompatibleValue", ErrIncompatibleValue, berrors.ErrIncompatibleValue},
	{"ErrSameBuckets", ErrSameBuckets, berrors.ErrSameBuckets},
	{"ErrDifferentDB", ErrDifferentDB, berrors.ErrDifferentDB},
	{"ErrTxNotWritable", ErrTxNotWritable, berrors.ErrTxNotWritable},
	{"ErrTxClosed", ErrTxClosed, berrors.ErrTxClosed},
	{"ErrDatabaseNotOpen", ErrDatabaseNotOpen, berrors.ErrDatabaseNotOpen},
	{"ErrDatabaseReadOnly", ErrDatabaseReadOnly, berrors.ErrDatabaseReadOnly},
	{"errDiffStop", errDiffStop, errDiffStop},
	{"errDiffRollback", errDiffRollback, errDiffRollback},
}

// diffClass names err's class; "!" starts an error no class holds.
func diffClass(err error, folio bool) string {
	if err == nil {
		return "nil"
	}
	for _, e := range diffErrs {
		if (folio && errors.Is(err, e.folio)) || (!folio && errors.Is(err, e.bolt)) {
			return e.name
		}
	}
	return "!" + err.Error()
}

// Keys of MaxKeySize, and one past it.
var (
	diffMaxKeys = [2][]byte{
		bytes.Repeat([]byte("b"), MaxKeySize),
		append([]byte("c"), bytes.Repeat([]byte{0xff}, MaxKeySize-1)...),
	}
	diffHugeKey = bytes.Repeat([]byte("b"), MaxKeySize+1)
	diffPad     = bytes.Repeat([]byte("-"), 180)
)

// diffString is string(k), without a copy of the keys of MaxKeySize (a
// bucket's elements are listed after every change).
func diffString(k []byte) string {
	if len(k) == MaxKeySize {
		for i, m := range diffMaxKeys {
			if bytes.Equal(k, m) {
				return diffMaxStrings[i]
			}
		}
	}
	return string(k)
}

var diffMaxStrings = [2]string{string(diffMaxKeys[0]), string(diffMaxKeys[1])}

// diffPath names a bucket by the names from the top level down; empty is
// the root bucket (Tx.Cursor().Bucket()), which holds the top level.
type diffPath []string

// id is the path as a map key.
func (p diffPath) id() string {
	var sb strings.Builder
	for _, n := range p {
		fmt.Fprintf(&sb, "%d:%s/", len(n), n)
	}
	return sb.String()
}

func (p diffPath) String() string {
	if len(p) == 0 {
		return "(root)"
	}
	names := make([]string, len(p))
	for i, n := range p {
		names[i] = diffShow([]byte(n))
	}
	return strings.Join(names, "/")
}

func (p diffPath) child(name string) diffPath { return append(slices.Clone(p), name) }

// under reports whether p is q or lies under it.
func (p diffPath) under(q diffPath) bool {
	return len(p) >= len(q) && slices.Equal(p[:len(q)], q)
}

// diffShow prints a key or value for a failure message.
func diffShow(b []byte) string {
	switch {
	case b == nil:
		return "nil"
	case len(b) > 12:
		return fmt.Sprintf("%q…(%dB)", b[:6], len(b))
	}
	return fmt.Sprintf("%q", b)
}

type diffRun struct {
	t            *testing.T
	seed         uint64
	rng          *rand.Rand
	ps           int
	fpath, bpath string
	fdb          *DB
	bdb          *bolt.DB
	n, txs       int
	depth, width int      // the most levels and elements a bucket had
	trail        []string // the latest operations, for a failure message
	quirks       map[string]int
	fid0, bid0   int             // the txids the two files started from
	hash         maphash.Seed    // for the hash of a database's contents
	committed    uint64          // the hash of folio's contents after the last transaction
	keyN, bktN   int             // Stats of the root then
	readers      [2]any          // *Tx and *bolt.Tx held across a write transaction
	openF        *Tx             // transactions a failure must end
	openB        *bolt.Tx        //
	ftx          *Tx             // the transaction pair in progress
	btx          *bolt.Tx        //
	writable     bool            //
	cursors      []*diffCursor   // open on buckets of the transaction pair
	nilPut       map[string]bool // bbolt's nil values (sameValue)
	shrunk       map[string]bool // buckets that lost keys in this transaction
	dirty        map[string]bool // buckets changed in this transaction
	written      map[uint64]bool // elemHash of every element written in it
	wal          bool            // folio in WAL mode
	imageLimit   int             // its WALImageLimit
	replays      int             // copies opened, and commits they replayed
	replayed     int             //
}

func newDiffRun(t *testing.T, seed uint64) *diffRun {
	d := &diffRun{
		t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0xd1ff)),
		ps:     []int{1024, 4096}[seed%2],
		fpath:  filepath.Join(t.TempDir(), "folio.db"),
		bpath:  filepath.Join(t.TempDir(), "bbolt.db"),
		quirks: map[string]int{},
		hash:   maphash.MakeSeed(),
		wal:    seed%4 >= 2,
		// The commit's choice, or operations only (recordsLimit).
		imageLimit: []int{0, -1}[seed/4%2],
	}
	d.open(&Options{PageSize: d.ps, NoSync: true}, &bolt.Options{PageSize: d.ps})
	t.Cleanup(func() {
		// A failure may leave transactions open; bbolt's Close would
		// wait for its writer forever.
		if d.openF != nil {
			_ = d.openF.Rollback()
		}
		if d.openB != nil {
			_ = d.openB.Rollback()
		}
		for _, r := range d.readers {
			switch r := r.(type) {
			case *Tx:
				_ = r.Rollback()
			case *bolt.Tx:
				_ = r.Rollback()
			}
		}
		closeChecked(t, d.fdb)
		_ = d.bdb.Close()
	})
	return d
}

func (d *diffRun) open(fopts *Options, bopts *bolt.Options) {
	var err error
	fopts.WAL, fopts.CheckpointBytes = d.wal, 64<<10
	if d.fdb, err = Open(d.fpath, 0o600, fopts); err != nil {
		d.t.Fatal(err)
	}
	d.fdb.WALImageLimit = d.imageLimit
	// A large map: bbolt's commit remaps under a lock that a read
	// transaction of the same goroutine holds (readers held across a write).
	bopts.NoSync, bopts.InitialMmapSize = true, 1<<28
	if d.bdb, err = bolt.Open(d.bpath, 0o600, bopts); err != nil {
		d.t.Fatal(err)
	}
}

// fatalf fails the run with the seed and the latest operations.
func (d *diffRun) fatalf(format string, args ...any) {
	d.t.Helper()
	d.t.Fatalf("seed %d, op %d, tx %d: %s\nrerun: go test -run TestBboltDiff -seed %d -diff.seeds 1 -diff.ops %d\nlatest operations:\n  %s",
		d.seed, d.n, d.txs, fmt.Sprintf(format, args...), d.seed, *diffOps, strings.Join(d.trail, "\n  "))
}

func (d *diffRun) note(format string, args ...any) {
	if len(d.trail) == 40 {
		d.trail = d.trail[1:]
	}
	d.trail = append(d.trail, fmt.Sprintf("%d: ", d.n)+fmt.Sprintf(format, args...))
}

// quirk counts a known bbolt bug met (or a folio difference that needed
// bbolt's result undone).
func (d *diffRun) quirk(what string) { d.quirks[what]++ }

// sameErr fails unless the errors are of one class.
func (d *diffRun) sameErr(what string, ferr, berr error) {
	d.t.Helper()
	fc, bc := diffClass(ferr, true), diffClass(berr, false)
	if fc != bc || strings.HasPrefix(fc, "!") {
		d.fatalf("%s: folio %s, bbolt %s", what, fc, bc)
	}
}

func (d *diffRun) run(ops int) {
	err := d.fdb.View(func(ftx *Tx) error {
		return d.bdb.View(func(btx *bolt.Tx) error {
			d.fid0, d.bid0 = ftx.ID(), btx.ID()
			return nil
		})
	})
	if err != nil {
		d.t.Fatal(err)
	}
	d.committed = d.compareAll("at the start")
	for d.n < ops {
		d.txs++
		if d.rng.IntN(4) == 0 {
			d.readTx()
		} else {
			d.writeTx()
		}
		if d.rng.IntN(40) == 0 {
			d.note("--- reopen")
			if d.wal && d.rng.IntN(2) == 0 {
				// A copy taken while open replays the log.
				d.note("    (a copy taken while open)")
				cp := filepath.Join(d.t.TempDir(), "copy.db")
				copyFile(d.t, d.fpath, cp)
				copyDir(d.t, LogDir(d.fpath), LogDir(cp))
				closeChecked(d.t, d.fdb)
				d.fpath = cp
			} else {
				closeChecked(d.t, d.fdb)
			}
			if err := d.bdb.Close(); err != nil {
				d.fatalf("bbolt close: %v", err)
			}
			d.open(&Options{NoSync: true}, &bolt.Options{})
			if in, err := d.fdb.Info(); err != nil {
				d.fatalf("Info after a reopen: %v", err)
			} else if in.Replayed > 0 {
				d.replays++
				d.replayed += in.Replayed
			}
			if got := d.compareAll("after a reopen"); got != d.committed {
				d.fatalf("the contents changed over a reopen")
			}
			mustCheck(d.t, d.fdb)
		}
	}
	var quirks []string
	for q, n := range d.quirks {
		quirks = append(quirks, fmt.Sprintf("%6d  %s", n, q))
	}
	sort.Strings(quirks)
	d.t.Logf("seed %d, pages of %d, WAL %v (image limit %d; %d opens replayed %d commits): %d ops in %d transactions, buckets up to %d elements and %d levels, %d keys and %d buckets at the end; known differences met:\n%s",
		d.seed, d.ps, d.wal, d.imageLimit, d.replays, d.replayed, d.n, d.txs, d.width, d.depth, d.keyN, d.bktN, strings.Join(quirks, "\n"))
}

// startTx makes ftx and btx the pair the operations run in.
func (d *diffRun) startTx(ftx *Tx, btx *bolt.Tx) {
	d.ftx, d.btx, d.writable = ftx, btx, ftx.Writable()
	d.cursors, d.nilPut, d.shrunk, d.dirty = nil, map[string]bool{}, map[string]bool{}, map[string]bool{}
	d.written = map[uint64]bool{}
	if ftx.Writable() != btx.Writable() {
		d.fatalf("Writable: folio %v, bbolt %v", ftx.Writable(), btx.Writable())
	}
	d.sameTxID("Begin", ftx, btx)
}

// sameTxID compares the transactions' IDs, counted from the first.
// README, "Checkpoints": in WAL mode a checkpoint takes an ID of its
// own, so folio's may have gone ahead since the last comparison; what
// it went ahead by is taken as the new start.
func (d *diffRun) sameTxID(when string, ftx *Tx, btx *bolt.Tx) {
	d.t.Helper()
	f, b := ftx.ID()-d.fid0, btx.ID()-d.bid0
	if d.wal && f > b {
		d.quirk("README: a checkpoint takes a transaction ID (WAL mode)")
		d.fid0 += f - b
		return
	}
	if f != b {
		d.fatalf("%s: tx ID: folio %d after its first, bbolt %d", when, f, b)
	}
}

func (d *diffRun) writeTx() {
	held := d.rng.IntN(8) == 0
	var before uint64
	if held {
		d.holdReaders(&before)
	}
	mode, nops := d.rng.IntN(10), 1+d.rng.IntN(30)
	rollback := mode == 5 || mode >= 8
	switch {
	case mode < 6:
		d.note("--- write tx %d: Begin, %d ops, rollback %v", d.txs, nops, rollback)
		ftx, ferr := d.fdb.Begin(true)
		d.openF = ftx
		btx, berr := d.bdb.Begin(true)
		d.openB = btx
		if ferr != nil || berr != nil {
			d.fatalf("Begin(true): folio %v, bbolt %v", ferr, berr)
		}
		d.startTx(ftx, btx)
		d.ops(nops)
		var end func()
		if d.rng.IntN(4) == 0 {
			end = d.useAfterEnd()
		}
		if rollback {
			ferr, berr = ftx.Rollback(), btx.Rollback()
		} else {
			ferr, berr = ftx.Commit(), btx.Commit()
		}
		d.openF, d.openB = nil, nil
		if ferr != nil || berr != nil {
			d.fatalf("end of tx: folio %v, bbolt %v", ferr, berr)
		}
		if end != nil {
			end()
		}
	default:
		// README: an Update whose function fails rolls back, in both.
		d.note("--- write tx %d: Update, %d ops, function fails %v", d.txs, nops, rollback)
		var berr error
		ferr := d.fdb.Update(func(ftx *Tx) error {
			berr = d.bdb.Update(func(btx *bolt.Tx) error {
				d.startTx(ftx, btx)
				d.ops(nops)
				if rollback {
					return errDiffRollback
				}
				return nil
			})
			return berr
		})
		d.sameErr("Update", ferr, berr)
		if (ferr != nil) != rollback {
			d.fatalf("Update returned %v", ferr)
		}
	}
	got := d.compareAll("after the transaction")
	if rollback && got != d.committed {
		d.fatalf("a rolled back transaction changed the contents")
	}
	d.committed = got
	if held {
		d.checkReaders(before)
	}
}

func (d *diffRun) readTx() {
	nops := 1 + d.rng.IntN(30)
	if d.rng.IntN(3) == 0 {
		d.note("--- read tx %d: View, %d ops", d.txs, nops)
		err := d.fdb.View(func(ftx *Tx) error {
			return d.bdb.View(func(btx *bolt.Tx) error {
				d.startTx(ftx, btx)
				d.ops(nops)
				return nil
			})
		})
		if err != nil {
			d.fatalf("View: %v", err)
		}
		return
	}
	d.note("--- read tx %d: Begin, %d ops", d.txs, nops)
	ftx, ferr := d.fdb.Begin(false)
	d.openF = ftx
	btx, berr := d.bdb.Begin(false)
	d.openB = btx
	if ferr != nil || berr != nil {
		d.fatalf("Begin(false): folio %v, bbolt %v", ferr, berr)
	}
	d.startTx(ftx, btx)
	d.ops(nops)
	if d.rng.IntN(2) == 0 {
		d.sameErr("Commit of a read tx", ftx.Commit(), btx.Commit())
	}
	d.sameErr("Rollback", ftx.Rollback(), btx.Rollback())
	d.sameErr("second Rollback", ftx.Rollback(), btx.Rollback())
	d.openF, d.openB = nil, nil
}

// holdReaders begins a read transaction on each side, to be checked
// after the write transaction: it must still see what it saw.
func (d *diffRun) holdReaders(before *uint64) {
	fr, ferr := d.fdb.Begin(false)
	br, berr := d.bdb.Begin(false)
	if ferr != nil || berr != nil {
		d.fatalf("Begin(false): folio %v, bbolt %v", ferr, berr)
	}
	d.readers = [2]any{fr, br}
	*before = d.compareTxs("a reader", fr, br)
}

func (d *diffRun) checkReaders(before uint64) {
	fr, br := d.readers[0].(*Tx), d.readers[1].(*bolt.Tx)
	if d.compareTxs("a reader after a write", fr, br) != before {
		d.fatalf("a read transaction saw a later commit")
	}
	d.readers = [2]any{}
	d.sameErr("reader Rollback", fr.Rollback(), br.Rollback())
}

// useAfterEnd takes handles of the transaction in progress and returns a
// function that uses them once it ended (Begin mode).
func (d *diffRun) useAfterEnd() func() {
	ftx, btx := d.ftx, d.btx
	p := d.pick(false)
	fb, bb := d.buckets(p)
	return func() {
		d.note("use after the end, bucket %v", p)
		d.sameErr("Commit after the end", ftx.Commit(), btx.Commit())
		d.sameErr("Rollback after the end", ftx.Rollback(), btx.Rollback())
		d.sameErr("Put after the end", fb.Put([]byte("a"), []byte("v")), bb.Put([]byte("a"), []byte("v")))
		_, ferr := ftx.CreateBucket([]byte("a"))
		_, berr := btx.CreateBucket([]byte("a"))
		d.sameErr("CreateBucket after the end", ferr, berr)
		// README, "Misuse returns an error instead of panicking": reads
		// after the end return nil in folio. bbolt's panic, or read the
		// nodes a bucket changed in the transaction kept, so are not
		// compared.
		if v := fb.Get([]byte("a")); v != nil {
			d.fatalf("Get after the end = %s", diffShow(v))
		}
		if diffPanics(func() { bb.Get([]byte("a")) }) {
			d.quirk("README: Bucket.Get after the end of the tx (bbolt panics)")
		}
		if k, _ := fb.Cursor().First(); k != nil {
			d.fatalf("Cursor.First after the end = %s", diffShow(k))
		}
		if diffPanics(func() { bb.Cursor().First() }) {
			d.quirk("README: Cursor.First after the end of the tx (bbolt panics)")
		}
	}
}

func diffPanics(fn func()) (panicked bool) {
	defer func() { panicked = recover() != nil }()
	fn()
	return false
}

// ops runs n random operations in the transaction pair.
func (d *diffRun) ops(n int) {
	for range n {
		d.n++
		switch r := d.rng.IntN(100); {
		case r < 3:
			d.opBulkPut()
		case r < 18:
			d.opPut()
		case r < 24:
			d.opGet()
		case r < 32:
			d.opDelete()
		case r < 35:
			d.opBucket()
		case r < 42:
			d.opCreateBucket()
		case r < 46:
			d.opDeleteBucket()
		case r < 50:
			d.opMoveBucket()
		case r < 55:
			d.opSequence()
		case r < 83:
			d.opCursor()
		case r < 85:
			d.opDrain()
		case r < 90:
			d.opForEach()
		case r < 93:
			d.opForEachBucket()
		case r < 95:
			d.opTxForEach()
		default:
			d.opStats()
		}
	}
	// Drawing nothing from d.rng: a seed runs the same operations.
	d.compareInspect(fmt.Sprintf("after op %d", d.n), d.ftx, d.btx)
}

// Generators.

// shortKey is one to three letters of a small alphabet, so that keys
// collide with keys and bucket names, and have neighbours.
func (d *diffRun) shortKey() []byte {
	k := make([]byte, 1+d.rng.IntN(3))
	for i := range k {
		switch r := d.rng.IntN(20); r {
		case 0:
			k[i] = 0
		case 1:
			k[i] = 0xff
		default:
			k[i] = "abc"[r%3]
		}
	}
	return k
}

// key is a key for Put, Get, Delete and Seek: short mostly, some padded
// (to fill pages), some of MaxKeySize, some invalid.
func (d *diffRun) key() []byte {
	switch r := d.rng.IntN(300); {
	case r == 0:
		return nil
	case r == 1:
		return []byte{}
	case r == 2:
		return diffHugeKey
	case r < 5:
		return diffMaxKeys[r-3]
	case r < 60:
		return append(d.shortKey(), diffPad...)
	}
	return d.shortKey()
}

// name is a bucket name: a key, mostly short ones.
func (d *diffRun) name() []byte {
	if d.rng.IntN(4) == 0 {
		return d.key()
	}
	return d.shortKey()
}

func (d *diffRun) value() []byte {
	var n int
	switch r := d.rng.IntN(100); {
	case r < 5:
		return nil
	case r < 12:
		return []byte{}
	case r < 15:
		n = d.ps/2 + d.rng.IntN(3*d.ps) // large: out of line
	case r < 19:
		// Alone with a short key, about an inline bucket's bound.
		n = page.InlineMax(d.ps) - page.HeaderSize - page.HintSize - page.LeafElemSize - 5 + d.rng.IntN(6)
	case r < 21:
		n = btree.LargeThreshold(d.ps) - 1 + d.rng.IntN(3) // about the out-of-line bound
	case r < 35:
		n = 100 + d.rng.IntN(200)
	default:
		n = 1 + d.rng.IntN(20)
	}
	v := make([]byte, n)
	for i := range v {
		v[i] = byte(d.n + i)
	}
	return v
}

// buckets opens the bucket at p on both sides; both must exist.
func (d *diffRun) buckets(p diffPath) (*Bucket, *bolt.Bucket) {
	fb, bb := d.ftx.Cursor().Bucket(), d.btx.Cursor().Bucket()
	for i, name := range p {
		fb, bb = fb.Bucket([]byte(name)), bb.Bucket([]byte(name))
		if fb == nil || bb == nil {
			d.fatalf("bucket %v: folio %v, bbolt %v", p[:i+1], fb != nil, bb != nil)
		}
	}
	return fb, bb
}

// subBuckets lists the nested buckets of p (folio's; compared with
// bbolt's by opForEachBucket and after every change).
func (d *diffRun) subBuckets(p diffPath) []string {
	fb, _ := d.buckets(p)
	var names []string
	_ = fb.ForEachBucket(func(k []byte) error {
		names = append(names, diffString(k))
		return nil
	})
	return names
}

// pick returns a random bucket: a walk down from the top level, or the
// root bucket (rarely, if rootOK, or when there is no bucket).
func (d *diffRun) pick(rootOK bool) diffPath {
	var p diffPath
	for {
		names := d.subBuckets(p)
		if len(names) == 0 || (len(p) > 0 && d.rng.IntN(3) == 0) || (len(p) == 0 && rootOK && d.rng.IntN(12) == 0) {
			return p
		}
		// Skewed to the first names: a few buckets take most keys.
		p = p.child(names[min(d.rng.IntN(len(names)), d.rng.IntN(len(names)))])
	}
}

// pickUnder returns p or a bucket under it.
func (d *diffRun) pickUnder(p diffPath) diffPath {
	for {
		names := d.subBuckets(p)
		if len(names) == 0 || d.rng.IntN(2) == 0 {
			return p
		}
		p = p.child(names[d.rng.IntN(len(names))])
	}
}

func (d *diffRun) isBucket(parent diffPath, name []byte) bool {
	fb, _ := d.buckets(parent)
	return fb.Bucket(name) != nil
}

// changing is called before a change to bucket p's elements, and the
// function it returns after it: the cursors on p, but the one making the
// change, no longer know where they are.
func (d *diffRun) changing(p diffPath) func(by *diffCursor) {
	id := p.id()
	var before []diffElem
	if slices.ContainsFunc(d.cursors, func(c *diffCursor) bool { return c.id == id && c.state != dcInvalid }) {
		fb, _ := d.buckets(p)
		before = d.levelF(fb, true)
	}
	return func(by *diffCursor) {
		for _, c := range d.cursors {
			if c.id == id && c != by && c.state != dcInvalid {
				c.state, c.lost = dcInvalid, before
			}
		}
	}
}

// wrote records that bucket p held k = v (nil: a nested bucket) in this
// transaction.
func (d *diffRun) wrote(p diffPath, k, v []byte) { d.written[d.elemHash(p, k, v)] = true }

func (d *diffRun) elemHash(p diffPath, k, v []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(d.hash)
	h.WriteString(p.id())
	h.WriteByte(0)
	h.Write(k)
	if v == nil {
		h.WriteByte('b')
	} else {
		h.WriteByte('v')
		h.Write(v)
	}
	return h.Sum64()
}

// gone drops the cursors on p and on buckets under it (deleted, moved).
func (d *diffRun) gone(p diffPath) {
	d.cursors = slices.DeleteFunc(d.cursors, func(c *diffCursor) bool { return c.path.under(p) })
}

// sameValue compares the values of key k in bucket p (nil for a nested
// bucket).
func (d *diffRun) sameValue(p diffPath, k, fv, bv []byte) bool {
	if fv == nil || bv == nil {
		// bbolt keeps the value of Put(k, nil) as nil until the commit:
		// Get and cursors return nil, as for a missing key or a nested
		// bucket; folio returns an empty value.
		if fv != nil && len(fv) == 0 && bv == nil && d.nilPut[p.id()+string(k)] {
			d.quirk("bbolt: Get or a cursor returns nil for a key Put with a nil value in this tx")
			return true
		}
		return fv == nil && bv == nil
	}
	return bytes.Equal(fv, bv)
}
