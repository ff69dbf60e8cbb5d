package folio

import (
	"errors"
	"testing"
	"time"
)

// A scan over a tree whose branches repeat a child (every checksum
// intact) stops with ErrCorrupt at the first leaf whose keys go back,
// forward and backward, instead of reading every path (fanout^depth
// leaves): ForEach, dump and compact scan with cursors.
func TestDAGScan(t *testing.T) {
	path, _, chain := dagImage(t, dagDepth, dagFanout)
	leaf := chain[len(chain)-1]
	db := openEdited(t, path)
	var err error
	for _, dir := range []string{"forward", "backward"} {
		var seen int
		before(t, 20*time.Second, dir+" scan", func() {
			err = db.View(func(tx *Tx) error {
				c := tx.Bucket([]byte("a")).Cursor()
				if dir == "forward" {
					for k, _ := c.First(); k != nil; k, _ = c.Next() {
						seen++
					}
				} else {
					for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
						seen++
					}
				}
				return nil
			})
		})
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Page != leaf {
			t.Errorf("%s scan: %v after %d keys; want ErrCorrupt naming page %d", dir, err, seen, leaf)
		}
	}
	// The healthy bucket beside it scans whole.
	err = db.View(func(tx *Tx) error {
		n := 0
		err := tx.Bucket([]byte("b")).ForEach(func(k, v []byte) error { n++; return nil })
		if want := 4 * (dagDepth + 1); err == nil && n != want {
			t.Errorf("bucket b: %d keys, want %d", n, want)
		}
		return err
	})
	if err != nil {
		t.Errorf("bucket b: %v", err)
	}
}
