package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio/tx"
)

// TestWALTails tells the two sides of a damaged log apart on real files.
// A record with synced records after it that is damaged (a flipped bit in
// its payload or header, zeros over it) is corruption: Open fails with
// ErrCorrupt, read-write and read-only, and changes neither file. A torn
// or zeroed last record, or garbage past the last one, is the tail of a
// crash: Open recovers every record before it. (A last record with a bad
// checksum looks the same as a torn one: no later frame vouches for it;
// see package wal's doc, NB under Recovery. It was never acknowledged.)
func TestWALTails(t *testing.T) {
	const commits = 10
	dir := t.TempDir()
	path := filepath.Join(dir, "a.db")
	db, err := Open(path, 0o600, walOpts(1024))
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(testSeed(t), 7))
	// models[i]: after commit i
	models := append([]map[string]string{{}}, randomPuts(t, db, rng, commits, 20, 300, 500)...)
	// The files as a crash right now would leave them (every commit was
	// synced to the log; the file holds the checkpoint).
	orig := filepath.Join(dir, "orig.db")
	copyFile(t, path, orig)
	copyLiveSegments(t, LogDir(path), LogDir(orig))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// The frames of the commits, in whichever segments they are (a cold
	// first segment hands over to a warm spare early): the log also holds
	// the checkpoint's anchor, and before it what the checkpoint did not
	// truncate (the anchor logged at open, the bucket's record; gone when
	// their segment was handed over before the checkpoint).
	segs := walSegments(t, LogDir(orig))
	segData := make([][]byte, len(segs))
	type frameAt struct {
		walFrame
		seg int
	}
	var frames []frameAt
	for i, p := range segs {
		if segData[i], err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
		for _, f := range walFrames(segData[i]) {
			frames = append(frames, frameAt{f, i})
		}
	}
	if len(frames) < commits+1 || len(frames) > commits+3 {
		t.Fatalf("%d frames in the log, want %d to %d", len(frames), commits+1, commits+3)
	}
	frames = frames[len(frames)-commits:] // frames[i] holds commit i+1
	mid, lastF := frames[commits/2], frames[commits-1]

	// A damage changes the segment files' bytes (segs[i] in files[i]).
	type damage func(files [][]byte)
	flip := func(f frameAt, off int64) damage { return func(files [][]byte) { files[f.seg][f.off+off] ^= 0x10 } }
	zero := func(f frameAt) damage { return func(files [][]byte) { clear(files[f.seg][f.off : f.off+f.size]) } }
	for _, c := range []struct {
		name    string
		damage  damage
		corrupt bool
		want    int // commits recovered when not corrupt
	}{
		{"payload-bit-of-a-middle-record", flip(mid, 32+int64(mid.length)/2), true, 0},
		{"header-bit-of-a-middle-record", flip(mid, 9), true, 0},
		{"lsn-of-a-middle-record", flip(mid, 16), true, 0},
		{"middle-record-zeroed", zero(mid), true, 0},
		{"first-commit-payload-bit", flip(frames[0], 40), true, 0},
		{"last-record-torn", func(files [][]byte) { tearFrame(files[lastF.seg], lastF.walFrame, rng) }, false, commits - 1},
		{"last-record-zeroed", zero(lastF), false, commits - 1},
		{"last-record-payload-bit", flip(lastF, 32+int64(lastF.length)-1), false, commits - 1},
		{"garbage-past-the-last-record", func(files [][]byte) {
			end := lastF.off + lastF.size
			for i := end; i < end+700; i++ {
				files[lastF.seg][i] = byte(rng.Uint32())
			}
		}, false, commits},
		{"undamaged", func([][]byte) {}, false, commits},
	} {
		t.Run(c.name, func(t *testing.T) {
			crash := filepath.Join(t.TempDir(), "crash.db")
			copyFile(t, orig, crash)
			copyLiveSegments(t, LogDir(orig), LogDir(crash))
			files := make([][]byte, len(segData))
			for i := range segData {
				files[i] = bytes.Clone(segData[i])
			}
			c.damage(files)
			for i, p := range segs {
				if err := os.WriteFile(filepath.Join(LogDir(crash), filepath.Base(p)), files[i], 0o600); err != nil {
					t.Fatal(err)
				}
			}
			fileBefore, err := os.ReadFile(crash)
			if err != nil {
				t.Fatal(err)
			}
			if c.corrupt {
				for _, opts := range []*Options{walOpts(1024), {ReadOnly: true}, nil} {
					db, err := Open(crash, 0o600, opts)
					if err == nil {
						db.Close()
						t.Fatalf("open (read-only %v) succeeded over a damaged record with synced records after it", opts != nil && opts.ReadOnly)
					}
					if !errors.Is(err, ErrCorrupt) {
						t.Fatalf("open: %v, want ErrCorrupt", err)
					}
				}
				if got, _ := os.ReadFile(crash); !bytes.Equal(got, fileBefore) {
					t.Error("a failed open changed the database file")
				}
				for i, p := range segs {
					if got, _ := os.ReadFile(filepath.Join(LogDir(crash), filepath.Base(p))); !bytes.Equal(got, files[i]) {
						t.Errorf("a failed open changed the log's %s", filepath.Base(p))
					}
				}
				return
			}
			db, err := Open(crash, 0o600, walOpts(1024))
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer closeChecked(t, db)
			compareKV(t, db, "b", models[c.want])
		})
	}
}

