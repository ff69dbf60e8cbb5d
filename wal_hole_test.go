package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio/tx"
	"github.com/foliodb/folio/wal"
)

// forgedFrames is len(segs) frames in package wal's layout
// (wal/doc.go), one for each segment number in segs, each holding lsn
// and claiming every earlier lsn durable: whole frames, as far as bytes
// go, that no log wrote. Their header checksums are unsalted, as a value
// can hold them without reading the log (a version 1 segment's): a
// salted segment's recovery fails them at once, and package wal's tests
// forge them with the salt known to test what else guards.
func forgedFrames(lsn uint64, segs ...uint32) []byte {
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	var out []byte
	for _, seg := range segs {
		p := []byte("forged record, segment " + string(rune('0'+seg)))
		f := make([]byte, 32+(len(p)+7)&^7)
		binary.LittleEndian.PutUint32(f[4:], crc32.Checksum(p, castagnoli))
		binary.LittleEndian.PutUint32(f[8:], uint32(len(p)))
		binary.LittleEndian.PutUint64(f[16:], lsn)
		binary.LittleEndian.PutUint32(f[24:], seg)
		binary.LittleEndian.PutUint32(f[28:], 1)
		binary.LittleEndian.PutUint32(f[0:], crc32.Checksum(f[4:32], castagnoli))
		copy(f[32:], p)
		out = append(out, f...)
	}
	return out
}

