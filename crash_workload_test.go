package folio

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
)

// The numbered-transaction workload of the crash tests. Transaction n is
// a list of operations drawn from a generator seeded with (seed, n) alone,
// not from the database's state, so a process that recovers a database at
// transaction j can go on with j+1 and a checker can rebuild the model
// after any j. Every transaction also stores its number under
// markerBucket/markerKey, which says which state a recovered file holds.
//
// Names never collide: top-level buckets are b0..b2 (and the marker's),
// nested buckets n0..n2, keys k000..k239.

const (
	markerBucket = "_txn"
	markerKey    = "n"
)

type workOpKind uint8

const (
	wPut workOpKind = iota
	wDelete
	wDeleteBucket
	wSequence
	wPutRun // puts keys key, key+1, ... (value sizes from val)
)

type workOp struct {
	kind workOpKind
	path []string // bucket path, top level first
	key  int
	val  []byte
	run  int
}

func workKey(i int) []byte { return []byte(fmt.Sprintf("k%03d", i)) }

// workTxn returns the operations of transaction n. Values over pageSize/4
// are stored out of line; about one put in six is one.
func workTxn(seed uint64, n int, pageSize int) []workOp {
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	ops := make([]workOp, 1+rng.IntN(10))
	for i := range ops {
		op := workOp{path: []string{"b" + strconv.Itoa(rng.IntN(3))}, key: rng.IntN(240)}
		for d := rng.IntN(4); d > 1; d-- {
			op.path = append(op.path, "n"+strconv.Itoa(rng.IntN(3)))
		}
		size := rng.IntN(100)
		if rng.IntN(6) == 0 {
			size = pageSize/4 + 1 + rng.IntN(3*pageSize)
		}
		op.val = make([]byte, size)
		for j := range op.val {
			op.val[j] = byte(rng.Uint32())
		}
		switch r := rng.IntN(100); {
		case r < 55:
			op.kind = wPut
		case r < 78:
			op.kind = wDelete
		case r < 84:
			op.kind = wDeleteBucket
		case r < 90:
			op.kind = wSequence
		default:
			op.kind, op.run = wPutRun, 5+rng.IntN(40)
			op.val = op.val[:min(len(op.val), 40)]
		}
		ops[i] = op
	}
	return ops
}

// applyTxn applies transaction n's operations to tx.
func applyTxn(tx *Tx, n int, ops []workOp) error {
	for _, op := range ops {
		if op.kind == wDeleteBucket {
			parent, name := op.path[:len(op.path)-1], op.path[len(op.path)-1]
			var err error
			if len(parent) == 0 {
				if tx.Bucket([]byte(name)) != nil {
					err = tx.DeleteBucket([]byte(name))
				}
			} else if p := bucketAt(tx, parent); p != nil && p.Bucket([]byte(name)) != nil {
				err = p.DeleteBucket([]byte(name))
			}
			if err != nil {
				return fmt.Errorf("txn %d: delete bucket %v: %w", n, op.path, err)
			}
			continue
		}
		if op.kind == wDelete {
			if b := bucketAt(tx, op.path); b != nil {
				if err := b.Delete(workKey(op.key)); err != nil {
					return fmt.Errorf("txn %d: delete %v/%d: %w", n, op.path, op.key, err)
				}
			}
			continue
		}
		b, err := ensureBucket(tx, op.path)
		if err != nil {
			return fmt.Errorf("txn %d: %w", n, err)
		}
		switch op.kind {
		case wPut:
			err = b.Put(workKey(op.key), op.val)
		case wSequence:
			_, err = b.NextSequence()
		case wPutRun:
			for i := 0; i < op.run && err == nil; i++ {
				err = b.Put(workKey((op.key+i)%240), op.val[:i%(len(op.val)+1)])
			}
		}
		if err != nil {
			return fmt.Errorf("txn %d: %v on %v: %w", n, op.kind, op.path, err)
		}
	}
	b, err := tx.CreateBucketIfNotExists([]byte(markerBucket))
	if err != nil {
		return err
	}
	return b.Put([]byte(markerKey), []byte(strconv.Itoa(n)))
}

