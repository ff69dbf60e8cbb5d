package folio_test

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"

	"github.com/foliodb/folio"
)

// exampleDB opens a fresh database in a temporary directory.
func exampleDB() (*folio.DB, func()) {
	dir, err := os.MkdirTemp("", "folio-example")
	if err != nil {
		log.Fatal(err)
	}
	db, err := folio.Open(filepath.Join(dir, "example.db"), 0o600, nil)
	if err != nil {
		log.Fatal(err)
	}
	return db, func() { db.Close(); os.RemoveAll(dir) }
}

// Open a database, write in an Update and read in a View.
func Example() {
	dir, _ := os.MkdirTemp("", "folio-example")
	defer os.RemoveAll(dir)
	db, err := folio.Open(filepath.Join(dir, "app.db"), 0o600, &folio.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	err = db.Update(func(tx *folio.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("config"))
		if err != nil {
			return err
		}
		return b.Put([]byte("colour"), []byte("blue"))
	})
	if err != nil {
		log.Fatal(err)
	}
	err = db.View(func(tx *folio.Tx) error {
		v := tx.Bucket([]byte("config")).Get([]byte("colour"))
		fmt.Printf("colour = %s\n", v) // v is valid only inside the transaction
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: colour = blue
}

// Buckets nest; a nested bucket shows up in its parent's cursor with a nil
// value, and NextSequence gives ids starting at 1.
func ExampleBucket_CreateBucket() {
	db, done := exampleDB()
	defer done()
	_ = db.Update(func(tx *folio.Tx) error {
		users, _ := tx.CreateBucket([]byte("users"))
		alice, _ := users.CreateBucket([]byte("alice"))
		id, _ := alice.NextSequence()
		_ = alice.Put([]byte("id"), []byte(fmt.Sprint(id)))
		_ = users.Put([]byte("count"), []byte("1"))
		return nil
	})
	_ = db.View(func(tx *folio.Tx) error {
		return tx.Bucket([]byte("users")).ForEach(func(k, v []byte) error {
			if v == nil {
				fmt.Printf("%s/ (bucket, id %s)\n", k, tx.Bucket([]byte("users")).Bucket(k).Get([]byte("id")))
			} else {
				fmt.Printf("%s = %s\n", k, v)
			}
			return nil
		})
	})
	// Output:
	// alice/ (bucket, id 1)
	// count = 1
}

// A range scan: Seek to the start, stop past the end.
func ExampleCursor_range() {
	db, done := exampleDB()
	defer done()
	_ = db.Update(func(tx *folio.Tx) error {
		b, _ := tx.CreateBucket([]byte("events"))
		for _, day := range []string{"2026-11-01", "2026-11-05", "2026-11-09", "2026-12-01"} {
			_ = b.Put([]byte(day), []byte("event"))
		}
		return nil
	})
	_ = db.View(func(tx *folio.Tx) error {
		c := tx.Bucket([]byte("events")).Cursor()
		min, max := []byte("2026-11-02"), []byte("2026-11-30")
		for k, _ := c.Seek(min); k != nil && bytes.Compare(k, max) <= 0; k, _ = c.Next() {
			fmt.Println(string(k))
		}
		return nil
	})
	// Output:
	// 2026-11-05
	// 2026-11-09
}

// A prefix scan.
func ExampleCursor_prefix() {
	db, done := exampleDB()
	defer done()
	_ = db.Update(func(tx *folio.Tx) error {
		b, _ := tx.CreateBucket([]byte("files"))
		for _, p := range []string{"etc/hosts", "usr/bin/go", "usr/lib/libc.so", "var/log"} {
			_ = b.Put([]byte(p), nil)
		}
		return nil
	})
	_ = db.View(func(tx *folio.Tx) error {
		c := tx.Bucket([]byte("files")).Cursor()
		prefix := []byte("usr/")
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			fmt.Println(string(k))
		}
		return nil
	})
	// Output:
	// usr/bin/go
	// usr/lib/libc.so
}

// Batch lets concurrent writers share one commit. The function may run
// more than once, so it must be idempotent.
func ExampleDB_Batch() {
	db, done := exampleDB()
	defer done()
	_ = db.Update(func(tx *folio.Tx) error {
		_, err := tx.CreateBucket([]byte("counters"))
		return err
	})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := db.Batch(func(tx *folio.Tx) error {
				return tx.Bucket([]byte("counters")).Put([]byte(fmt.Sprintf("worker%d", i)), []byte("done"))
			})
			if err != nil {
				log.Print(err)
			}
		}(i)
	}
	wg.Wait()
	_ = db.View(func(tx *folio.Tx) error {
		n := 0
		_ = tx.Bucket([]byte("counters")).ForEach(func(k, v []byte) error { n++; return nil })
		fmt.Println(n, "workers recorded")
		return nil
	})
	// Output: 8 workers recorded
}

