package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestBucketInlineFileSize: 10,000 buckets of one small key each, 1,000 a
// transaction (4 KiB pages), stay inside their parents' leaves. With a
// page each the file was 41.6 MB; bbolt's is 2.1 MB.
func TestBucketInlineFileSize(t *testing.T) {
	db := openTest(t, &Options{PageSize: 4096})
	for i := 0; i < 10; i++ {
		err := db.Update(func(tx *Tx) error {
			for j := 0; j < 1000; j++ {
				b, err := tx.CreateBucket(fmt.Appendf(nil, "user-%06d", i*1000+j))
				if err != nil {
					return err
				}
				if err := b.Put([]byte("name"), []byte("some value here")); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 4<<20 {
		t.Errorf("file is %d bytes, want <= 4 MiB", fi.Size())
	}
	err = db.View(func(tx *Tx) error {
		for _, i := range []int{0, 4321, 9999} {
			if v := tx.Bucket(fmt.Appendf(nil, "user-%06d", i)).Get([]byte("name")); string(v) != "some value here" {
				t.Errorf("bucket %d: Get = %q", i, v)
			}
		}
		st := tx.Bucket([]byte("user-000007")).Stats()
		if st.InlineBucketN != 1 || st.BucketN != 1 || st.KeyN != 1 || st.LeafPageN != 0 {
			t.Errorf("Stats of an inline bucket = %+v", st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	in, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("file: %d bytes, %d pages used, %d free", fi.Size(), in.HighPage, in.FreePages+in.PendingPages)
}

// inlineTally follows which buckets of a model test are stored inline
// (Bucket.Stats says, for a bucket with no nested ones), and counts the
// buckets that moved into their parent's leaf or out of it between two
// observations.
type inlineTally struct {
	ps     int
	was    map[string]bool
	in     int // paged, then inline
	out    int // inline, then paged
	inline int // observations of an inline bucket
}

// observe compares the file's buckets with the model: a bucket stored
// inline holds no nested bucket and fits the bound (page.InlineMax, its
// values none large); one holding nested buckets has pages.
func (it *inlineTally) observe(t *testing.T, db *DB, model *mbucket) {
	t.Helper()
	if it.was == nil {
		it.was = map[string]bool{}
	}
	now := map[string]bool{}
	err := db.View(func(tx *Tx) error {
		var walk func(path []string, m *mbucket) error
		walk = func(path []string, m *mbucket) error {
			for name, sub := range m.subs {
				p := append(slices.Clip(path), name)
				b, err := walkTx(tx, p)
				if err != nil {
					return err
				}
				st := b.Stats()
				key := strings.Join(p, "/")
				if len(sub.subs) > 0 {
					if st.LeafPageN == 0 {
						return fmt.Errorf("bucket %s holds buckets and has no leaf page: %+v", key, st)
					}
				} else {
					inline := st.InlineBucketN == 1
					size := page.HeaderSize
					for k, v := range sub.kv {
						size += page.HintSize + page.LeafElemSize + len(k) + len(v)
					}
					if inline && size > page.InlineMax(it.ps) {
						return fmt.Errorf("bucket %s is inline with %d bytes of leaf, over %d", key, size, page.InlineMax(it.ps))
					}
					if inline && (st.LeafPageN != 0 || st.KeyN != len(sub.kv)) {
						return fmt.Errorf("inline bucket %s: Stats %+v, model %d keys", key, st, len(sub.kv))
					}
					now[key] = inline
					if was, ok := it.was[key]; ok && was != inline {
						if inline {
							it.in++
						} else {
							it.out++
						}
					}
					if inline {
						it.inline++
					}
				}
				if err := walk(p, sub); err != nil {
					return err
				}
			}
			return nil
		}
		return walk(nil, model)
	})
	if err != nil {
		t.Fatal(err)
	}
	it.was = now
}

// inlineState is what Stats says of bucket path in db: stored inline (in
// its parent's leaf), or with pages; and its keys.
func inlineState(t *testing.T, db *DB, path ...string) (inline bool, keys int) {
	t.Helper()
	err := db.View(func(tx *Tx) error {
		b, err := walkTx(tx, path)
		if err != nil {
			return err
		}
		st := b.Stats()
		inline, keys = st.InlineBucketN == 1 && st.LeafPageN == 0, st.KeyN
		return tx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return inline, keys
}

// TestBucketInlineLifecycle takes one bucket across the inline bound and
// back by every way there is, in direct and WAL mode, checking the file
// after each commit and reopening it (WAL mode: a copy of the file and
// its log taken while open, which replays the log): growing past the
// bound, shrinking below it, a large value, a nested bucket gained and
// lost, a sequence bumped, a rollback, a cursor's deletes, a move to
// another parent, and DeleteBucket.
func TestBucketInlineLifecycle(t *testing.T) {
	for _, wal := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", wal), func(t *testing.T) {
			const ps = 1024
			opts := &Options{PageSize: ps, WAL: wal}
			db := openTest(t, opts)
			step := func(what string, wantInline bool, fn func(b *Bucket) error) {
				t.Helper()
				mustUpdate(t, db, func(tx *Tx) error {
					b, err := tx.CreateBucketIfNotExists([]byte("p"))
					if err != nil {
						return err
					}
					if b, err = b.CreateBucketIfNotExists([]byte("b")); err != nil {
						return err
					}
					return fn(b)
				})
				mustCheck(t, db)
				if wal {
					cp := filepath.Join(t.TempDir(), "copy.db")
					copyFile(t, db.Path(), cp)
					copyDir(t, LogDir(db.Path()), LogDir(cp))
					c, err := Open(cp, 0o600, &Options{WAL: true})
					if err != nil {
						t.Fatalf("%s: open the copy: %v", what, err)
					}
					mustCheck(t, c)
					if inline, _ := inlineState(t, c, "p", "b"); inline != wantInline {
						t.Fatalf("%s: replayed copy: inline %v, want %v", what, inline, wantInline)
					}
					if in, err := c.Info(); err != nil || in.Replayed == 0 {
						t.Fatalf("%s: the copy replayed no commits: %+v, %v", what, in, err)
					}
					if err := c.Close(); err != nil {
						t.Fatal(err)
					}
				} else {
					db = reopen(t, db, opts)
				}
				if inline, _ := inlineState(t, db, "p", "b"); inline != wantInline {
					t.Fatalf("%s: inline %v, want %v", what, inline, wantInline)
				}
			}
			key := func(i int) []byte { return fmt.Appendf(nil, "key-%03d", i) }
			val := []byte("value-0123456789")
			step("one key", true, func(b *Bucket) error { return b.Put(key(0), val) })
			step("past the bound", false, func(b *Bucket) error {
				for i := 1; i < 12; i++ {
					if err := b.Put(key(i), val); err != nil {
						return err
					}
				}
				return nil
			})
			step("below it again", true, func(b *Bucket) error {
				for i := 3; i < 12; i++ {
					if err := b.Delete(key(i)); err != nil {
						return err
					}
				}
				return nil
			})
			step("a large value", false, func(b *Bucket) error { return b.Put(key(50), bytes.Repeat([]byte("L"), ps)) })
			step("the large value gone", true, func(b *Bucket) error { return b.Delete(key(50)) })
			step("a nested bucket", false, func(b *Bucket) error {
				n, err := b.CreateBucket([]byte("n"))
				if err != nil {
					return err
				}
				return n.Put([]byte("k"), []byte("v"))
			})
			if inline, _ := inlineState(t, db, "p", "b", "n"); !inline {
				t.Fatal("the nested bucket is not inline")
			}
			step("the nested bucket gone", true, func(b *Bucket) error { return b.DeleteBucket([]byte("n")) })
			step("a sequence", true, func(b *Bucket) error {
				_, err := b.NextSequence()
				return err
			})
			err := db.Update(func(tx *Tx) error {
				b := tx.Bucket([]byte("p")).Bucket([]byte("b"))
				for i := 20; i < 40; i++ {
					if err := b.Put(key(i), val); err != nil {
						return err
					}
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Fatal(err)
			}
			if inline, keys := inlineState(t, db, "p", "b"); !inline || keys != 3 {
				t.Fatalf("after a rollback: inline %v with %d keys, want inline with 3", inline, keys)
			}
			step("a cursor's deletes", true, func(b *Bucket) error {
				c := b.Cursor()
				for k, _ := c.First(); k != nil; k, _ = c.Next() {
					if bytes.Equal(k, key(1)) {
						if err := c.Delete(); err != nil {
							return err
						}
					}
				}
				return nil
			})
			mustUpdate(t, db, func(tx *Tx) error {
				q, err := tx.CreateBucket([]byte("q"))
				if err != nil {
					return err
				}
				return tx.Bucket([]byte("p")).MoveBucket([]byte("b"), q)
			})
			mustCheck(t, db)
			err = db.View(func(tx *Tx) error {
				b := tx.Bucket([]byte("q")).Bucket([]byte("b"))
				if b == nil || tx.Bucket([]byte("p")).Bucket([]byte("b")) != nil {
					return fmt.Errorf("the move did not move")
				}
				if got := b.Get(key(0)); !bytes.Equal(got, val) {
					return fmt.Errorf("q/b: Get = %q", got)
				}
				if b.Get(key(1)) != nil || b.Sequence() != 1 {
					return fmt.Errorf("q/b: key 1 %q, sequence %d; want none and 1", b.Get(key(1)), b.Sequence())
				}
				return tx.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
			if inline, keys := inlineState(t, db, "q", "b"); !inline || keys != 2 {
				t.Fatalf("moved: inline %v with %d keys, want inline with 2", inline, keys)
			}
			mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("q")).DeleteBucket([]byte("b")) })
			mustCheck(t, db)
			db = reopen(t, db, opts)
			if err := db.View(func(tx *Tx) error {
				if tx.Bucket([]byte("q")).Bucket([]byte("b")) != nil {
					return fmt.Errorf("deleted, and still there")
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBucketInlineReadAllocs: reads of an inline bucket (Get, a cursor's
// Seek, First, Next, Last and Prev, and a whole View opening it) point
// into the parent's page in the mapping and allocate nothing.
func TestBucketInlineReadAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; run without -race to check allocations")
	}
	db := openTest(t, nil)
	mustUpdate(t, db, func(tx *Tx) error {
		p, err := tx.CreateBucket([]byte("p"))
		if err != nil {
			return err
		}
		b, err := p.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 5 {
			if err := b.Put(fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	if inline, _ := inlineState(t, db, "p", "b"); !inline {
		t.Fatal("bucket p/b is not inline")
	}
	tx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	b := tx.Bucket([]byte("p")).Bucket([]byte("b"))
	if n := testing.AllocsPerRun(100, func() {
		if b.Get([]byte("k3")) == nil {
			t.Fatal("missing key")
		}
	}); n != 0 {
		t.Errorf("Get: %v allocs, want 0", n)
	}
	c := b.Cursor()
	if n := testing.AllocsPerRun(100, func() {
		n := 0
		for k, _ := c.Seek([]byte("k1")); k != nil; k, _ = c.Next() {
			n++
		}
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			n++
		}
		if n != 14 {
			t.Fatalf("cursor walks met %d keys, want 14", n)
		}
	}); n != 0 {
		t.Errorf("cursor: %v allocs, want 0", n)
	}
	fn := func(tx *Tx) error {
		if tx.Bucket([]byte("p")).Bucket([]byte("b")).Get([]byte("k4")) == nil {
			t.Fatal("missing")
		}
		return nil
	}
	if n := testing.AllocsPerRun(100, func() { _ = db.View(fn) }); n != 0 {
		t.Errorf("View + Bucket + Bucket + Get: %v allocs, want 0", n)
	}
	// The top-level cache of the snapshot (an inline bucket in the
	// directory's leaf, its leaf remembered too).
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("top"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	if inline, _ := inlineState(t, db, "top"); !inline {
		t.Fatal("bucket top is not inline")
	}
	top := func(tx *Tx) error {
		if got := tx.Bucket([]byte("top")).Get([]byte("k")); string(got) != "v" {
			t.Fatalf("top/k = %q", got)
		}
		return nil
	}
	if n := testing.AllocsPerRun(100, func() { _ = db.View(top) }); n != 0 {
		t.Errorf("View + cached top-level Bucket + Get: %v allocs, want 0", n)
	}
}

// TestBucketInlineDamaged: an inline bucket's leaf damaged inside its
// parent's page (resealed, so only the leaf's own checks can tell) is
// ErrCorrupt naming the parent's page, for Check, for Bucket in a write
// transaction and under VerifyChecksums, and Check accounts no page to
// it. A read without VerifyChecksums checks the leaf as deep as it
// checks a leaf page (page.ReadBucketHeader): damage to its header
// fails Bucket, damage to its contents (key order, flags) may be read,
// as on a page, but nothing panics and an error names the page.
func TestBucketInlineDamaged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(leaf []byte)
		header bool // a leaf page's read finds it too
	}{
		{"key order", func(leaf []byte) { // "k1" becomes "k0", as the key before it
			_, k, _, _ := page.LeafElem(leaf, page.PageCount(leaf), 1)
			k[1] = '0'
		}, false},
		{"flags", func(leaf []byte) { // element 0 claims a nested bucket
			leaf[page.HeaderSize+page.PageCount(leaf)*page.HintSize] = byte(page.LeafBucket)
		}, false},
		{"count", func(leaf []byte) { leaf[6] = 0xff }, true},
		{"page id", func(leaf []byte) { leaf[8] = 7 }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tempPath(t)
			db, err := Open(path, 0o600, &Options{PageSize: 1024})
			if err != nil {
				t.Fatal(err)
			}
			mustUpdate(t, db, func(tx *Tx) error {
				p, err := tx.CreateBucket([]byte("p"))
				if err != nil {
					return err
				}
				if err := p.Put([]byte("paged"), pagedValue(1024)); err != nil {
					return err
				}
				b, err := p.CreateBucket([]byte("b"))
				if err != nil {
					return err
				}
				for _, k := range []string{"k0", "k1", "k2"} {
					if err := b.Put([]byte(k), []byte("v")); err != nil {
						return err
					}
				}
				return nil
			})
			closeChecked(t, db)
			img, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			e := newEditImage(t, img)
			leaf := e.leafOf(t, "p")
			_, v := leafElemValue(t, e.run(leaf), "b")
			if h, err := page.DecodeBucketHeader(v, leaf); err != nil || !h.Inline {
				t.Fatalf("p/b is not inline: %+v, %v", h, err)
			}
			tc.damage(page.BucketLeaf(v))
			e.reseal(leaf)
			vdb, err := openImage(t, "inline-verify.db", e.b, &Options{VerifyChecksums: true})
			if err != nil {
				t.Fatal(err)
			}
			defer vdb.Close()
			err = vdb.View(func(tx *Tx) error {
				if tx.Bucket([]byte("p")).Bucket([]byte("b")) != nil {
					t.Error("VerifyChecksums: a damaged inline bucket opened")
				}
				return tx.Err()
			})
			wantPage(t, "Bucket (VerifyChecksums)", err, leaf)
			db, err = openImage(t, "inline.db", e.b, &Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			err = db.Update(func(tx *Tx) error {
				if tx.Bucket([]byte("p")).Bucket([]byte("b")) != nil {
					t.Error("a write transaction opened a damaged inline bucket")
				}
				return tx.Err()
			})
			wantPage(t, "Bucket (Update)", err, leaf)
			err = db.View(func(tx *Tx) error {
				b := tx.Bucket([]byte("p")).Bucket([]byte("b"))
				if tc.header && b != nil {
					t.Error("a read opened an inline bucket with a damaged header")
				}
				for _, k := range []string{"k0", "k1", "k2"} {
					b.Get([]byte(k))
				}
				c := b.Cursor()
				for k, v := c.First(); k != nil; k, v = c.Next() {
					if v == nil {
						b.Bucket(k)
					}
				}
				_ = b.Stats()
				return tx.Err()
			})
			if tc.header || err != nil {
				wantPage(t, "Bucket (View)", err, leaf)
			}
			errs := checkErrs(db)
			if len(errs) == 0 {
				t.Fatal("Check found nothing")
			}
			for _, err := range errs {
				if msg := err.Error(); strings.Contains(msg, "page accounting") {
					t.Errorf("Check: %v", err)
				}
				wantPage(t, "Check", err, leaf)
			}
		})
	}
}

// TestBucketInlineVersion2File: a version 2 file (every bucket on pages)
// opens, reads, and takes commits that store small buckets inline: a new
// one, and an old one that a commit rewrites below the bound, its page
// freed; the file reopens and checks.
func TestBucketInlineVersion2File(t *testing.T) {
	const ps = 1024
	path := tempPath(t)
	db, err := Open(path, 0o600, &Options{PageSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("old"))
		if err != nil {
			return err
		}
		return b.Put([]byte("big"), pagedValue(ps))
	})
	closeChecked(t, db)
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for slot := range 2 {
		p := img[slot*ps : (slot+1)*ps]
		binary.LittleEndian.PutUint32(p[page.HeaderSize+4:], 2)
		page.Seal(p)
		if m, err := page.DecodeMeta(p, page.ID(slot)); err != nil || m.TxID == 0 {
			t.Fatalf("meta %d: %+v, %v", slot, m, err)
		}
	}
	writeImage(t, path, img)
	db, err = Open(path, 0o600, &Options{PageSize: ps})
	if err != nil {
		t.Fatalf("open a version 2 file: %v", err)
	}
	t.Cleanup(func() { closeChecked(t, db) })
	mustCheck(t, db)
	if inline, keys := inlineState(t, db, "old"); inline || keys != 1 {
		t.Fatalf("bucket old: inline %v, %d keys; want a page and 1 key", inline, keys)
	}
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("new"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("k"), []byte("v")); err != nil {
			return err
		}
		return tx.Bucket([]byte("old")).Put([]byte("big"), []byte("small now"))
	})
	db = reopen(t, db, &Options{PageSize: ps})
	for _, name := range []string{"new", "old"} {
		if inline, keys := inlineState(t, db, name); !inline || keys != 1 {
			t.Errorf("bucket %s: inline %v, %d keys; want inline with 1", name, inline, keys)
		}
	}
	if err := db.View(func(tx *Tx) error {
		if v := tx.Bucket([]byte("old")).Get([]byte("big")); string(v) != "small now" {
			t.Errorf("old/big = %q", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
