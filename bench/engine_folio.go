package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/foliodb/folio"
)

func init() {
	register("folio", func() Engine { return &folioEngine{} })
	// folio in WAL mode, otherwise at its defaults (checkpoints after
	// 64 MiB of log or 30 s, and on Close).
	register("folio-wal", func() Engine { return &folioEngine{opts: &folio.Options{WAL: true}} })
}

type folioEngine struct {
	opts *folio.Options // nil: the defaults (direct commits)
	db   *folio.DB
}

func (e *folioEngine) Open(path string) error {
	db, err := folio.Open(path, 0o600, e.opts)
	if err != nil {
		return err
	}
	e.db = db
	return db.Update(func(tx *folio.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	})
}

func (e *folioEngine) Close() error { return e.db.Close() }

func (e *folioEngine) PutTx(keys, vals [][]byte) error {
	return e.db.Update(func(tx *folio.Tx) error {
		b := tx.Bucket(bucketName)
		for i, k := range keys {
			if err := b.Put(k, vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *folioEngine) BatchPut(key, val []byte) error {
	return e.db.Batch(func(tx *folio.Tx) error {
		return tx.Bucket(bucketName).Put(key, val)
	})
}

func (e *folioEngine) Get1(key []byte) (found bool, err error) {
	err = e.db.View(func(tx *folio.Tx) error {
		found = tx.Bucket(bucketName).Get(key) != nil
		return nil
	})
	return found, err
}

func (e *folioEngine) GetTx(keys [][]byte) (n int, err error) {
	err = e.db.View(func(tx *folio.Tx) error {
		b := tx.Bucket(bucketName)
		for _, k := range keys {
			if b.Get(k) != nil {
				n++
			}
		}
		return nil
	})
	return n, err
}

func (e *folioEngine) Scan() (n int, bytes int64, err error) {
	err = e.db.View(func(tx *folio.Tx) error {
		c := tx.Bucket(bucketName).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			n++
			bytes += int64(len(k) + len(v))
		}
		return nil
	})
	return n, bytes, err
}

func (e *folioEngine) Sizes() (file, used int64, err error) {
	err = e.db.View(func(tx *folio.Tx) error {
		used = tx.Size()
		return nil
	})
	fi, serr := os.Stat(e.db.Path())
	if serr != nil {
		return 0, 0, errors.Join(err, serr)
	}
	return fi.Size(), used, err
}

// LogSize is the space the write-ahead log directory takes (its segment
// files, live and recycled, at their preallocated length); 0 in direct
// mode.
func (e *folioEngine) LogSize() (int64, error) {
	if e.opts == nil || !e.opts.WAL {
		return 0, nil
	}
	var n int64
	err := filepath.WalkDir(folio.LogDir(e.db.Path()), func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	return n, err
}
