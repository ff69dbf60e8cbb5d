package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/tx"
)

// TestRecoverImagesThenOpsTwice crashes a recovery at every call it makes.
// The log holds page-image records, then operation records (what the
// default WALImageLimit logs for small commits followed by a large one).
// Recovery writes the image records' pages and the meta of the last one
// durably before it replays the operations and checkpoints: a crash in
// between leaves a file whose meta no anchor of the log names. The next
// open must accept it (the image record before the first operation
// record names it) and recover every commit.
func TestRecoverImagesThenOpsTwice(t *testing.T) {
	img, recs, want := imagesThenOpsLog(t, 0)
	st2, lg2 := recoverRecorded(t, img, recs, want)
	opts := imagesThenOpsOptions
	const ps = imagesThenOpsPageSize
	metaSynced := false
	pts := lg2.points(st2.opCount())
	rng := rand.New(rand.NewPCG(testSeed(t), 9))
	images := 0
	for p, pt := range pts {
		for _, fm := range []imageMode{imageSynced, imageAll, imageSubset, imageTorn} {
			for _, lm := range []logMode{logSynced, logAll} {
				// The log as it was at that point (recovery truncates
				// it only after its checkpoint), the file as fm leaves it.
				li := lg2.image(pt.log, lm, rng)
				fimg := st2.image(pt.file, fm, ps, rng)
				where := fmt.Sprintf("recovery crashed after call %d/%d (%s), file image %s, log image %s",
					p, len(pts)-1, lg2.describe(st2, pt, pts[max(p-1, 0)]), fm, lm)
				st3 := newCrashStorage(t, fimg)
				lg3 := newCrashLogWith(st3, li.whole())
				db3, err := tx.OpenWithLog("crash.db", st3, lg3, opts)
				if err != nil {
					t.Fatalf("%s: open: %v", where, err)
				}
				checkWant(t, where, db3, want)
				if fileTxID(fimg, ps) == 3 && len(li.whole()) == len(recs) {
					// The meta of the last image record is in the file,
					// the operations after it not checkpointed yet.
					metaSynced = true
				}
				if err := db3.Close(); err != nil {
					t.Fatalf("%s: close: %v", where, err)
				}
				if t.Failed() {
					t.FailNow()
				}
				images++
			}
		}
	}
	if !metaSynced {
		t.Fatal("no crash point had the image records' meta in the file and the operations still in the log")
	}
	t.Logf("%d crash points in the recovery, %d images", len(pts), images)
}

// fileTxID is the txid of the newer meta page of a file image.
func fileTxID(img []byte, ps int) page.TxID {
	var txid page.TxID
	for slot := 0; slot < 2; slot++ {
		if m, err := page.DecodeMeta(img[slot*ps:], page.ID(slot)); err == nil {
			txid = max(txid, m.TxID)
		}
	}
	return txid
}

const imagesThenOpsPageSize = 1024

var imagesThenOpsOptions = &Options{WAL: true, CheckpointBytes: 1 << 30, CheckpointInterval: time.Hour}