// A stored value holding bytes that read as log frames (forged frame
// headers of the log's own segment numbers), in a commit whose log
// record is damaged before a checkpoint: Open passed over the damage
// and resumed the log at a forged frame in the value, took the real
// records after it (the checkpoint's anchor, later commits) for a torn
// tail, and failed with ErrLogCorrupt, although only a record the file
// held was damaged. It now opens with every commit.
func TestHoleValueForgesFrames(t *testing.T) {
	path, db := openReopenedWAL(t) // the log keeps appending to its segment
	// Random bytes (the log stores them uncompressed), and the forged
	// frames at each of 8 shifts: one lies at an 8-byte boundary.
	r := rand.New(rand.NewPCG(23, 23))
	bait := make([]byte, 20000)
	for i := range bait {
		bait[i] = byte(r.Uint32())
	}
	forged := forgedFrames(1<<40, 1, 2, 3, 4, 5, 6, 7, 8)
	for shift := range 8 {
		bait = append(bait, make([]byte, 1+shift)...)
		bait = append(bait, forgedFrames(1<<40+uint64(shift), 1, 2, 3, 4, 5, 6, 7, 8)...)
	}
	want := map[string][]byte{"a": []byte("value-a"), "bait": bait, "b": []byte("value-b"), "c": []byte("value-c"), "d": []byte("value-d")}
	put := func(k string) {
		mustPutIn(t, db, "b", []byte(k), want[k])
	}
	put("a")
	put("bait")
	put("b")
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	put("c")
	put("d")
	img := crashCopy(t, db, path)

	// Damage the bait's record, early in its payload: the forged frames
	// lie past the damage, where recovery looks for proof of it.
	damaged := false
	ents, err := os.ReadDir(LogDir(img))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".wal") {
			continue
		}
		seg := filepath.Join(LogDir(img), e.Name())
		b := mustRead(t, seg)
		at := bytes.Index(b, forged)
		if at < 0 {
			continue
		}
		// The frame holding it: the last whole frame starting before it.
		for off := 32; off+32 <= len(b); {
			n := int(binary.LittleEndian.Uint32(b[off+8:]))
			end := off + 32 + (n+7)&^7
			if n == 0 || end > len(b) {
				break
			}
			if off < at && at < end {
				b[off+32+1] ^= 0xff
				damaged = true
				break
			}
			off = end
		}
		if err := os.WriteFile(seg, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if !damaged {
		t.Fatal("no log record holds the forged frames as they are")
	}

	db, err = Open(img, 0o600, walOpts(4096))
	if err != nil {
		t.Fatalf("Open with the record of a value holding forged frames damaged before a checkpoint: %v", err)
	}
	defer closeChecked(t, db)
	if err := db.View(func(tx *Tx) error {
		for k, v := range want {
			if got := tx.Bucket([]byte("b")).Get([]byte(k)); !bytes.Equal(got, v) {
				t.Errorf("%s: %d bytes, want %d", k, len(got), len(v))
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// A crash in the open that passed over a damaged record before the
// checkpoint: the replay of the logged operations after it had
// checkpointed them into the file (its meta durable), and the anchor
// naming that state, appended after it, had not reached the disk. The
// next Open read the same hole, found no anchor naming the file's state
// past it, and failed with ErrLogCorrupt, although the file held every
// commit: the records past the hole are all older than the file, so the
// damaged ones before them are too.
func TestHoleCrashAfterReplay(t *testing.T) {
	img := damagedLogFile(t, "a")
	before := filepath.Join(t.TempDir(), "before.db")
	copyFile(t, img, before)
	copyDir(t, LogDir(img), LogDir(before))

	db, err := Open(img, 0o600, walOpts(4096))
	if err != nil {
		t.Fatalf("first Open: %v", err)
	}
	in, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	if in.Replayed == 0 {
		t.Fatal("the first Open replayed nothing; the test needs a replay")
	}
	// The crash: the file as the replay left it, the log as it was
	// before (what the replay appended not yet durable).
	crash := filepath.Join(t.TempDir(), "crash.db")
	copyFile(t, img, crash)
	copyDir(t, LogDir(before), LogDir(crash))
	closeChecked(t, db)

	for round := range 2 {
		db, err := Open(crash, 0o600, walOpts(4096))
		if err != nil {
			t.Fatalf("round %d: Open after a crash that followed the replay: %v", round, err)
		}
		if err := db.View(func(tx *Tx) error {
			for _, k := range []string{"a", "b", "c", "d"} {
				if got := tx.Bucket([]byte("b")).Get([]byte(k)); string(got) != "value-"+k {
					t.Errorf("%s = %q", k, got)
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		closeChecked(t, db)
	}
}

// holedLog is a log double that Open let pass over damage before LSN
// next, as package wal's does with AllowHole: tx reads Hole.
type holedLog struct {
	*crashLog
	next uint64
	err  error
}

func (l holedLog) Hole() (uint64, error) { return l.next, l.err }

func (l holedLog) Replay(from uint64, fn func(uint64, []byte) error) error {
	if from < l.next {
		return l.err
	}
	return l.crashLog.Replay(from, fn)
}

// The rule that lets a hole pass when nothing past it is past the file
// counts a record past the hole only if it is not newer than the file:
// a file back at an older state (here its first checkpoint's: a
// restored copy, or a meta fallen back) beside a log whose damage hides
// the commits after that state, and whose next anchor names a later
// checkpoint, is ErrLogCorrupt, not opened without those commits.
func TestHoleAnchorNewerThanFile(t *testing.T) {
	opts := &Options{PageSize: 1024, WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: 1 << 62}
	st := newCrashStorage(t, tx.InitialImage(1024))
	lg := newCrashLog(st)
	db, err := tx.OpenWithLog("crash.db", st, lg, opts)
	if err != nil {
		t.Fatal(err)
	}
	put := func(k string) {
		mustPutIn(t, db, "b", []byte(k), []byte("value-"+k))
	}
	put("a")
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	old := st.contents(t) // the file at the first checkpoint
	firstNew := uint64(len(lg.recs)) + 1
	put("b")
	put("c")
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	newer := st.contents(t) // at the second
	recs := append([]logRecord(nil), lg.recs...)
	if k := recordKind(recs[len(recs)-1].payload); k != "anchor" {
		t.Fatalf("the log ends in %q, want the second checkpoint's anchor", k)
	}
	closeChecked(t, db)

	// Damage to the records of b and c: the log resumes at the anchor.
	hole := &wal.CorruptError{Path: "crash.db.wal/0000000000000001.wal", Segment: 1, Offset: 32, LSN: firstNew,
		What: "payload checksum mismatch"}
	open := func(img []byte) (*DB, error) {
		st2 := newCrashStorage(t, img)
		return tx.OpenWithLog("crash.db", st2, holedLog{newCrashLogWith(st2, recs), uint64(len(recs)), hole}, opts)
	}
	db, err = open(old)
	if err == nil {
		var got []string
		_ = db.View(func(tx *Tx) error {
			return tx.Bucket([]byte("b")).ForEach(func(k, _ []byte) error { got = append(got, string(k)); return nil })
		})
		_ = db.Close()
		t.Fatalf("a file older than the anchor past the hole opened with keys %q: b and c lost", got)
	}
	if !errors.Is(err, ErrLogCorrupt) {
		t.Fatalf("Open of the older file: %v, want ErrLogCorrupt", err)
	}
	// The file the anchor names holds them: it opens.
	if db, err = open(newer); err != nil {
		t.Fatalf("Open of the file the anchor past the hole names: %v", err)
	}
	checkWant(t, "file at the anchor", db, map[string][]byte{"a": []byte("value-a"), "b": []byte("value-b"), "c": []byte("value-c")})
	closeChecked(t, db)
}
