package folio

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/tx"
)

// Tests of WAL crash recovery (written after 570fa87). They found one defect,
// outside the recovery: an Open leaving WAL mode removed the log in place,
// and a crash could leave it missing a middle segment, which every later
// Open refused (fixed: removeLogDir; TestWALLeaveCrashMidRemoval).
//
// The tests here: crashes during a recovery, during the recovery of that
// recovery, and right after, with logs of page images then operations,
// operations only and page images only; a newest meta torn during
// recovery's meta writes; read-only opens of partly recovered files; a
// log written across a WALImageLimit change between sessions; and a
// recovery that gives the file's tail back. Every
// crash image must open read-write at exactly the state of the log (every
// commit was acknowledged), pass Check and take a commit; a read-only
// open must either show that state or refuse with ErrLogPending.

var wrcDeep = flag.Bool("walrecover.deep", false,
	"wal_recover_crash_test.go: every file/log image mode pair at every crash point, recovered again from each, every variant (minutes)")

// wrcPageSize and wrcOptions are what the tests here open with; a test
// may change them for its run (wrcVariant).
var wrcPageSize = 1024

var wrcOptions = &Options{WAL: true, CheckpointBytes: 1 << 30, CheckpointInterval: time.Hour}

// wrcSession is a database and its log as a session left them, and
// what they hold (bucket "b").
type wrcSession struct {
	st   *crashStorage
	lg   *crashLog
	db   *DB
	want map[string][]byte
	n    int // keys ever put, for names
}

func newWRCSession(t *testing.T, img []byte, recs []logRecord, want map[string][]byte) *wrcSession {
	t.Helper()
	st := newCrashStorage(t, img)
	lg := newCrashLogWith(st, recs)
	db, err := tx.OpenWithLog("crash.db", st, lg, wrcOptions)
	if err != nil {
		t.Fatal(err)
	}
	w := map[string][]byte{}
	for k, v := range want {
		w[k] = v
	}
	return &wrcSession{st: st, lg: lg, db: db, want: w, n: len(w) + 1000}
}

