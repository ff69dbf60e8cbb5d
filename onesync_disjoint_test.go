package folio

import (
	"fmt"
	"testing"

	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/tx"
)

// TestOneSyncRunsSpareOlderMeta pins what falling back relies on:
// a one-sync commit writes no page that the meta it falls back to lists
// (or reaches), so that meta's own listed runs still verify when Open
// needs it. For every commit of the numbered workload (puts, deletes,
// bucket deletes, large values, growth), with and without a persisted
// free list and with a reader holding an old snapshot now and then, the
// newest meta's runs must be disjoint from the other slot's runs and the
// other slot's meta must still verify against the file as written.
func TestOneSyncRunsSpareOlderMeta(t *testing.T) {
	for _, c := range []struct {
		ps         int
		noFreelist bool
	}{{1024, false}, {1024, true}, {4096, false}} {
		t.Run(fmt.Sprintf("page=%d,nofreelistsync=%v", c.ps, c.noFreelist), func(t *testing.T) {
			seed := testSeed(t)
			ps := c.ps
			st := newCrashStorage(t, tx.InitialImage(ps))
			db, err := tx.Open("spare.db", st, &Options{NoFreelistSync: c.noFreelist})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.AllocSize = 4 * ps
			var reader *Tx
			oneSync := 0
			for i := 1; i <= 60; i++ {
				if i%7 == 3 && reader == nil {
					if reader, err = db.Begin(false); err != nil {
						t.Fatal(err)
					}
				} else if i%7 == 6 && reader != nil {
					_ = reader.Rollback()
					reader = nil
				}
				ops := workTxn(seed, i, ps)
				if err := db.Update(func(tx *Tx) error { return applyTxn(tx, i, ops) }); err != nil {
					t.Fatalf("txn %d: %v", i, err)
				}
				img := st.contents(t)
				info, err := db.Info()
				if err != nil {
					t.Fatal(err)
				}
				newest := page.MetaCommitRuns(img[info.MetaSlot*ps:], nil)
				if len(newest) == 0 {
					continue
				}
				oneSync++
				o := 1 - info.MetaSlot
				om, err := page.DecodeMeta(img[o*ps:], page.ID(o))
				if err != nil {
					t.Fatalf("txn %d: the older meta: %v", i, err)
				}
				older := page.MetaCommitRuns(img[o*ps:], nil)
				for _, a := range newest {
					for _, b := range older {
						if a.ID < b.ID+page.ID(b.Pages) && b.ID < a.ID+page.ID(a.Pages) {
							t.Errorf("txn %d: a run it wrote (%+v) overlaps one the older meta lists (%+v)", i, a, b)
						}
					}
				}
				if err := page.VerifyCommit(img, ps, &om, older); err != nil {
					t.Errorf("txn %d: the older meta (txid %d) no longer verifies: %v", i, om.TxID, err)
				}
			}
			if reader != nil {
				_ = reader.Rollback()
			}
			if oneSync < 30 {
				t.Errorf("only %d of 60 commits synced once", oneSync)
			}
			mustCheck(t, db)
		})
	}
}
