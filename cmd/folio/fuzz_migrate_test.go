package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliodb/folio"
	bolt "go.etcd.io/bbolt"
)

// boltFile is a bbolt file image, for tests that forge pages in it.
type boltFile struct {
	b  []byte
	ps int
}

func readBoltFile(t testing.TB, path string) *boltFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The meta's page size (page 0: a 16-byte page header, then magic,
	// version, page size).
	return &boltFile{b: b, ps: int(binary.LittleEndian.Uint32(b[24:]))}
}

// meta returns the current meta's offset: the one with the larger txid.
func (f *boltFile) meta() int {
	m0, m1 := 16, f.ps+16
	if binary.LittleEndian.Uint64(f.b[m1+48:]) > binary.LittleEndian.Uint64(f.b[m0+48:]) {
		return m1
	}
	return m0
}

func (f *boltFile) page(id uint64) []byte { return f.b[int(id)*f.ps : int(id+1)*f.ps] }

// freePage returns a page the current meta's free list names.
func (f *boltFile) freePage(t testing.TB) uint64 {
	t.Helper()
	fl := f.page(binary.LittleEndian.Uint64(f.b[f.meta()+32:]))
	count, ids := int(binary.LittleEndian.Uint16(fl[10:])), fl[16:]
	if count == 0xffff {
		count, ids = int(binary.LittleEndian.Uint64(ids)), ids[8:]
	}
	if binary.LittleEndian.Uint16(fl[8:]) != 0x10 || count == 0 {
		t.Fatalf("no free page in the free list (flags %#x, %d ids)", binary.LittleEndian.Uint16(fl[8:]), count)
	}
	return binary.LittleEndian.Uint64(ids)
}

// leafValue returns the value of key in the leaf page p, in place.
func leafValue(t testing.TB, p []byte, key string) (elem int, v []byte) {
	t.Helper()
	for i := range int(binary.LittleEndian.Uint16(p[10:])) {
		e := 16 + i*16
		pos, ks, vs := int(binary.LittleEndian.Uint32(p[e+4:])), int(binary.LittleEndian.Uint32(p[e+8:])), int(binary.LittleEndian.Uint32(p[e+12:]))
		if string(p[e+pos:e+pos+ks]) == key {
			return e, p[e+pos+ks : e+pos+ks+vs]
		}
	}
	t.Fatalf("no key %q in the leaf", key)
	return 0, nil
}

// putSelfBranch makes page id a branch page whose one child is itself.
func (f *boltFile) putSelfBranch(id uint64) {
	p := f.page(id)
	clear(p)
	binary.LittleEndian.PutUint64(p, id)
	binary.LittleEndian.PutUint16(p[8:], 0x01) // branch
	binary.LittleEndian.PutUint16(p[10:], 1)
	binary.LittleEndian.PutUint32(p[16:], 16) // key at 32
	binary.LittleEndian.PutUint32(p[20:], 1)
	binary.LittleEndian.PutUint64(p[24:], id)
	p[32] = 'k'
}

// hiddenLoopBolt builds a bbolt file whose bucket "a" is inline (kept in
// its parent's leaf, no page of its own) and, forged, holds a nested
// bucket "n" whose root is a branch page naming itself as its child:
// bbolt's cursor goes down it for ever. It returns the file's path.
func hiddenLoopBolt(t testing.TB, pageSize int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "loop.bolt")
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true, PageSize: pageSize})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		a, err := tx.CreateBucket([]byte("a"))
		if err != nil {
			return err
		}
		if err := a.Put([]byte("n"), make([]byte, 16)); err != nil { // room for a bucket header
			return err
		}
		pad, err := tx.CreateBucket([]byte("pad"))
		for i := 0; err == nil && i < 200; i++ {
			err = pad.Put([]byte(fmt.Sprintf("k%04d", i)), bytes.Repeat([]byte{'v'}, 100))
		}
		return err
	})
	if err == nil {
		// Free pad's pages, for the forged page to take one.
		err = db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("pad")) })
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	f := readBoltFile(t, path)
	root := f.page(binary.LittleEndian.Uint64(f.b[f.meta()+16:]))
	e, av := leafValue(t, root, "a")
	if binary.LittleEndian.Uint32(root[e:])&0x01 == 0 || binary.LittleEndian.Uint64(av) != 0 {
		t.Fatal(`bucket "a" is not an inline bucket`)
	}
	// The inline page follows the 16-byte bucket header; its element
	// "n" becomes a bucket whose root is the forged page.
	inline := av[16:]
	ne, nv := leafValue(t, inline, "n")
	binary.LittleEndian.PutUint32(inline[ne:], 0x01)
	id := f.freePage(t)
	binary.LittleEndian.PutUint64(nv, id)
	f.putSelfBranch(id)
	if err := os.WriteFile(path, f.b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMigrateInlineBucketLoop: checkBoltPages, which exists so
// that a bbolt page tree with a loop fails migrate rather than sending
// bbolt's cursor down for ever, did not look inside inline buckets; a
// bucket nested in one has pages of its own, and a loop there passed
// the check, so migrate allocated until the process died.
func TestMigrateInlineBucketLoop(t *testing.T) {
	src := hiddenLoopBolt(t, 0)
	db, err := bolt.Open(src, 0o400, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error { return checkBoltPages(tx, src) })
	db.Close()
	if err == nil || !strings.Contains(err.Error(), "is damaged: page ") {
		t.Fatalf("checkBoltPages: %v, want the page loop reported", err)
	}
	dst := filepath.Join(t.TempDir(), "m.db")
	args := []string{"migrate", "--from", "bbolt", src, dst}
	code, _, stderr := runCLI(t, args...)
	line := oneLine(t, args, stderr)
	if want := "folio: migrate " + src + ": bbolt file " + src + " is damaged: page "; code != exitFail || !strings.HasPrefix(line, want) {
		t.Errorf("exit %d, stderr %q; want %d and %q", code, line, exitFail, want)
	}
	if _, err := os.Stat(dst); err == nil {
		t.Error("migrate left the new database")
	}
}

// TestMigrateEmptyBranchLoop: a branch page with no elements
// passed checkBoltPages (it has no children to walk), but bbolt's cursor
// reads a first child from it regardless, from the bytes where the first
// element would be: here the page's own id, so migrate went down it for
// ever. bbolt never writes an empty branch page.
func TestMigrateEmptyBranchLoop(t *testing.T) {
	src, id := emptyBranchBolt(t, 0)
	db, err := bolt.Open(src, 0o400, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error { return checkBoltPages(tx, src) })
	db.Close()
	if want := fmt.Sprintf("is damaged: page %d: ", id); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("checkBoltPages: %v, want %q", err, want)
	}
}