// imagesThenOpsLog commits two transactions logged as page images, then
// two logged as operations, with no checkpoint, and returns the file and
// the log as a process death then leaves them, and what they hold. salt
// changes every value: another history with the same txids.
func imagesThenOpsLog(t *testing.T, salt byte) ([]byte, []logRecord, map[string][]byte) {
	t.Helper()
	st := newCrashStorage(t, tx.InitialImage(imagesThenOpsPageSize))
	lg := newCrashLog(st)
	db, err := tx.OpenWithLog("crash.db", st, lg, imagesThenOpsOptions)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	put := func(n, size int) {
		t.Helper()
		err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for i := 0; i < n; i++ {
				k := fmt.Sprintf("k%05d", len(want))
				v := bytes.Repeat([]byte{byte(len(want)) ^ salt}, size)
				if err := b.Put([]byte(k), v); err != nil {
					return err
				}
				want[k] = v
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	db.WALImageLimit = recordsLimit["images"]
	put(32, 600)
	put(1, 10)
	db.WALImageLimit = recordsLimit["operations"]
	put(1, 10)
	put(5, 300)
	if kinds := logKinds(t, lg); kinds != "[anchor images images ops ops]" {
		t.Fatalf("the log holds %q; the test needs images, then operations", kinds)
	}
	return st.contents(t), append([]logRecord(nil), lg.recs...), want
}

// recoverRecorded opens img with the log recs through the crash doubles,
// which record every call of the recovery, checks that it holds want,
// and closes it.
func recoverRecorded(t *testing.T, img []byte, recs []logRecord, want map[string][]byte) (*crashStorage, *crashLog) {
	t.Helper()
	st := newCrashStorage(t, img)
	lg := newCrashLogWith(st, recs)
	db, err := tx.OpenWithLog("crash.db", st, lg, imagesThenOpsOptions)
	if err != nil {
		t.Fatalf("first recovery: %v", err)
	}
	checkWant(t, "first recovery", db, want)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return st, lg
}

// TestRecoverImagesThenOpsOtherLog: the image record that lets Open take
// a file whose meta no anchor names (TestRecoverImagesThenOpsTwice) must
// name the file's state, not only its txid. A file recovered to the last
// image record's meta, beside the log of another history with the same
// txids, is refused.
func TestRecoverImagesThenOpsOtherLog(t *testing.T) {
	const ps = imagesThenOpsPageSize
	img, recs, want := imagesThenOpsLog(t, 0)
	st2, _ := recoverRecorded(t, img, recs, want)
	_, other, _ := imagesThenOpsLog(t, 0x5a)
	found := false
	for k := 0; k <= st2.opCount() && !found; k++ {
		fimg := st2.image(k, imageSynced, ps, nil)
		if fileTxID(fimg, ps) != 3 {
			continue
		}
		found = true
		st3 := newCrashStorage(t, fimg)
		db, err := tx.OpenWithLog("crash.db", st3, newCrashLogWith(st3, other), imagesThenOpsOptions)
		if !errors.Is(err, ErrLogMismatch) {
			if err == nil {
				_ = db.Close()
			}
			t.Fatalf("the file at txid 3 beside another history's log: open returned %v, want ErrLogMismatch", err)
		}
		t.Log(err)
		// Its own log recovers it.
		st4 := newCrashStorage(t, fimg)
		if db, err = tx.OpenWithLog("crash.db", st4, newCrashLogWith(st4, recs), imagesThenOpsOptions); err != nil {
			t.Fatalf("the file at txid 3 beside its own log: %v", err)
		}
		checkWant(t, "its own log", db, want)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if !found {
		t.Fatal("the recovery never made txid 3 durable in the file")
	}
}

// logKinds names the records the log double holds, in order.
func logKinds(t testing.TB, lg *crashLog) string {
	t.Helper()
	var kinds []string
	for _, r := range lg.recs {
		kinds = append(kinds, recordKind(r.payload))
	}
	return fmt.Sprint(kinds)
}

// checkWant checks that db holds exactly want in bucket "b", and checks it.
func checkWant(t *testing.T, where string, db *DB, want map[string][]byte) {
	t.Helper()
	err := db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		if b == nil {
			return fmt.Errorf("no bucket")
		}
		n := 0
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if w, ok := want[string(k)]; !ok || !bytes.Equal(v, w) {
				return fmt.Errorf("key %q: value of %d bytes, want %d", k, len(v), len(w))
			}
			n++
		}
		if n != len(want) {
			return fmt.Errorf("%d keys, want %d", n, len(want))
		}
		return nil
	})
	if err != nil {
		t.Errorf("%s: %v", where, err)
	}
	mustCheck(t, db)
}

// recordKind names a log record by its version (tx/walrecord.go,
// walops.go, walanchor.go).
func recordKind(payload []byte) string {
	if len(payload) < 8 {
		return "short"
	}
	switch v := binary.LittleEndian.Uint32(payload[4:]); v {
	case 1, 2:
		return "images"
	case 3:
		return "ops"
	case 6:
		return "anchor"
	default:
		return fmt.Sprintf("version%d", v)
	}
}
