package folio

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestBucketStatsInuse: LeafInuse, BranchInuse and InlineBucketInuse
// count every byte of folio's node layout: the header, each element's
// key hint and element, its key and value. An inline bucket's
// InlineBucketInuse is its leaf's length, at most page.InlineMax; the
// pages' counts add up to the bytes their pages use, read from the file.
func TestBucketStatsInuse(t *testing.T) {
	const ps = 4096
	db := openTest(t, &Options{PageSize: ps})
	val := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 40+i%70) }
	var inlineLeaf, oneLeaf int
	mustUpdate(t, db, func(tx *Tx) error {
		small, err := tx.CreateBucket([]byte("small"))
		if err != nil {
			return err
		}
		inlineLeaf = page.HeaderSize
		for i := range 3 {
			k := fmt.Appendf(nil, "s%d", i)
			if err := small.Put(k, val(i)); err != nil {
				return err
			}
			inlineLeaf += page.HintSize + page.LeafElemSize + len(k) + len(val(i))
		}
		one, err := tx.CreateBucket([]byte("one"))
		if err != nil {
			return err
		}
		oneLeaf = page.HeaderSize
		for i := range 30 {
			k := fmt.Appendf(nil, "o%02d", i)
			if err := one.Put(k, val(i)); err != nil {
				return err
			}
			oneLeaf += page.HintSize + page.LeafElemSize + len(k) + len(val(i))
		}
		many, err := tx.CreateBucket([]byte("many"))
		if err != nil {
			return err
		}
		for i := range 2000 {
			if err := many.Put(fmt.Appendf(nil, "m%05d", i*7919%2000), val(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if oneLeaf > ps || oneLeaf <= page.InlineMax(ps) || inlineLeaf > page.InlineMax(ps) {
		t.Fatalf("test data: leaf of %d bytes, inline leaf of %d", oneLeaf, inlineLeaf)
	}
	data, err := os.ReadFile(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *Tx) error {
		if s := tx.Bucket([]byte("small")).Stats(); s.InlineBucketN != 1 || s.InlineBucketInuse != inlineLeaf {
			t.Errorf("small: InlineBucketN %d, InlineBucketInuse %d; want 1 and %d (its leaf)", s.InlineBucketN, s.InlineBucketInuse, inlineLeaf)
		}
		if s := tx.Bucket([]byte("one")).Stats(); s.LeafPageN != 1 || s.BranchPageN != 0 || s.LeafInuse != oneLeaf {
			t.Errorf("one: %d leaf and %d branch pages, LeafInuse %d; want 1, 0 and %d", s.LeafPageN, s.BranchPageN, s.LeafInuse, oneLeaf)
		}
		// Every page of the file a tree holds, read from the file.
		var branch, leaf int
		for id := 2; ; id++ {
			info, err := tx.Page(id)
			if err != nil {
				return err
			}
			if info == nil {
				break
			}
			if info.Type != "branch" && info.Type != "leaf" {
				continue
			}
			p := data[id*ps : (id+1+info.OverflowCount)*ps]
			n := page.PageCount(p)
			if info.Type == "branch" {
				branch += page.HeaderSize + n*(page.HintSize+page.BranchElemSize)
				for i := range n {
					k, _ := page.BranchKey(p, i)
					branch += len(k)
				}
				continue
			}
			leaf += page.HeaderSize + n*(page.HintSize+page.LeafElemSize)
			for i := range n {
				k, _ := page.LeafKey(p, i)
				_, v, _ := page.LeafValue(p, i)
				leaf += len(k) + len(v)
			}
		}
		s := tx.Cursor().Bucket().Stats()
		if s.BranchPageN == 0 || s.BranchInuse != branch || s.LeafInuse != leaf || s.InlineBucketInuse != inlineLeaf {
			t.Errorf("the top level: %d branch pages, BranchInuse %d, LeafInuse %d, InlineBucketInuse %d; the file's pages use %d and %d, the inline leaf %d",
				s.BranchPageN, s.BranchInuse, s.LeafInuse, s.InlineBucketInuse, branch, leaf, inlineLeaf)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBucketStatsCommittedState: in a write transaction, Bucket.Stats
// describes the bucket as committed, as its comment says: puts and
// deletes of the transaction show only once it commits.
func TestBucketStatsCommittedState(t *testing.T) {
	db := misuseFixture(t, &Options{PageSize: 1024})
	mustUpdate(t, db, func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		before := b.Stats()
		for i := range 50 {
			if err := b.Put(fmt.Appendf(nil, "x%03d", i), make([]byte, 100)); err != nil {
				return err
			}
		}
		if err := b.Delete([]byte("k1")); err != nil {
			return err
		}
		if s := b.Stats(); s != before {
			t.Errorf("Stats after the transaction's puts and delete: %+v, want the committed %+v", s, before)
		}
		return nil
	})
	if err := db.View(func(tx *Tx) error {
		// k2, nested and its x, the 50 puts; k1 deleted.
		if s := tx.Bucket([]byte("b")).Stats(); s.KeyN != 53 || s.LeafPageN < 2 {
			t.Errorf("Stats once committed: %d keys, %d leaves; want 53 keys on more than a leaf", s.KeyN, s.LeafPageN)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
