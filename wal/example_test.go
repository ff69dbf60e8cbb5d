package wal_test

import (
	"fmt"
	"log"
	"os"

	"github.com/foliodb/folio/wal"
)

// A committer appends a record and waits until it is durable; recovery
// replays what follows the last checkpoint; a checkpoint truncates.
func Example() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	for _, op := range []string{"put a=1", "put b=2", "del a"} {
		lsn, err := l.Append([]byte(op))
		if err != nil {
			log.Fatal(err)
		}
		if err := l.SyncTo(lsn); err != nil { // the commit is acknowledged here
			log.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		log.Fatal(err)
	}

	// Reopen, as after a crash, and replay everything after checkpoint 1.
	l, err = wal.Open(dir, wal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	err = l.Replay(2, func(lsn uint64, payload []byte) error {
		fmt.Printf("%d %s\n", lsn, payload)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := l.Truncate(l.LastLSN()); err != nil { // after a checkpoint
		log.Fatal(err)
	}
	lsn, _ := l.Append([]byte("put c=3"))
	fmt.Println("next lsn", lsn)
	// Output:
	// 2 put b=2
	// 3 del a
	// next lsn 4
}
