package main

import (
	"errors"
	"os"

	bolt "go.etcd.io/bbolt"
)

func init() { register("bbolt", func() Engine { return &boltEngine{} }) }

type boltEngine struct {
	db *bolt.DB
}

func (e *boltEngine) Open(path string) error {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return err
	}
	e.db = db
	return db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	})
}

func (e *boltEngine) Close() error { return e.db.Close() }

func (e *boltEngine) PutTx(keys, vals [][]byte) error {
	return e.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName)
		for i, k := range keys {
			if err := b.Put(k, vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *boltEngine) BatchPut(key, val []byte) error {
	return e.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketName).Put(key, val)
	})
}

func (e *boltEngine) Get1(key []byte) (found bool, err error) {
	err = e.db.View(func(tx *bolt.Tx) error {
		found = tx.Bucket(bucketName).Get(key) != nil
		return nil
	})
	return found, err
}

func (e *boltEngine) GetTx(keys [][]byte) (n int, err error) {
	err = e.db.View(func(tx *bolt.Tx) error {
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

func (e *boltEngine) Scan() (n int, bytes int64, err error) {
	err = e.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketName).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			n++
			bytes += int64(len(k) + len(v))
		}
		return nil
	})
	return n, bytes, err
}

func (e *boltEngine) Sizes() (file, used int64, err error) {
	err = e.db.View(func(tx *bolt.Tx) error {
		used = tx.Size()
		return nil
	})
	fi, serr := os.Stat(e.db.Path())
	if serr != nil {
		return 0, 0, errors.Join(err, serr)
	}
	return fi.Size(), used, err
}