// compareKV checks that bucket name of db holds exactly want.
func compareKV(t *testing.T, db *DB, name string, want map[string]string) {
	t.Helper()
	err := db.View(func(tx *Tx) error {
		n := 0
		err := tx.Bucket([]byte(name)).ForEach(func(k, v []byte) error {
			n++
			if want[string(k)] != string(v) {
				return fmt.Errorf("key %s: %d bytes, want %d", k, len(v), len(want[string(k)]))
			}
			return nil
		})
		if err == nil && n != len(want) {
			err = fmt.Errorf("%d keys, want %d", n, len(want))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWALReplayDamagedPayload: records that package wal reads back intact
// but that do not make a sequence of commits (a damaged page image inside,
// a commit missing between two others, a page size that is not the
// file's) fail the open with ErrCorrupt rather than replaying part of the
// log, and leave the file's durable state as it was. The log here is the double, which hands over whatever it holds.
// Record layout (tx/walrecord.go, version 2): the meta's stored length at
// 24, the meta from recMeta, then runs: id u64 | pages u32 | stored u32 |
// the stored bytes.
const recMeta = 28

// firstRunByte is the offset of a byte inside the stored image of a
// record's first run, past its page header.
func firstRunByte(p []byte) int {
	run := recMeta + int(binary.LittleEndian.Uint32(p[24:])) + 16
	stored := int(binary.LittleEndian.Uint32(p[run-4:]))
	return run + min(100, stored-1)
}

func TestWALReplayDamagedPayload(t *testing.T) {
	const ps = 1024
	st := newCrashStorage(t, tx.InitialImage(ps))
	lg := newCrashLog(st)
	db, err := tx.OpenWithLog("crash.db", st, lg, walOpts(ps))
	if err != nil {
		t.Fatal(err)
	}
	db.WALImageLimit = recordsLimit["images"] // the cases damage page images
	seed := testSeed(t)
	for i := 1; i <= 6; i++ {
		ops := workTxn(seed, i, ps)
		if err := db.Update(func(tx *Tx) error { return applyTxn(tx, i, ops) }); err != nil {
			t.Fatal(err)
		}
	}
	// What a power cut leaves: the file at its last checkpoint (the
	// initial one), the log whole.
	img := st.image(st.opCount(), imageSynced, ps, nil)
	recs := append([]logRecord(nil), lg.recs...)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// recs[0] is the anchor logged at open, recs[i] commit i.
	if len(recs) != 7 {
		t.Fatalf("%d records, want 7", len(recs))
	}
	damaged := func(i int, f func(p []byte) []byte) []logRecord {
		out := append([]logRecord(nil), recs...)
		out[i].payload = f(bytes.Clone(out[i].payload))
		return out
	}
	for _, c := range []struct {
		name string
		recs []logRecord
		ok   bool
	}{
		{"page-image-bit", damaged(3, func(p []byte) []byte { p[firstRunByte(p)] ^= 1; return p }), false},
		{"meta-bit", damaged(3, func(p []byte) []byte { p[recMeta+40] ^= 1; return p }), false},
		{"page-size", damaged(3, func(p []byte) []byte { p[17] ^= 1; return p }), false},
		{"cut-short", damaged(3, func(p []byte) []byte { return p[:len(p)-len(p)/3] }), false},
		{"commit-missing", append(append([]logRecord(nil), recs[:3]...), recs[4:]...), false},
		{"commit-twice", append(append([]logRecord(nil), recs[:4]...), recs[3:]...), true},
		{"whole", recs, true},
		{"no-anchor", recs[1:], true}, // a log from before anchors
	} {
		t.Run(c.name, func(t *testing.T) {
			st2 := newCrashStorage(t, img)
			db, err := tx.OpenWithLog("crash.db", st2, newCrashLogWith(st2, c.recs), walOpts(ps))
			if !c.ok {
				if err == nil {
					db.Close()
					t.Fatal("open succeeded")
				}
				if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrLogCorrupt) {
					t.Fatalf("open: %v, want ErrLogCorrupt and ErrCorrupt", err)
				}
				if msg := err.Error(); !strings.Contains(msg, "write-ahead log is damaged") || strings.Contains(msg, "database file is corrupt") {
					t.Errorf("open: %q: the message should blame the log, not the file", msg)
				}
				// The records before the bad one may have had their pages
				// written (to pages the checkpoint does not reach), but
				// nothing was synced and no meta written.
				for _, op := range st2.ops {
					if op.kind != opWrite || op.off < 2*ps {
						t.Errorf("a failed replay did more than write pages: %v", op)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer closeChecked(t, db)
			var j int
			if err := db.View(func(tx *Tx) error { j, err = readMarker(tx); return err }); err != nil {
				t.Fatal(err)
			}
			if j != 6 {
				t.Fatalf("replayed up to transaction %d, want 6", j)
			}
		})
	}
}