// emptyBranchBolt builds a bbolt file whose bucket "b" has a root page
// forged into an empty branch, followed by its own id where a first
// element would name a child. It returns the path and the page.
func emptyBranchBolt(t testing.TB, pageSize int) (string, uint64) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "empty.bolt")
	db, err := bolt.Open(src, 0o600, &bolt.Options{NoSync: true, PageSize: pageSize})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		for i := 0; err == nil && i < 30; i++ {
			// Too much for an inline bucket (a quarter of a page).
			err = b.Put([]byte(fmt.Sprintf("k%02d", i)), bytes.Repeat([]byte{'v'}, 100))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	f := readBoltFile(t, src)
	root := f.page(binary.LittleEndian.Uint64(f.b[f.meta()+16:]))
	_, bv := leafValue(t, root, "b")
	id := binary.LittleEndian.Uint64(bv)
	if id == 0 {
		t.Fatal(`bucket "b" is inline`)
	}
	p := f.page(id)
	binary.LittleEndian.PutUint16(p[8:], 0x01) // a branch
	binary.LittleEndian.PutUint16(p[10:], 0)   // of no elements
	binary.LittleEndian.PutUint64(p[24:], id)  // where the first would name its child
	if err := os.WriteFile(src, f.b, 0o600); err != nil {
		t.Fatal(err)
	}
	return src, id
}

// FuzzMigrate runs migrate on a mutated bbolt file. bbolt trusts its
// pages; migrate's guards (checkBoltPages, boltTree.damaged) must turn
// every damage into one line of error (exit 1) that leaves nothing
// behind, or migrate succeeds and the new file checks clean: no panic,
// no hang (the engine fails an input that runs 10 s), no allocation
// without bound. Seeds: a 1 KiB-page bbolt file with nested, inline and
// empty buckets, an overflow value and sequences, and the two loops
// checkBoltPages once let through.
func FuzzMigrate(f *testing.F) {
	const ps = 1024
	seed := func(path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	path := filepath.Join(f.TempDir(), "seed.bolt")
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true, PageSize: ps})
	if err != nil {
		f.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		a, err := tx.CreateBucket([]byte("a"))
		for i := 0; err == nil && i < 40; i++ {
			err = a.Put([]byte(fmt.Sprintf("k%02d", i)), bytes.Repeat([]byte{byte(i)}, i*3))
		}
		if err != nil {
			return err
		}
		if err := a.SetSequence(7); err != nil {
			return err
		}
		n, err := a.CreateBucket([]byte("nested-inline"))
		if err == nil {
			err = n.Put([]byte("x"), []byte("y"))
		}
		if err == nil {
			_, err = tx.CreateBucket([]byte("empty"))
		}
		if err == nil {
			err = a.Put([]byte("large"), bytes.Repeat([]byte("L"), 3*ps))
		}
		return err
	})
	if err == nil {
		err = db.Close()
	}
	if err != nil {
		f.Fatal(err)
	}
	seed(path)
	seed(hiddenLoopBolt(f, ps))
	src, _ := emptyBranchBolt(f, ps)
	seed(src)
	f.Fuzz(func(t *testing.T, img []byte) {
		if len(img) > 256<<10 {
			return
		}
		dir := t.TempDir()
		src, dst := filepath.Join(dir, "src.bolt"), filepath.Join(dir, "dst.db")
		if err := os.WriteFile(src, img, 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{"migrate", "--from", "bbolt", src, dst}
		code, _, stderr := runCLI(t, args...)
		ents, _ := os.ReadDir(dir)
		switch code {
		case exitOK:
			if len(ents) != 2 {
				t.Errorf("migrate succeeded, and left %d files", len(ents))
			}
			db, err := folio.Open(dst, 0, &folio.Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("migrate succeeded, but its file does not open: %v", err)
			}
			defer db.Close()
			if err := db.View(func(tx *folio.Tx) error {
				for err := range tx.Check() {
					return err
				}
				return nil
			}); err != nil {
				t.Errorf("migrate succeeded, but its file fails Check: %v", err)
			}
		case exitFail:
			oneLine(t, args, stderr)
			noTempNames(t, args, stderr)
			if len(ents) != 1 {
				t.Errorf("migrate failed (%s), and left %d files", strings.TrimSpace(stderr), len(ents))
			}
		default:
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
}
