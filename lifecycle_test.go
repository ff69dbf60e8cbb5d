package folio

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestSyncReadOnly calls DB.Sync on a read-only database: there is
// nothing to sync, so it succeeds, as bbolt's does, and does not mark
// the database as failed.
func TestSyncReadOnly(t *testing.T) {
	path := tempPath(t)
	db, err := Open(path, 0o600, &Options{PageSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, 0o600, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closeChecked(t, db)
	if err := db.Sync(); err != nil {
		t.Errorf("Sync of a read-only database: %v", err)
	}
	if s := db.Stats().SyncFailed; s != "" {
		t.Errorf("Stats().SyncFailed after Sync of a read-only database: %s", s)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Sync(); !errors.Is(err, ErrDatabaseNotOpen) {
		t.Errorf("Sync after Close: %v, want ErrDatabaseNotOpen", err)
	}
}

// TestCloseWhileBusy closes a database while readers, Batch callers and
// Update callers are running (twice, from two goroutines): Close waits
// for what is in flight, every later call fails with ErrDatabaseNotOpen,
// nothing hangs or races, and every acknowledged write is in the file.
func TestCloseWhileBusy(t *testing.T) {
	path := tempPath(t)
	db, err := Open(path, 0o600, &Options{PageSize: 1024, NoGrowSync: true})
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	const writers, readers = 6, 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string]bool{}
	started := make(chan struct{}, writers+readers)
	closedErr := func(who string, err error) {
		if !errors.Is(err, ErrDatabaseNotOpen) {
			t.Errorf("%s after Close: %v, want ErrDatabaseNotOpen", who, err)
		}
	}
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				k := fmt.Sprintf("w%d-%d", w, i)
				fn := func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte(k), []byte("v")) }
				var err error
				if w%2 == 0 {
					err = db.Batch(fn)
				} else {
					err = db.Update(fn)
				}
				if i == 2 {
					started <- struct{}{}
				}
				if err != nil {
					closedErr("write", err)
					return
				}
				mu.Lock()
				acked[k] = true
				mu.Unlock()
			}
		}()
	}
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				var err error
				if r%2 == 0 {
					err = db.View(func(tx *Tx) error {
						_ = tx.Bucket([]byte("b")).ForEach(func(k, v []byte) error { return nil })
						return nil
					})
				} else {
					var tx *Tx
					if tx, err = db.Begin(false); err == nil {
						_ = tx.Bucket([]byte("b")).Get([]byte("w0-0"))
						err = tx.Rollback()
					}
				}
				if i == 2 {
					started <- struct{}{}
				}
				if err != nil {
					closedErr("read", err)
					return
				}
			}
		}()
	}
	for i := 0; i < writers+readers; i++ {
		<-started
	}
	closeErrs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() { closeErrs <- db.Close() }()
	}
	for i := 0; i < 2; i++ {
		if err := <-closeErrs; err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	wg.Wait()
	if err := db.Close(); err != nil {
		t.Errorf("third Close: %v", err)
	}
	db, err = Open(path, 0o600, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closeChecked(t, db)
	if err := db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		for k := range acked {
			if b.Get([]byte(k)) == nil {
				t.Errorf("acknowledged key %s lost", k)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d writes acknowledged before Close", len(acked))
}

// TestStatsInfoWhileBusy reads Stats and Info while writers commit and
// readers come and go (run it under -race): the figures are consistent,
// free and pending pages never exceed the file, and no reader is counted
// open once all have ended.
func TestStatsInfoWhileBusy(t *testing.T) {
	db := openTest(t, &Options{PageSize: 1024, NoSync: true})
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 150; i++ {
				if err := db.Update(func(tx *Tx) error {
					b := tx.Bucket([]byte("b"))
					if i%3 == 2 {
						return b.Delete([]byte(fmt.Sprintf("w%d-%d", w, i-1)))
					}
					return b.Put([]byte(fmt.Sprintf("w%d-%d", w, i)), make([]byte, 300))
				}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = db.View(func(tx *Tx) error { _ = tx.Bucket([]byte("b")).Get([]byte("w0-0")); return nil })
		}
	}()
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			st := db.Stats()
			in, err := db.Info()
			if err != nil {
				t.Error(err)
				return
			}
			if st.FreePageN < 0 || st.PendingPageN < 0 || st.OpenTxN < 0 {
				t.Errorf("stats: %+v", st)
			}
			if int64(in.FreePages+in.PendingPages)*int64(in.PageSize) > in.FileSize {
				t.Errorf("info: %d free and %d pending pages in a file of %d bytes", in.FreePages, in.PendingPages, in.FileSize)
			}
		}
	}()
	wg.Wait()
	close(stop)
	readers.Wait()
	mustUpdate(t, db, func(tx *Tx) error { return nil })
	st := db.Stats()
	if st.OpenTxN != 0 {
		t.Errorf("%d read transactions open when all ended", st.OpenTxN)
	}
	in, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	if in.HighPage <= 2 || int64(in.HighPage)*int64(in.PageSize) > in.FileSize {
		t.Errorf("info: high page %d, file %d bytes", in.HighPage, in.FileSize)
	}
}

// TestBatchMixedOutcomes runs concurrent Batch calls of which some fail
// and some panic after writing: each caller gets its own outcome (nil,
// its error, or its panic), the writes of failed and panicking calls are
// not visible, and every successful call's write is.
func TestBatchMixedOutcomes(t *testing.T) {
	db := openTest(t, &Options{PageSize: 1024, NoSync: true})
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	errBoom := errors.New("boom")
	const callers = 40
	outcome := make([]any, callers)
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					outcome[i] = r
				}
			}()
			outcome[i] = db.Batch(func(tx *Tx) error {
				if err := tx.Bucket([]byte("b")).Put([]byte(fmt.Sprint(i)), []byte("v")); err != nil {
					return err
				}
				switch i % 5 {
				case 1:
					return errBoom
				case 3:
					panic(fmt.Sprint("panic ", i))
				}
				return nil
			})
		}()
	}
	wg.Wait()
	_ = db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := 0; i < callers; i++ {
			got := b.Get([]byte(fmt.Sprint(i)))
			switch i % 5 {
			case 1:
				if err, _ := outcome[i].(error); !errors.Is(err, errBoom) || got != nil {
					t.Errorf("call %d: %v, key %q; want its error and no key", i, outcome[i], got)
				}
			case 3:
				if outcome[i] != fmt.Sprint("panic ", i) || got != nil {
					t.Errorf("call %d: %v, key %q; want its panic and no key", i, outcome[i], got)
				}
			default:
				if outcome[i] != nil || got == nil {
					t.Errorf("call %d: %v, key %q; want success and the key", i, outcome[i], got)
				}
			}
		}
		return nil
	})
}
