package folio

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/foliodb/folio/page"
)

// Limits: values at MaxValueSize in the smallest pages, and
// write transactions over many buckets.

var limitsDeep = flag.Bool("limits.deep", false, "limits: also commit and read back a 1 GiB value in 1 KiB pages (about 3 GiB of memory, a minute)")

// TestLargestValueRunReadable: the run a value of MaxValueSize
// bytes is written to passes the checks every read of it makes, in every
// page size. A run was refused past 2^20 pages (page.MaxRunPages), which
// a value of 1 GiB takes in 1 KiB pages and one of MaxValueSize in 2 KiB
// pages: Put and Commit took such a value, and every read of it was
// ErrCorrupt ("overflow"), Check reported the database corrupt and its
// pages leaked. The run lives in address space only (MAP_NORESERVE): the
// checks read its header, not its bytes.
func TestLargestValueRunReadable(t *testing.T) {
	for _, ps := range []int{page.MinPageSize, 2048, 4096, page.MaxPageSize} {
		for _, size := range []int{1<<30 - page.HeaderSize + 1, MaxValueSize} {
			pages := page.RunPages(size, ps)
			run, err := syscall.Mmap(-1, 0, pages*ps, syscall.PROT_READ|syscall.PROT_WRITE,
				syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
			if err != nil {
				t.Fatal(err)
			}
			// As btree's writeLarge writes it (the checksum left zero).
			page.PutHeader(run, 7, 1, page.FlagLarge, 0, uint32(pages-1))
			n, err := page.CheckRun(run, 7, ps, page.FlagLarge, 0, false)
			if err != nil {
				t.Errorf("page size %d, a %d-byte value: its run of %d pages: %v", ps, size, pages, err)
			} else if v, err := page.LargeValue(run[:n], page.LargeRef{Page: 7, Size: uint32(size)}); err != nil || len(v) != size {
				t.Errorf("page size %d: a %d-byte value reads as %d bytes: %v", ps, size, len(v), err)
			}
			if err := syscall.Munmap(run); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Past the limit, a damaged overflow count is still refused, and the
	// message's bound is one the count passes.
	const ps = page.MinPageSize
	run := make([]byte, 4*ps)
	page.PutHeader(run, 7, 1, page.FlagLarge, 0, page.MaxRunPages)
	_, err := page.CheckRun(run, 7, ps, page.FlagLarge, 0, false)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("an overflow of MaxRunPages: %v, want ErrCorrupt", err)
	}
	if want := "at most 4 pages"; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Errorf("%v: does not say %q", err, want)
	}
}

// TestGiantValueDeep commits a value of 1 GiB in 1 KiB pages,
// reads it back in the transaction after and after a reopen, and checks
// the file. Before the fix the commit succeeded and every read after it
// failed (ErrCorrupt, "overflow"). Only with -limits.deep: it
// takes about 3 GiB of memory and a minute.
func TestGiantValueDeep(t *testing.T) {
	if !*limitsDeep {
		t.Skip("-limits.deep not set (TestLargestValueRunReadable checks the limit)")
	}
	const size = 1 << 30
	db := openTest(t, &Options{PageSize: page.MinPageSize, NoSync: true})
	v := make([]byte, size)
	for i := 0; i < size; i += 4096 {
		v[i] = byte(i >> 12)
	}
	v[size-1] = 0xee
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("giant"), v)
	})
	read := func(db *DB) {
		t.Helper()
		if err := db.View(func(tx *Tx) error {
			if got := tx.Bucket([]byte("b")).Get([]byte("giant")); !bytes.Equal(got, v) {
				return fmt.Errorf("the %d-byte value reads back as %d bytes", size, len(got))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	read(db)
	db = reopen(t, db, &Options{NoSync: true})
	read(db)
	mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Delete([]byte("giant")) })
}

// TestManyBucketsWriteMemory: a write transaction that changes
// one key in each of many small buckets costs about what it changes. Each
// bucket's tree took a chunk of 2048 inodes (112 KiB) and a slab of 64
// nodes for its first materialised node, held to the commit: a Put into
// each of 100,000 one-leaf buckets took 12 GB, and "folio load" of a dump
// of 10,000 one-key buckets into a database holding them 885 MB (64 MB
// into a new one). The transaction's trees now cut from one slab.
func TestManyBucketsWriteMemory(t *testing.T) {
	const n = 2000
	db := openTest(t, &Options{PageSize: 1024, NoSync: true})
	name := func(i int) []byte { return fmt.Appendf(nil, "bucket%05d", i) }
	mustUpdate(t, db, func(tx *Tx) error {
		for i := range n {
			b, err := tx.CreateBucket(name(i))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("k"), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	mustUpdate(t, db, func(tx *Tx) error {
		for i := range n {
			if err := tx.Bucket(name(i)).Put([]byte("k2"), []byte("v2")); err != nil {
				return err
			}
		}
		return nil
	})
	runtime.ReadMemStats(&m1)
	// Each bucket's page (1 KiB), its Bucket, node, inodes and key copy:
	// a few KiB.
	if per := (m1.TotalAlloc - m0.TotalAlloc) / n; per > 16<<10 {
		t.Errorf("a write transaction putting a key in each of %d buckets allocated %d bytes a bucket, want at most 16 KiB", n, per)
	}
	if err := db.View(func(tx *Tx) error {
		for i := range n {
			if v := tx.Bucket(name(i)).Get([]byte("k2")); string(v) != "v2" {
				return fmt.Errorf("bucket %d: k2 = %q", i, v)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestLongBucketNameInErrors: errors naming a bucket clip its
// path, as they clip keys. A bucket's name may be MaxKeySize bytes, and
// every refusal in it (an empty key, a key too long, a deleted bucket)
// repeated the whole 32 KiB name.
func TestLongBucketNameInErrors(t *testing.T) {
	db := openTest(t, nil)
	long := bytes.Repeat([]byte{'n'}, MaxKeySize)
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket(long)
		if err != nil {
			return err
		}
		n, err := b.CreateBucket([]byte("nested"))
		if err != nil {
			return err
		}
		_, err = b.CreateBucket(nil)
		errs := []error{b.Put(nil, []byte("v")), b.Put(append(long, 'x'), nil), err}
		if err := tx.DeleteBucket(long); err != nil {
			return err
		}
		errs = append(errs, n.Put([]byte("k"), nil), b.SetSequence(1))
		for i, err := range errs {
			if err == nil {
				t.Errorf("error %d: nil", i)
			} else if msg := err.Error(); len(msg) > 400 || !strings.Contains(msg, " bytes)") {
				t.Errorf("error %d: a %d-byte message that does not say the name's length: %.200s", i, len(msg), msg)
			}
		}
		return nil
	})
}

// TestOpenErrorNamesPathOnce: an Open refused by the system names
// the file once, as every other Open error does: a read-only Open of a
// missing file said "folio: open P: open P: no such file or directory".
func TestOpenErrorNamesPathOnce(t *testing.T) {
	path := tempPath(t)
	_, err := Open(path, 0o600, &Options{ReadOnly: true})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read-only Open of a missing file: %v, want fs.ErrNotExist", err)
	}
	if n := strings.Count(err.Error(), path); n != 1 {
		t.Errorf("%v: names the file %d times, want once", err, n)
	}
}
