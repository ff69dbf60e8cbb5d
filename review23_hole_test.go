package folio

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// review23ForgedFrames is len(segs) frames in package wal's layout
// (wal/doc.go), one for each segment number in segs, each holding lsn
// and claiming every earlier lsn durable: whole frames, as far as bytes
// go, that no log wrote.
func review23ForgedFrames(lsn uint64, segs ...uint32) []byte {
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
func TestReview23HoleValueForgesFrames(t *testing.T) {
	path := tempPath(t)
	db, err := Open(path, 0o600, walOpts(4096))
	if err != nil {
		t.Fatal(err)
	}
	closeChecked(t, db) // reopened, the log keeps appending to its segment
	if db, err = Open(path, 0o600, walOpts(4096)); err != nil {
		t.Fatal(err)
	}
	// Random bytes (the log stores them uncompressed), and the forged
	// frames at each of 8 shifts: one lies at an 8-byte boundary.
	r := rand.New(rand.NewPCG(23, 23))
	bait := make([]byte, 20000)
	for i := range bait {
		bait[i] = byte(r.Uint32())
	}
	forged := review23ForgedFrames(1<<40, 1, 2, 3, 4, 5, 6, 7, 8)
	for shift := range 8 {
		bait = append(bait, make([]byte, 1+shift)...)
		bait = append(bait, review23ForgedFrames(1<<40+uint64(shift), 1, 2, 3, 4, 5, 6, 7, 8)...)
	}
	want := map[string][]byte{"a": []byte("value-a"), "bait": bait, "b": []byte("value-b"), "c": []byte("value-c"), "d": []byte("value-d")}
	put := func(k string) {
		mustUpdate(t, db, func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte(k), want[k])
		})
	}
	put("a")
	put("bait")
	put("b")
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	put("c")
	put("d")
	img := filepath.Join(t.TempDir(), "img.db")
	copyFile(t, path, img)
	copyDir(t, LogDir(path), LogDir(img))
	closeChecked(t, db)

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
		b, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
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
