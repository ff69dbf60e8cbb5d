package folio

import (
	"fmt"
	"os"
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