// applyModel applies transaction n's operations to the model m.
func applyModel(m *mbucket, n int, ops []workOp) {
	for _, op := range ops {
		switch op.kind {
		case wDeleteBucket:
			if p := lookupModel(m, op.path[:len(op.path)-1], false); p != nil {
				delete(p.subs, op.path[len(op.path)-1])
			}
		case wDelete:
			if b := lookupModel(m, op.path, false); b != nil {
				delete(b.kv, string(workKey(op.key)))
			}
		case wPut:
			lookupModel(m, op.path, true).kv[string(workKey(op.key))] = string(op.val)
		case wSequence:
			lookupModel(m, op.path, true).seq++
		case wPutRun:
			b := lookupModel(m, op.path, true)
			for i := 0; i < op.run; i++ {
				b.kv[string(workKey((op.key+i)%240))] = string(op.val[:i%(len(op.val)+1)])
			}
		}
	}
	mk := lookupModel(m, []string{markerBucket}, true)
	mk.kv[markerKey] = strconv.Itoa(n)
}

func ensureBucket(tx *Tx, path []string) (*Bucket, error) {
	b, err := tx.CreateBucketIfNotExists([]byte(path[0]))
	for _, name := range path[1:] {
		if err != nil {
			break
		}
		b, err = b.CreateBucketIfNotExists([]byte(name))
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %v: %w", path, err)
	}
	return b, nil
}

// lookupModel walks m down path; create makes missing buckets.
func lookupModel(m *mbucket, path []string, create bool) *mbucket {
	for _, name := range path {
		sub := m.subs[name]
		if sub == nil {
			if !create {
				return nil
			}
			sub = newMBucket()
			m.subs[name] = sub
		}
		m = sub
	}
	return m
}

// workModels returns the models after transactions 0..n (0: empty).
func workModels(seed uint64, n, pageSize int) []*mbucket {
	models := []*mbucket{newMBucket()}
	m := newMBucket()
	for i := 1; i <= n; i++ {
		applyModel(m, i, workTxn(seed, i, pageSize))
		models = append(models, m.clone())
	}
	return models
}

// readMarker returns the number of the last transaction in db (0 if none).
func readMarker(tx *Tx) (int, error) {
	b := tx.Bucket([]byte(markerBucket))
	if b == nil {
		return 0, tx.Err()
	}
	v := b.Get([]byte(markerKey))
	if v == nil {
		return 0, errors.New("marker bucket without its key")
	}
	return strconv.Atoi(string(v))
}

// diffDB compares everything in tx with m, returning the first difference.
func diffDB(tx *Tx, m *mbucket) error {
	var names []string
	c := tx.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v != nil {
			return fmt.Errorf("top-level key %q is not a bucket", k)
		}
		names = append(names, string(k))
		sub := m.subs[string(k)]
		if sub == nil {
			return fmt.Errorf("unexpected bucket %q", k)
		}
		if err := diffBucket(tx.Bucket(k), string(k), sub); err != nil {
			return err
		}
	}
	if err := tx.Err(); err != nil {
		return err
	}
	if want := m.keys(); !slices.Equal(names, want) {
		return fmt.Errorf("top-level buckets %v, model %v", names, want)
	}
	return nil
}

func diffBucket(b *Bucket, where string, m *mbucket) error {
	if b == nil {
		return fmt.Errorf("%s: bucket missing", where)
	}
	if b.Sequence() != m.seq {
		return fmt.Errorf("%s: sequence %d, model %d", where, b.Sequence(), m.seq)
	}
	var got []string
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		got = append(got, string(k))
		if sub, ok := m.subs[string(k)]; ok {
			if v != nil {
				return fmt.Errorf("%s: nested bucket %q has a value", where, k)
			}
			if err := diffBucket(b.Bucket(k), where+"/"+string(k), sub); err != nil {
				return err
			}
			continue
		}
		mv, ok := m.kv[string(k)]
		if !ok || mv != string(v) {
			return fmt.Errorf("%s: key %q = %d bytes, model has %v (%d bytes)", where, k, len(v), ok, len(mv))
		}
		if gv := b.Get(k); !bytes.Equal(gv, v) {
			return fmt.Errorf("%s: Get(%q) differs from the cursor", where, k)
		}
	}
	if err := b.Tx().Err(); err != nil {
		return err
	}
	if want := m.keys(); !slices.Equal(got, want) {
		return fmt.Errorf("%s: keys %v, model %v", where, got, want)
	}
	return nil
}

// checkErrs runs Tx.Check in a fresh read transaction and returns every
// problem it reports.
func checkErrs(db *DB) []error {
	tx, err := db.Begin(false)
	if err != nil {
		return []error{err}
	}
	defer tx.Rollback()
	var errs []error
	for err := range tx.Check() {
		errs = append(errs, err)
	}
	return errs
}