// WAL mode: a commit appends one record to a write-ahead log beside the
// file (LogDir) and syncs only the log. Checkpoint writes the commits into
// the file itself and lets the log drop them; WAL mode also checkpoints
// by itself (Options.CheckpointBytes, CheckpointInterval) and on Close.
func ExampleDB_Checkpoint() {
	dir, err := os.MkdirTemp("", "folio-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "app.db")
	db, err := folio.Open(path, 0o600, &folio.Options{WAL: true})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	for _, colour := range []string{"red", "green", "blue"} {
		err := db.Update(func(tx *folio.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("config"))
			if err != nil {
				return err
			}
			return b.Put([]byte("colour"), []byte(colour))
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	info, err := db.Info()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("WAL mode:", info.WAL)
	fmt.Println("commits only in the log:", info.LogPending)

	if err := db.Checkpoint(); err != nil {
		log.Fatal(err)
	}
	info, err = db.Info()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after Checkpoint:", info.LogPending)
	if _, err := os.Stat(folio.LogDir(path)); err == nil {
		fmt.Println("the log stays in", filepath.Base(folio.LogDir(path)))
	}
	// Output:
	// WAL mode: true
	// commits only in the log: 3
	// after Checkpoint: 0
	// the log stays in app.db.wal
}

// Errors are sentinel values wrapped with the file, bucket or key they
// concern: test them with errors.Is, as == does not match a wrapped one.
// (A *folio.CorruptError, behind ErrCorrupt, names the damaged page:
// errors.As finds it.)
func Example_errors() {
	db, done := exampleDB()
	defer done()

	err := db.Update(func(tx *folio.Tx) error {
		if _, err := tx.CreateBucket([]byte("users")); err != nil {
			return err
		}
		_, err := tx.CreateBucket([]byte("users"))
		return err // Update rolls back
	})
	fmt.Println(errors.Is(err, folio.ErrBucketExists), err == folio.ErrBucketExists)
	fmt.Println(err)

	err = db.View(func(tx *folio.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("users"))
		if err != nil {
			return err
		}
		return b.Put([]byte("alice"), []byte("admin"))
	})
	fmt.Println(errors.Is(err, folio.ErrTxNotWritable))

	err = db.Update(func(tx *folio.Tx) error {
		return tx.Bucket([]byte("users")).Put([]byte("alice"), []byte("admin"))
	})
	fmt.Println(errors.Is(err, folio.ErrBucketNotFound))
	// Output:
	// true false
	// folio: bucket already exists: "users" in the top level
	// true
	// true
}

// Copy a database into a new, packed file while it stays in use.
func ExampleCompact() {
	src, done := exampleDB()
	defer done()
	err := src.Update(func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("jobs"))
		if err != nil {
			return err
		}
		for i := range 1000 {
			if err := b.Put(fmt.Appendf(nil, "job-%04d", i), []byte("queued")); err != nil {
				return err
			}
		}
		for i := range 900 { // most jobs are done: their pages go free
			if err := b.Delete(fmt.Appendf(nil, "job-%04d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}

	dst, done2 := exampleDB()
	defer done2()
	if err := folio.Compact(dst, src, 64<<10); err != nil {
		log.Fatal(err)
	}
	_ = dst.View(func(tx *folio.Tx) error {
		fmt.Println(tx.Bucket([]byte("jobs")).Stats().KeyN, "jobs copied")
		return nil
	})
	// Output: 100 jobs copied
}
