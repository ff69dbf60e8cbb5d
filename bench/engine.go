package main

import (
	"fmt"
	"sort"
)

// An Engine is one store under test, driven through the primitives the
// workloads need. Each method is one whole transaction, written the way a
// program using that store's API would write it, so what is timed is the
// store plus the usual calling pattern, not a harness of our own.
//
// Durability is each store's default: every write transaction is
// committed and synced before its method returns.
type Engine interface {
	// Open opens (creating if needed) the database at path.
	Open(path string) error
	Close() error

	// PutTx puts the pairs (keys[i], vals[i]) in one write transaction.
	// The slices stay untouched until the next call (bbolt keeps references
	// to both until its commit).
	PutTx(keys, vals [][]byte) error
	// BatchPut puts one pair through the store's way of sharing commits
	// between goroutines (DB.Batch for folio and bbolt); it may be called
	// from many goroutines at once.
	BatchPut(key, val []byte) error

	// Get1 looks key up in a read transaction of its own and reports
	// whether it was found. It may be called from many goroutines at once.
	Get1(key []byte) (bool, error)
	// GetTx looks up every key in one read transaction and returns how
	// many were found.
	GetTx(keys [][]byte) (int, error)
	// Scan walks every pair with a cursor in one read transaction and
	// returns the count and the total length of the keys and values.
	Scan() (n int, bytes int64, err error)

	// Sizes returns the file's length and the part the store uses (its
	// high water mark), in bytes.
	Sizes() (file, used int64, err error)
}

// A logSizer is an engine that keeps a write-ahead log beside its file;
// LogSize is the log's size on disk in bytes.
type logSizer interface {
	LogSize() (int64, error)
}

var engines = map[string]func() Engine{}

// register adds an engine; called from the engine files' init functions.
func register(name string, f func() Engine) { engines[name] = f }

func engineNames() []string {
	var names []string
	for n := range engines {
		names = append(names, n)
	}
	// folio first (direct, then WAL mode), bbolt (the reference) next,
	// the rest after.
	order := map[string]int{"folio": 0, "folio-wal": 1, "bbolt": 2}
	sort.Slice(names, func(i, j int) bool {
		oi, ok := order[names[i]]
		if !ok {
			oi = len(order)
		}
		oj, ok := order[names[j]]
		if !ok {
			oj = len(order)
		}
		if oi != oj {
			return oi < oj
		}
		return names[i] < names[j]
	})
	return names
}

func newEngine(name string) (Engine, error) {
	f, ok := engines[name]
	if !ok {
		return nil, fmt.Errorf("unknown engine %q (built: %v)", name, engineNames())
	}
	return f(), nil
}

// bucketName is the one bucket folio and bbolt keep the data in; LMDB
// uses its unnamed root database.
var bucketName = []byte("bench")