// put commits n new keys of size bytes and deletes del of the existing
// ones (the lowest; -del: the highest), in one transaction.
func (s *wrcSession) put(t *testing.T, n, size, del int) {
	t.Helper()
	err := s.db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		c := b.Cursor()
		var gone [][]byte
		for k, _ := c.First(); k != nil && len(gone) < del; k, _ = c.Next() {
			gone = append(gone, bytes.Clone(k))
		}
		for k, _ := c.Last(); k != nil && len(gone) < -del; k, _ = c.Prev() {
			gone = append(gone, bytes.Clone(k))
		}
		for _, k := range gone {
			if err := b.Delete(k); err != nil {
				return err
			}
			delete(s.want, string(k))
		}
		for i := 0; i < n; i++ {
			k := fmt.Sprintf("k%06d", s.n)
			v := bytes.Repeat([]byte{byte(s.n)}, size)
			s.n++
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
			s.want[k] = v
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// crash returns the file and the log as a process death leaves them (the
// log from its first live record) and what they hold.
func (s *wrcSession) crash(t *testing.T) ([]byte, []logRecord, map[string][]byte) {
	t.Helper()
	s.lg.mu.Lock()
	recs := append([]logRecord(nil), s.lg.recs[s.lg.first-1:]...)
	s.lg.mu.Unlock()
	return s.st.contents(t), recs, s.want
}

// wrcLog builds a file and a log of the given shape, no checkpoint
// since the first commit, as a process death leaves them.
func wrcLog(t *testing.T, shape string) ([]byte, []logRecord, map[string][]byte) {
	t.Helper()
	s := wrcShape(t, shape)
	img, recs, w := s.crash(t)
	return img, recs, w
}

// wrcShape runs the session of wrcLog and returns it, open.
func wrcShape(t *testing.T, shape string) *wrcSession {
	t.Helper()
	s := newWRCSession(t, tx.InitialImage(wrcPageSize), nil, nil)
	// A checkpointed base with a few pages, so that later commits free
	// pages the checkpoint reaches (held until the next one).
	s.db.WALImageLimit = recordsLimit["images"]
	s.put(t, 24, 500, 0)
	if err := s.db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	want := ""
	switch shape {
	case "images+ops":
		s.put(t, 16, 600, 4)
		s.put(t, 1, 10, 0)
		s.db.WALImageLimit = recordsLimit["operations"]
		s.put(t, 1, 10, 3)
		s.put(t, 5, 300, 0)
		want = "[anchor images images ops ops]"
	case "ops":
		s.db.WALImageLimit = recordsLimit["operations"]
		s.put(t, 16, 600, 4)
		s.put(t, 1, 10, 0)
		s.put(t, 5, 300, 3)
		want = "[anchor ops ops ops]"
	case "images":
		s.put(t, 16, 600, 4)
		s.put(t, 1, 10, 0)
		s.put(t, 5, 300, 3)
		want = "[anchor images images images]"
	default:
		t.Fatalf("shape %q", shape)
	}
	s.lg.mu.Lock()
	k := wrcKinds(s.lg.recs[s.lg.first-1:])
	s.lg.mu.Unlock()
	if k != want {
		t.Fatalf("%s: the log holds %s, want %s", shape, k, want)
	}
	return s
}

func wrcKinds(recs []logRecord) string {
	var kinds []string
	for _, r := range recs {
		kinds = append(kinds, recordKind(r.payload))
	}
	return fmt.Sprint(kinds)
}

// wrcStats counts the situations a test aimed at.
type wrcStats struct {
	opens      int // read-write opens of crash images
	readOnly   int // read-only opens that showed the whole state
	pending    int // read-only opens refused with ErrLogPending
	fallback   int // opens that used the older meta page (newest torn)
	tornMeta   int // crash images with one meta page that does not decode
	imageMeta  int // file at an image record's meta, operations still to replay
	ckptNoTrun int // file at the recovery checkpoint's txid, the log not truncated
	truncated  int // recoveries that cut the file (give back its tail)
	afterCut   int // crash images taken after such a cut
}

func (s wrcStats) String() string {
	return fmt.Sprintf("%d opens (%d read-only whole, %d ErrLogPending), %d via the older meta, %d images with a torn meta page, "+
		"%d at an image record's meta with operations pending, %d at the checkpoint's txid with the log untruncated, %d recoveries cut the file, %d images after a cut",
		s.opens, s.readOnly, s.pending, s.fallback, s.tornMeta, s.imageMeta, s.ckptNoTrun, s.truncated, s.afterCut)
}

// wrcChecker opens crash images of a chain of recoveries of one log.
type wrcChecker struct {
	t    *testing.T
	opts *Options
	want map[string][]byte
	recs []logRecord // the log the chain began with
	// imageTxID is the txid of the last page-image record before the
	// first operation record (0: none); ckptTxID, the txid of the first
	// recovery's checkpoint (0: it made none).
	imageTxID, ckptTxID page.TxID
	rng                 *rand.Rand
	stats               wrcStats
	// after, if set, runs in each recorded recovery once it is open:
	// commits that change nothing a check of want sees.
	after func(t *testing.T, where string, db *DB)
	// recurseFrom is the first of a crash point's images (0: synced, 1:
	// every write) that chain recovers again at the next level, at every
	// every-th crash point (all with -walrecover.deep); torn-meta images always.
	recurseFrom, every int
}

func newWRCChecker(t *testing.T, recs []logRecord, want map[string][]byte) *wrcChecker {
	c := &wrcChecker{t: t, opts: wrcOptions, want: want, recs: recs, rng: rand.New(rand.NewPCG(testSeed(t), 17)), every: wrcEvery()}
	var last page.TxID
	prev := ""
	for _, r := range recs {
		switch k := recordKind(r.payload); k {
		case "images":
			kind, txid, err := tx.CheckLogRecord(r.payload)
			if err != nil || kind != "pages" {
				t.Fatalf("record: %s %v", kind, err)
			}
			last, prev = page.TxID(txid), k
		case "ops":
			if prev == "images" {
				c.imageTxID = last // the last image record before operations
			}
			prev = k
		}
	}
	return c
}

// skipDone forgets imageTxID when the file img holds it already: the
// image records before operations were recovered by an earlier session.
func (c *wrcChecker) skipDone(img []byte) *wrcChecker {
	if c.imageTxID <= fileTxID(img, wrcPageSize) {
		c.imageTxID = 0
	}
	return c
}

// recover opens img with the log recs through the doubles, which record
// every call, checks the state, commits once (whose record must survive)
// unless commit is false, and closes: a recovery a crash may cut
// anywhere. It returns the doubles.
func (c *wrcChecker) recover(where string, img []byte, recs []logRecord) (*crashStorage, *crashLog) {
	t := c.t
	t.Helper()
	st := newCrashStorage(t, img)
	defer st.Close() // images and counts need no file
	lg := newCrashLogWith(st, recs)
	db, err := tx.OpenWithLog("crash.db", st, lg, c.opts)
	if err != nil {
		t.Fatalf("%s: recovery: %v", where, err)
	}
	checkWant(t, where+": recovery", db, c.want)
	if c.ckptTxID == 0 {
		if in, err := db.Info(); err == nil {
			c.ckptTxID = page.TxID(in.TxID)
		}
	}
	if c.after != nil {
		c.after(t, where, db)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("%s: recovery: close: %v", where, err)
	}
	if t.Failed() {
		t.FailNow()
	}
	for _, op := range st.ops {
		if op.kind == opTruncate {
			c.stats.truncated++
			break
		}
	}
	return st, lg
}

// classify counts what a crash image shows.
func (c *wrcChecker) classify(fimg []byte, recs []logRecord) {
	ps := wrcPageSize
	ok := 0
	for slot := 0; slot < 2 && len(fimg) >= (slot+1)*ps; slot++ {
		if _, err := page.DecodeMeta(fimg[slot*ps:], page.ID(slot)); err == nil {
			ok++
		}
	}
	if ok == 1 {
		c.stats.tornMeta++
	}
	full := len(recs) >= len(c.recs) && bytes.Equal(recs[len(recs)-1].payload, c.recs[len(c.recs)-1].payload)
	if !full && len(recs) > 0 {
		// The log may also end in an anchor recovery appended.
		for _, r := range recs {
			if bytes.Equal(r.payload, c.recs[len(c.recs)-1].payload) {
				full = true
			}
		}
	}
	txid := fileTxID(fimg, ps)
	switch {
	case c.imageTxID != 0 && txid == c.imageTxID && full:
		c.stats.imageMeta++
	case c.ckptTxID != 0 && txid == c.ckptTxID && full:
		c.stats.ckptNoTrun++
	}
}

// open opens a crash image read-only (it must show the whole state or
// refuse with ErrLogPending), then read-write (it must show the whole
// state, pass Check, take a commit and close).
func (c *wrcChecker) open(where string, fimg []byte, recs []logRecord) {
	t := c.t
	t.Helper()
	c.classify(fimg, recs)
	ro := *c.opts
	ro.ReadOnly = true
	// NB: each storage is closed on the way out: it keeps its newest
	// mapping until then, and -walrecover.deep's thousands of opens ran the
	// process out of mappings.
	st := newCrashStorage(t, fimg)
	defer st.Close()
	db, err := tx.OpenWithLog("crash.db", st, newCrashLogWith(st, recs), &ro)
	switch {
	case errors.Is(err, ErrLogPending):
		c.stats.pending++
	case err != nil:
		t.Fatalf("%s: read-only open: %v (want the state or ErrLogPending)", where, err)
	default:
		checkWant(t, where+": read-only", db, c.want)
		if err := db.Close(); err != nil {
			t.Fatalf("%s: read-only close: %v", where, err)
		}
		c.stats.readOnly++
	}
	if st.opCount() != 0 {
		t.Fatalf("%s: a read-only open made %d file calls", where, st.opCount())
	}

	st = newCrashStorage(t, fimg)
	defer st.Close()
	lg := newCrashLogWith(st, recs)
	db, err = tx.OpenWithLog("crash.db", st, lg, c.opts)
	if err != nil {
		t.Fatalf("%s: open: %v", where, err)
	}
	c.stats.opens++
	if db.Stats().MetaFallback != "" {
		c.stats.fallback++
	}
	checkWant(t, where, db, c.want)
	writeAfterCrash(t, where, db)
	if err := db.Close(); err != nil {
		t.Fatalf("%s: close: %v", where, err)
	}
	if t.Failed() {
		t.FailNow()
	}
	// What Close left opens again, the commit included.
	st2 := newCrashStorage(t, st.image(st.opCount(), imageAll, wrcPageSize, nil))
	defer st2.Close()
	lg.mu.Lock()
	live := append([]logRecord(nil), lg.recs[lg.first-1:]...)
	lg.mu.Unlock()
	db, err = tx.OpenWithLog("crash.db", st2, newCrashLogWith(st2, live), c.opts)
	if err != nil {
		t.Fatalf("%s: reopen after the commit: %v", where, err)
	}
	checkWant(t, where+": reopened", db, c.want)
	err = db.View(func(tx *Tx) error {
		if b := tx.Bucket([]byte("after-crash")); b == nil || len(b.Get([]byte("k"))) != 3000 {
			return errors.New("the commit after the crash is gone")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: reopen: %v", where, err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("%s: reopen: close: %v", where, err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// modes picks n image mode pairs to try at a crash point (16 or more:
// every pair): synced/synced, all/all, torn and subset files, then random.
func (c *wrcChecker) modes(n int) [][2]int {
	if n >= 16 {
		var all [][2]int
		for fm := 0; fm < 4; fm++ {
			for lm := 0; lm < 4; lm++ {
				all = append(all, [2]int{fm, lm})
			}
		}
		return all
	}
	var out [][2]int
	for i := 0; i < n; i++ {
		fm, lm := walImageModes(i, c.rng)
		switch i {
		case 2:
			fm = imageTorn
		case 3:
			fm = imageSubset
		}
		out = append(out, [2]int{int(fm), int(lm)})
	}
	return out
}

// chain recovers (img, recs) through the doubles and crashes it at every
// call; each such image is opened (open), and with more levels in
// perPoint recovered through the doubles again and crashed at every call
// of that, and so on: len(perPoint) crashes during recoveries in a row.
// perPoint[i] is the images per crash point at level i; below the first
// level, only the first two images of a point (synced, then every write)
// and the first torn-meta one recurse, unless -walrecover.deep.
func (c *wrcChecker) chain(where string, img []byte, recs []logRecord, perPoint ...int) {
	t := c.t
	st, lg := c.recover(where, img, recs)
	pts := lg.points(st.opCount())
	cutAt := -1 // file calls before the first truncation of the file
	for i, op := range st.ops {
		if op.kind == opTruncate {
			cutAt = i
			break
		}
	}
	for p, pt := range pts {
		if cutAt >= 0 && pt.file > cutAt {
			c.stats.afterCut++
		}
		for i, m := range c.modes(perPoint[0]) {
			fm, lm := imageMode(m[0]), logMode(m[1])
			li := lg.image(pt.log, lm, c.rng)
			fimg := st.image(pt.file, fm, wrcPageSize, c.rng)
			w := fmt.Sprintf("%s; crash after call %d/%d of its recovery (%s), file %s, log %s (%s)",
				where, p, len(pts)-1, lg.describe(st, pt, pts[max(p-1, 0)]), fm, lm, wrcKinds(li.whole()))
			c.open(w, fimg, li.whole())
			if len(perPoint) > 1 && (i < 2 && i >= c.recurseFrom && p%c.every == 0 || *wrcDeep) {
				c.chain(w, fimg, li.whole(), perPoint[1:]...)
			}
		}
		// A meta page written and not yet synced: torn at 8-byte steps
		// inside its data, whatever else reached the disk.
		for i, fimg := range tornMetaImages(st, pt.file, c.rng) {
			li := lg.image(pt.log, logMode(c.rng.IntN(4)), c.rng)
			w := fmt.Sprintf("%s; crash after call %d/%d of its recovery (%s), meta page torn (%d), log %s",
				where, p, len(pts)-1, lg.describe(st, pt, pts[max(p-1, 0)]), i, wrcKinds(li.whole()))
			c.open(w, fimg, li.whole())
			if len(perPoint) > 1 && (i == 0 || *wrcDeep) {
				c.chain(w, fimg, li.whole(), perPoint[1:]...)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// TestWALCrashRecoveryThreeCrashes: a session dies with a log of images then
// operations, operations only, or images only; its recovery is cut by a
// crash at every call, the recovery of that at every call again, and
// each image left is opened (read-only, then read-write). Three crashes
// in a row, counting the session's.
func TestWALCrashRecoveryThreeCrashes(t *testing.T) {
	for _, shape := range []string{"images+ops", "ops", "images"} {
		t.Run(shape, func(t *testing.T) {
			img, recs, want := wrcLog(t, shape)
			c := newWRCChecker(t, recs, want)
			// The session's crash: the file as a process death or a
			// power cut leaves it (every commit's record was synced).
			// (A file image with unsynced pages lost is taken from a
			// re-run, recorded.)
			per := wrcPer(3, 1)
			if wrcQuick() {
				per = []int{2, 1}
			}
			c.chain(shape+": process death", img, recs, per...)
			t.Logf("%s: %s", shape, c.stats)
			if shape == "images+ops" && c.stats.imageMeta == 0 {
				t.Fatal("no crash image had the image records' meta in the file with operations pending")
			}
			if shape != "images" && c.stats.ckptNoTrun == 0 {
				t.Fatal("no crash image had the recovery's checkpoint in the file beside an untruncated log")
			}
			if c.stats.tornMeta == 0 || c.stats.pending == 0 || c.stats.readOnly == 0 {
				t.Fatalf("a situation was not reached: %s", c.stats)
			}
		})
	}
}

// tornMetaImages returns, when the last of the first k file calls wrote a
// meta page, file images with that write torn: the synced image, or
// every write, plus the first bytes of the new meta (at 8-byte steps
// inside its data, as a device without atomic sectors could leave).
func tornMetaImages(st *crashStorage, k int, rng *rand.Rand) [][]byte {
	if k == 0 {
		return nil
	}
	st.mu.Lock()
	op := st.ops[k-1]
	st.mu.Unlock()
	ps := wrcPageSize
	if op.kind != opWrite || op.off >= int64(2*ps) || len(op.data) != ps {
		return nil
	}
	var imgs [][]byte
	for _, n := range []int{8, 16 + 8*rng.IntN(8), metaBytes - 8} {
		base := st.image(k-1, imageMode(len(imgs)%2), ps, rng) // synced, then all
		imgs = append(imgs, writeInto(base, op.off, op.data[:n]))
	}
	return imgs
}

// wrcStep is one commit of a scripted session: WALImageLimit, then new
// keys, their size and keys to delete (as wrcSession.put).
type wrcStep struct{ limit, n, size, del int }

// wrcSessions runs sessions one after another, each dying (a process
// death) after its commits; each opens what the last left, the log whole
// from its first record (a log in one segment keeps the records a
// checkpoint truncated). It returns what the last left.
func wrcSessions(t *testing.T, sessions ...[]wrcStep) ([]byte, []logRecord, map[string][]byte) {
	t.Helper()
	img, recs, want := tx.InitialImage(wrcPageSize), []logRecord(nil), map[string][]byte{}
	for i, steps := range sessions {
		s := newWRCSession(t, img, recs, want)
		if i == 0 {
			// A checkpointed base, as in wrcLog.
			s.db.WALImageLimit = recordsLimit["images"]
			s.put(t, 24, 500, 0)
			if err := s.db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
		for _, st := range steps {
			s.db.WALImageLimit = st.limit
			s.put(t, st.n, st.size, st.del)
		}
		img, want = s.st.contents(t), s.want
		s.lg.mu.Lock()
		recs = append([]logRecord(nil), s.lg.recs...)
		s.lg.mu.Unlock()
	}
	return img, recs, want
}

// TestWALCrashRecoveryImageLimitChange: WALImageLimit changes between
// sessions, so that one log holds, past a checkpoint a recovery made, the
// records of another kind: operations, recovered, then images (and
// operations); images, recovered (no checkpoint: its meta only), then
// operations; images then operations, recovered, then images. Each log,
// whole and with only its live records, is recovered with crashes at
// every call, twice in a row.
func TestWALCrashRecoveryImageLimitChange(t *testing.T) {
	img, ops := recordsLimit["images"], recordsLimit["operations"]
	for _, c := range []struct {
		name     string
		sessions [][]wrcStep
		kinds    string // of the whole log
	}{
		{"ops/images+ops", [][]wrcStep{
			{{ops, 16, 600, 4}, {ops, 1, 10, 0}},
			{{img, 8, 600, 3}, {img, 1, 10, 0}, {ops, 3, 300, 2}},
		}, "[anchor images anchor ops ops anchor images images ops]"},
		{"images/ops", [][]wrcStep{
			{{img, 16, 600, 4}, {img, 1, 10, 0}},
			{{ops, 8, 600, 3}, {ops, 3, 300, 2}},
		}, "[anchor images anchor images images anchor ops ops]"},
		{"images+ops/images", [][]wrcStep{
			{{img, 16, 600, 4}, {ops, 1, 10, 2}},
			{{img, 8, 600, 3}, {img, 3, 300, 2}},
		}, "[anchor images anchor images ops anchor images images]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if wrcQuick() && c.name != "ops/images+ops" {
				t.Skip("under the race detector, ops/images+ops only (-walrecover.deep: all)")
			}
			img, recs, want := wrcSessions(t, c.sessions...)
			if k := wrcKinds(recs); k != c.kinds {
				t.Fatalf("the log holds %s, want %s", k, c.kinds)
			}
			var live []logRecord // from the last anchor before the last session's records
			for i := len(recs) - 1; i >= 0; i-- {
				if recordKind(recs[i].payload) == "anchor" {
					live = recs[i:]
					break
				}
			}
			for _, v := range []struct {
				name string
				recs []logRecord
			}{{"whole log", recs}, {"live records", live}} {
				if wrcQuick() && v.name != "whole log" {
					continue
				}
				ch := newWRCChecker(t, v.recs, want).skipDone(img)
				ch.chain(c.name+", "+v.name, img, v.recs, wrcPer(2, 1)...)
				t.Logf("%s, %s %s: %s", c.name, v.name, wrcKinds(v.recs), ch.stats)
				if ch.stats.ckptNoTrun == 0 || ch.stats.fallback == 0 || ch.stats.pending == 0 {
					t.Fatalf("%s: a situation was not reached: %s", v.name, ch.stats)
				}
				if ch.imageTxID != 0 && ch.stats.imageMeta == 0 {
					t.Fatalf("%s: no crash image had the image records' meta in the file with operations pending: %s", v.name, ch.stats)
				}
			}
		})
	}
}

// TestWALCrashRecoveryTailCut: a session deletes the large values at the end
// of a file in logged operations and dies; the recovery replays them,
// checkpoints, and then commits twice (changing nothing checked) and
// checkpoints after each, so that the file's free tail is given back
// (giveBackTail, and Close's cut), with crashes at every call of all that,
// twice in a row.
func TestWALCrashRecoveryTailCut(t *testing.T) {
	img, ops := recordsLimit["images"], recordsLimit["operations"]
	for _, c := range []struct {
		name     string
		sessions [][]wrcStep
	}{
		{"ops", [][]wrcStep{{{img, 0, 0, 0}}, {{ops, 60, 3000, 0}}}},
		{"images+ops", [][]wrcStep{{{img, 60, 3000, 0}, {img, 1, 10, -30}, {ops, 1, 10, -31}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if wrcQuick() && c.name == "ops" {
				t.Skip("under the race detector, images+ops only (-walrecover.deep: both)")
			}
			sessions := c.sessions
			if c.name == "ops" {
				// 60 large values, checkpointed (a clean close), then
				// deleted in logged operations.
				sessions = [][]wrcStep{{{img, 60, 3000, 0}}, {{ops, 1, 10, -30}, {ops, 1, 10, -31}}}
			}
			img0, recs, want := wrcSessions(t, sessions[0])
			if len(sessions) > 1 {
				// A clean close in between: everything checkpointed.
				s := newWRCSession(t, img0, recs, want)
				if err := s.db.Close(); err != nil {
					t.Fatal(err)
				}
				img0 = s.st.image(s.st.opCount(), imageAll, wrcPageSize, nil)
				s.lg.mu.Lock()
				recs = append([]logRecord(nil), s.lg.recs[s.lg.first-1:]...)
				s.lg.mu.Unlock()
				s = newWRCSession(t, img0, recs, want)
				for _, st := range sessions[1] {
					s.db.WALImageLimit = st.limit
					s.put(t, st.n, st.size, st.del)
				}
				img0, want = s.st.contents(t), s.want
				s.lg.mu.Lock()
				recs = append([]logRecord(nil), s.lg.recs[s.lg.first-1:]...)
				s.lg.mu.Unlock()
			}
			ch := newWRCChecker(t, recs, want)
			ch.after = func(t *testing.T, where string, db *DB) {
				for i := 0; i < 2; i++ {
					err := db.Update(func(tx *Tx) error {
						b := tx.Bucket([]byte("b"))
						if err := b.Put([]byte("zz-temp"), []byte("x")); err != nil {
							return err
						}
						return b.Delete([]byte("zz-temp"))
					})
					if err == nil {
						err = db.Checkpoint()
					}
					if err != nil {
						t.Fatalf("%s: a commit after recovery: %v", where, err)
					}
				}
			}
			ch.recurseFrom = 1
			per := wrcPer(2, 1)
			if wrcQuick() {
				per = []int{2} // one crash: the race detector makes these opens slow
			}
			ch.chain(c.name, img0, recs, per...)
			t.Logf("%s: log %s: %s", c.name, wrcKinds(recs), ch.stats)
			if ch.stats.truncated == 0 || ch.stats.afterCut == 0 || ch.stats.fallback == 0 {
				t.Fatalf("the recoveries never cut the file: %s", ch.stats)
			}
		})
	}
}

// wrcPer is the images per crash point at each level of a chain: the
// given ones, or with -walrecover.deep every mode pair at the first level and
// four at the second, each recovered again.
func wrcPer(levels ...int) []int {
	if *wrcDeep {
		return []int{16, 4}
	}
	return levels
}

// wrcEvery is how sparsely chain recurses at the first level: every third
// crash point, every eighth under the race detector (six times slower).
func wrcEvery() int {
	if raceEnabled {
		return 8
	}
	return 3
}

// wrcQuick reports whether to run only the main variant of a test: under
// the race detector, unless -walrecover.deep.
func wrcQuick() bool { return raceEnabled && !*wrcDeep }

var wrcDump = flag.String("walrecover.dump", "", "TestWALCrashRecoveryRealFiles: also leave the crash images it opens (file and log) in this directory, for the CLI")

// TestWALCrashRecoveryRealFiles opens crash images of a recovery of a log
// of images then operations as real files beside real logs (written with
// package wal) through the root package's Open: read-only (the whole
// state, or ErrLogPending), read-write (the whole state), read-only again
// (the whole state now), and, on a second copy, without WAL mode (which
// replays, checkpoints and removes the log).
func TestWALCrashRecoveryRealFiles(t *testing.T) {
	img, recs, want := wrcLog(t, "images+ops")
	c := newWRCChecker(t, recs, want)
	st, lg := c.recover("images+ops", img, recs)
	pts := lg.points(st.opCount())
	dir := scratchDir(t)
	if *wrcDump != "" {
		dir = *wrcDump
	}
	pending, whole, imageMeta := 0, 0, 0
	for p, pt := range pts {
		fm, lm := imageMode(p%4), logMode(c.rng.IntN(4))
		li := lg.image(pt.log, lm, c.rng)
		fimg := st.image(pt.file, fm, wrcPageSize, c.rng)
		if fileTxID(fimg, wrcPageSize) == c.imageTxID {
			imageMeta++
		}
		where := fmt.Sprintf("crash after call %d/%d of the recovery (%s), file %s, log %s (%s)",
			p, len(pts)-1, lg.describe(st, pt, pts[max(p-1, 0)]), fm, lm, wrcKinds(li.whole()))
		for _, mode := range []string{"wal", "leave"} {
			path := fmt.Sprintf("%s/p%02d-%s.db", dir, p, mode)
			if err := os.WriteFile(path, fimg, 0o600); err != nil {
				t.Fatal(err)
			}
			li.write(t, LogDir(path), c.rng)
			if *wrcDump != "" && mode == "wal" {
				continue // left for the CLI, as the crash left it
			}
			ro := &Options{ReadOnly: true, WAL: true}
			db, err := Open(path, 0o600, ro)
			switch {
			case errors.Is(err, ErrLogPending):
				pending++
			case err != nil:
				t.Fatalf("%s: read-only open: %v", where, err)
			default:
				checkWant(t, where+": read-only", db, want)
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				whole++
			}
			opts := &Options{WAL: mode == "wal", CheckpointBytes: 1 << 30, CheckpointInterval: time.Hour}
			if db, err = Open(path, 0o600, opts); err != nil {
				t.Fatalf("%s: open (%s): %v", where, mode, err)
			}
			checkWant(t, where+": "+mode, db, want)
			if err := db.Close(); err != nil {
				t.Fatalf("%s: close (%s): %v", where, mode, err)
			}
			if _, err := os.Stat(LogDir(path)); (err == nil) != (mode == "wal") {
				t.Fatalf("%s: %s: the log directory: %v", where, mode, err)
			}
			if db, err = Open(path, 0o600, ro); err != nil {
				t.Fatalf("%s: read-only open after the recovery (%s): %v", where, mode, err)
			}
			checkWant(t, where+": read-only after "+mode, db, want)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if t.Failed() {
				t.FailNow()
			}
			_ = os.RemoveAll(LogDir(path))
			_ = os.Remove(path)
		}
	}
	t.Logf("%d crash points, %d read-only opens refused with ErrLogPending, %d showed the whole state, %d at an image record's meta",
		len(pts), pending, whole, imageMeta)
	if pending == 0 || whole == 0 || imageMeta == 0 {
		t.Fatal("a situation was not reached")
	}
}

// TestWALCrashRecoveryCloseCrash: the session of each log shape closes (a
// checkpoint: free list, file sync, meta, log truncation, anchor, the
// file's tail cut) and the power fails at every call of that; each image
// is recovered through the doubles, crashed again at every call of the
// recovery, and opened.
func TestWALCrashRecoveryCloseCrash(t *testing.T) {
	for _, shape := range []string{"images+ops", "ops", "images"} {
		t.Run(shape, func(t *testing.T) {
			if wrcQuick() && shape != "images+ops" {
				t.Skip("under the race detector, images+ops only (-walrecover.deep: all)")
			}
			s := wrcShape(t, shape)
			s.lg.mu.Lock()
			recs := append([]logRecord(nil), s.lg.recs...)
			s.lg.mu.Unlock()
			from := s.st.opCount() + s.lg.opCount()
			if err := s.db.Close(); err != nil {
				t.Fatal(err)
			}
			c := newWRCChecker(t, recs, s.want)
			c.recurseFrom = 0
			pts := s.lg.points(s.st.opCount())
			metaTorn := 0
			for p := from; p < len(pts); p++ {
				pt := pts[p]
				var imgs [][]byte
				for _, m := range c.modes(2) { // synced, then every write
					imgs = append(imgs, s.st.image(pt.file, imageMode(m[0]), wrcPageSize, c.rng))
				}
				torn := tornMetaImages(s.st, pt.file, c.rng)
				metaTorn += len(torn)
				imgs = append(imgs, torn...)
				for i, fimg := range imgs {
					li := s.lg.image(pt.log, logMode(c.rng.IntN(4)), c.rng)
					if i == 1 {
						li = s.lg.image(pt.log, logAll, c.rng)
					}
					w := fmt.Sprintf("%s: crash after call %d/%d of the session's close (%s), image %d, log %s",
						shape, p, len(pts)-1, s.lg.describe(s.st, pt, pts[p-1]), i, wrcKinds(li.whole()))
					c.open(w, fimg, li.whole())
					if i == 0 || i == 1 && p%c.every == 0 || i == 2 {
						c.chain(w, fimg, li.whole(), 1)
					}
				}
			}
			t.Logf("%s: %d crash points in the close, %s", shape, len(pts)-from, c.stats)
			if metaTorn == 0 || c.stats.fallback == 0 {
				t.Fatalf("no crash image had the close's meta torn: %s", c.stats)
			}
		})
	}
}

// wrcVariant sets the page size and options of the tests here until t ends.
func wrcVariant(t *testing.T, ps int, opts *Options) {
	oldPS, oldOpts := wrcPageSize, wrcOptions
	wrcPageSize, wrcOptions = ps, opts
	t.Cleanup(func() { wrcPageSize, wrcOptions = oldPS, oldOpts })
}

// TestWALCrashRecoveryVariants is TestWALCrashRecoveryThreeCrashes's log of
// images then operations with 4 KiB pages, and with NoFreelistSync (no
// checkpoint writes a free list: every open rebuilds it from the tree).
func TestWALCrashRecoveryVariants(t *testing.T) {
	for _, v := range []struct {
		name string
		ps   int
		opts Options
	}{
		{"page=4096", 4096, *wrcOptions},
		{"nofreelistsync", 1024, Options{WAL: true, CheckpointBytes: 1 << 30, CheckpointInterval: time.Hour, NoFreelistSync: true}},
	} {
		t.Run(v.name, func(t *testing.T) {
			if wrcQuick() {
				t.Skip("under the race detector, skipped (-walrecover.deep: run)")
			}
			opts := v.opts
			wrcVariant(t, v.ps, &opts)
			img, recs, want := wrcLog(t, "images+ops")
			m, err := page.DecodeMeta(img[v.ps:], 1)
			if err != nil || int(m.PageSize) != v.ps {
				t.Fatalf("the file's meta page 1: page size %d, %v; want %d", m.PageSize, err, v.ps)
			}
			m0, _ := page.DecodeMeta(img, 0)
			if m.TxID < m0.TxID {
				m = m0
			}
			if (m.Freelist == 0) != opts.NoFreelistSync {
				t.Fatalf("the checkpointed base's meta names free list page %d, with NoFreelistSync %v", m.Freelist, opts.NoFreelistSync)
			}
			c := newWRCChecker(t, recs, want)
			c.chain(v.name, img, recs, wrcPer(2, 1)...)
			t.Logf("%s: file of %d bytes, %s", v.name, len(img), c.stats)
			if c.stats.imageMeta == 0 || c.stats.fallback == 0 || c.stats.ckptNoTrun == 0 {
				t.Fatalf("a situation was not reached: %s", c.stats)
			}
		})
	}
}
