package folio

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestWALWriteToWaitsForInflightSync: in WAL mode a write transaction may
// begin on a logged commit whose log sync is still running. Its WriteTo
// copied that commit at once, and when the sync then failed the copy
// held a commit the database never acknowledged. It now waits for the
// sync, and returns ErrSyncFailed if it failed.
func TestWALWriteToWaitsForInflightSync(t *testing.T) {
	for _, fail := range []bool{false, true} {
		name := map[bool]string{false: "synced", true: "failed"}[fail]
		t.Run(name, func(t *testing.T) {
			db, g, _ := openGated(t)
			g.hold()
			errs := make(chan error, 1)
			putHeld(t, db, g, errs, "k1", 1)
			type result struct {
				copy []byte
				err  error
			}
			copied := make(chan result, 1)
			go func() {
				tx, err := db.Begin(true)
				if err != nil {
					copied <- result{err: err}
					return
				}
				defer tx.Rollback()
				var buf bytes.Buffer
				_, err = tx.WriteTo(&buf)
				copied <- result{buf.Bytes(), err}
			}()
			select {
			case r := <-copied:
				t.Fatalf("WriteTo returned (%v) while the commit it began on waited for its sync", r.err)
			case <-time.After(50 * time.Millisecond):
			}
			var cause error
			if fail {
				cause = errors.New("injected EIO")
			}
			g.release(cause)
			commitErr := <-errs
			r := <-copied
			if fail {
				if !errors.Is(commitErr, ErrSyncFailed) || !errors.Is(r.err, ErrSyncFailed) {
					t.Fatalf("commit: %v, WriteTo: %v; want ErrSyncFailed for both", commitErr, r.err)
				}
				return
			}
			if commitErr != nil || r.err != nil {
				t.Fatalf("commit: %v, WriteTo: %v", commitErr, r.err)
			}
			cp, err := openImage(t, "copy.db", r.copy, &Options{PageSize: 1024})
			if err != nil {
				t.Fatal(err)
			}
			defer closeChecked(t, cp)
			if err := cp.View(func(tx *Tx) error {
				if tx.Bucket([]byte("b")).Get([]byte("k1")) == nil {
					return errors.New("the copy lacks k1, acknowledged before WriteTo returned")
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
