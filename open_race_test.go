package folio

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestOpenCreateRace opens one new path (absent, or an empty file) from
// several goroutines at once (each open is its own open file description,
// so they lock each other out as processes would); each writes its own key
// and closes. Every key must be in the file: a database created aside and
// renamed into place must never replace one that another opener created,
// locked and wrote to.
func TestOpenCreateRace(t *testing.T) {
	for _, empty := range []bool{false, true} {
		t.Run(fmt.Sprintf("empty=%v", empty), func(t *testing.T) { testOpenCreateRace(t, empty) })
	}
}

func testOpenCreateRace(t *testing.T, empty bool) {
	const openers = 6
	for round := 0; round < 10; round++ {
		path := filepath.Join(t.TempDir(), "race.db")
		if empty {
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, openers)
		for i := 0; i < openers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := Open(path, 0o600, &Options{PageSize: 1024, NoGrowSync: true})
				if err != nil {
					errs <- err
					return
				}
				err = db.Update(func(tx *Tx) error {
					b, err := tx.CreateBucketIfNotExists([]byte("b"))
					if err != nil {
						return err
					}
					return b.Put([]byte(fmt.Sprint(i)), []byte("v"))
				})
				if cerr := db.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
		db, err := Open(path, 0o600, &Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		var missing []int
		_ = db.View(func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			for i := 0; i < openers; i++ {
				if b == nil || b.Get([]byte(fmt.Sprint(i))) == nil {
					missing = append(missing, i)
				}
			}
			return nil
		})
		mustCheck(t, db)
		_ = db.Close()
		if len(missing) > 0 {
			t.Fatalf("round %d: the commits of openers %v are lost", round, missing)
		}
		matches, _ := filepath.Glob(path + ".new-*")
		if len(matches) > 0 {
			t.Fatalf("round %d: temporary files left: %v", round, matches)
		}
	}
}
