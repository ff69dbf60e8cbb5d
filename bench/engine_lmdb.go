//go:build cgo

package main

import (
	"os"

	"github.com/PowerDNS/lmdb-go/lmdb"
)

func init() { register("lmdb", func() Engine { return &lmdbEngine{} }) }

// lmdbEngine drives LMDB through lmdb-go, which bundles LMDB's C sources.
//
// LMDB's defaults are kept: a read-only mapping, data pages written with
// pwrite, fdatasync, then the meta page written through an O_DSYNC
// descriptor (two syncs a commit, as folio and bbolt). Only the map size
// is set, because LMDB's default (10 MiB) cannot hold the data; it is
// address space, not file size (without MDB_WRITEMAP the file grows as
// pages are written). Reads use RawRead, so values are not copied out of
// the map, as with folio and bbolt.
//
// Write transactions must stay on one OS thread: Update locks the calling
// goroutine to its thread for the transaction. LMDB has no group commit;
// BatchPut is a write transaction of its own, and concurrent callers queue
// on LMDB's writer mutex, each with its goroutine locked to an OS thread.
type lmdbEngine struct {
	env  *lmdb.Env
	dbi  lmdb.DBI
	path string
}

const lmdbMapSize = 64 << 30

func (e *lmdbEngine) Open(path string) error {
	env, err := lmdb.NewEnv()
	if err != nil {
		return err
	}
	if err := env.SetMapSize(lmdbMapSize); err != nil {
		_ = env.Close()
		return err
	}
	// lmdb-go adds MDB_NOTLS: read transactions are not tied to a thread.
	if err := env.Open(path, lmdb.NoSubdir, 0o600); err != nil {
		_ = env.Close()
		return err
	}
	e.env, e.path = env, path
	return env.Update(func(txn *lmdb.Txn) (err error) {
		e.dbi, err = txn.OpenRoot(0)
		return err
	})
}

func (e *lmdbEngine) Close() error { return e.env.Close() }

func (e *lmdbEngine) PutTx(keys, vals [][]byte) error {
	return e.env.Update(func(txn *lmdb.Txn) error {
		for i, k := range keys {
			if err := txn.Put(e.dbi, k, vals[i], 0); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *lmdbEngine) BatchPut(key, val []byte) error {
	return e.env.Update(func(txn *lmdb.Txn) error {
		return txn.Put(e.dbi, key, val, 0)
	})
}

func (e *lmdbEngine) Get1(key []byte) (found bool, err error) {
	err = e.env.View(func(txn *lmdb.Txn) error {
		txn.RawRead = true
		_, err := txn.Get(e.dbi, key)
		if lmdb.IsNotFound(err) {
			return nil
		}
		found = err == nil
		return err
	})
	return found, err
}

func (e *lmdbEngine) GetTx(keys [][]byte) (n int, err error) {
	err = e.env.View(func(txn *lmdb.Txn) error {
		txn.RawRead = true
		for _, k := range keys {
			_, err := txn.Get(e.dbi, k)
			switch {
			case err == nil:
				n++
			case !lmdb.IsNotFound(err):
				return err
			}
		}
		return nil
	})
	return n, err
}

func (e *lmdbEngine) Scan() (n int, bytes int64, err error) {
	err = e.env.View(func(txn *lmdb.Txn) error {
		txn.RawRead = true
		c, err := txn.OpenCursor(e.dbi)
		if err != nil {
			return err
		}
		defer c.Close()
		for {
			k, v, err := c.Get(nil, nil, lmdb.Next)
			if lmdb.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			n++
			bytes += int64(len(k) + len(v))
		}
	})
	return n, bytes, err
}

func (e *lmdbEngine) Sizes() (file, used int64, err error) {
	info, err := e.env.Info()
	if err != nil {
		return 0, 0, err
	}
	st, err := e.env.Stat()
	if err != nil {
		return 0, 0, err
	}
	used = (info.LastPNO + 1) * int64(st.PSize)
	fi, err := os.Stat(e.path)
	if err != nil {
		return 0, 0, err
	}
	return fi.Size(), used, nil
}
