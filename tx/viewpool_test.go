package tx_test

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/tx"
)

// A View that opens many nested buckets leaves its pooled Tx no bigger
// than a View that opens a few: it kept every handle as a spare (and the
// slices holding them), ~1 KiB a bucket, held for as long as later Views
// kept reusing that Tx.
func TestScaleViewSpareBuckets(t *testing.T) {
	const n = 5000
	db, err := folio.Open(filepath.Join(t.TempDir(), "db"), 0o600, &folio.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("nest"))
		if err != nil {
			return err
		}
		for i := range n {
			if _, err := b.CreateBucket(binary.BigEndian.AppendUint64(nil, uint64(i))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	kept, err := tx.PooledViewKeeps(db, func(rt *tx.Tx) error {
		nest := rt.Bucket([]byte("nest"))
		return nest.ForEach(func(k, _ []byte) error {
			if nest.Bucket(k) == nil {
				t.Errorf("bucket %x missing", k)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if kept > 256 {
		t.Errorf("a pooled Tx keeps %d bucket handles after a View opened %d buckets", kept, n+1)
	}
}
