package folio

import (
	"flag"
	"fmt"
	"strings"
	"testing"
)

var queueModelDeep = flag.Bool("queuemodel.deep", false,
	"TestQueueModel: more seeds, transactions and operations")

// queueBucket is one bucket the model test uses as a queue: its path, its
// model, and the key numbers the next puts at either end take.
type queueBucket struct {
	path       []string
	head, tail int
}

// queueKey is key i: the number fixes the order, the tail varies the
// length, so leaves hold more or fewer keys.
func queueKey(i int) string { return fmt.Sprintf("q%08d%s", i, strings.Repeat("-", i%13)) }

func (q *queueBucket) bucket(tx *Tx) *Bucket {
	b := tx.Bucket([]byte(q.path[0]))
	for _, name := range q.path[1:] {
		b = b.Bucket([]byte(name))
	}
	return b
}

// TestQueueModel drains buckets from both ends in write
// transactions, as a queue does, against a sorted model: bursts of
// First (or Last) then Cursor.Delete, and of First (Last) then
// Bucket.Delete of the key it returned, which empty leaves and whole
// branches (taken out of the tree at once), between puts
// at both ends and in between, Seeks, Next and Prev after Deletes, runs
// of Delete then Next (or Prev), and Bucket.Deletes of keys anywhere;
// three buckets, one nested, a cursor on each. Where the README promises
// exact results (a repositioned cursor, Cursor.Delete then Next or Prev,
// the key Cursor.Delete removes) they are checked at each step (the
// cursor model of TestCursorModel). After each transaction,
// committed or rolled back, every bucket is compared with the model
// (both walks, ForEach), and after reopens. In WAL mode each commit's
// log, operations only, is replayed into a copy of the file as the last
// checkpoint left it, which must equal the model too.
// -queuemodel.deep runs more.
func TestQueueModel(t *testing.T) {
	seeds, txs, ops := 2, 8, 400
	if *queueModelDeep {
		seeds, txs, ops = 20, 30, 2000
	}
	cmSeeds(t, seeds, 23, func(r *cmRun, wal bool) { queueRun(r, r.t.TempDir(), wal, txs, ops) })
}

func queueRun(r *cmRun, dir string, walMode bool, txs, ops int) {
	t := r.t
	// Three levels in q0 at 1 KiB pages; q1 smaller; q2, nested, empty.
	qs := []*queueBucket{{path: []string{"q0"}}, {path: []string{"q1"}}, {path: []string{"n", "q2"}}}
	models := make([]*cmModel, len(qs))
	start := func(db *DB) {
		mustUpdate(t, db, func(tx *Tx) error {
			n, err := tx.CreateBucket([]byte("n"))
			if err != nil {
				return err
			}
			if _, err := n.CreateBucket([]byte("q2")); err != nil {
				return err
			}
			for i, q := range qs {
				if len(q.path) == 1 {
					if _, err := tx.CreateBucket([]byte(q.path[0])); err != nil {
						return err
					}
				}
				m := &cmModel{kv: map[string]string{}, subs: map[string]map[string]string{}}
				models[i] = m
				q.head, q.tail = 1_000_000, 1_000_000
				b := q.bucket(tx)
				for range []int{4000, 600, 0}[i] {
					k, v := queueKey(q.tail), r.value()
					q.tail++
					if err := b.Put([]byte(k), []byte(v)); err != nil {
						return err
					}
					m.kv[k] = v
					m.add(k)
				}
				q.head--
			}
			return nil
		})
	}
	compare := func(db *DB, what string) {
		t.Helper()
		err := db.View(func(tx *Tx) error {
			for i, q := range qs {
				if err := r.compareBucket(q.bucket(tx), models[i]); err != nil {
					return fmt.Errorf("bucket %v: %w", q.path, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v; last ops %v", what, err, r.log[max(0, len(r.log)-16):])
		}
	}
	r.rounds(dir, walMode, txs, 5, start, func(tx *Tx) func() {
		ms := make([]*cmModel, len(models))
		for i, m := range models {
			ms[i] = m.clone()
		}
		queueOps(r, tx, qs, ms, ops)
		return func() { models = ms }
	}, compare)
}

// queueOps runs n operations in tx on the buckets qs, whose
// models are ms, with a cursor on each.
func queueOps(r *cmRun, tx *Tx, qs []*queueBucket, ms []*cmModel, n int) {
	t := r.t
	bs := make([]*Bucket, len(qs))
	cs := make([]*Cursor, len(qs))
	mcs := make([]*cmCursor, len(qs))
	for i, q := range qs {
		bs[i] = q.bucket(tx)
		cs[i], mcs[i] = bs[i].Cursor(), &cmCursor{pos: -1, known: true}
	}
	for range n {
		if t.Failed() {
			return
		}
		qi := r.rng.IntN(len(qs))
		q, b, c, mc, m := qs[qi], bs[qi], cs[qi], mcs[qi], ms[qi]
		// changed is called after a change to b not made through c.
		changed := func() { mc.lose(m) }
		cursor := func(what, sk string) string { return r.cursorOp(m, c, mc, what, sk, nil) }
		burst := 1 + r.rng.IntN(80)
		if r.rng.IntN(8) == 0 {
			burst = 100 + r.rng.IntN(400) // a leaf or more, a branch at times
		}
		end := "first"
		if r.rng.IntN(3) == 0 {
			end = "last"
		}
		var op string
		switch x := r.rng.IntN(100); {
		case x < 30: // pop from an end: First (Last) then Cursor.Delete
			op = fmt.Sprintf("q%d pop %d from %s", qi, burst, end)
			for range burst {
				cursor(end, "")
				if cursor("delete", "") == "" {
					r.fail("%s: the cursor model lost its place after %s", op, end)
				}
			}
		case x < 40: // First (Last) then Bucket.Delete of the key it returned
			op = fmt.Sprintf("q%d pop %d from %s by Bucket.Delete", qi, burst, end)
			for range burst {
				cursor(end, "")
				if len(m.keys) == 0 {
					break
				}
				k := m.keys[0]
				if end == "last" {
					k = m.keys[len(m.keys)-1]
				}
				r.del(b, m, k, changed)
			}
		case x < 45: // a run of Delete then Next (or Prev) from a Seek
			dir := map[bool]string{true: "next", false: "prev"}[r.rng.IntN(2) == 0]
			sk := queueKey(q.head + r.rng.IntN(q.tail-q.head+1))
			op = fmt.Sprintf("q%d seek %s, delete then %s %d times", qi, sk, dir, burst)
			cursor("seek", sk)
			for range burst {
				if cursor("delete", "") == "" {
					break
				}
				cursor(dir, "")
			}
		case x < 58:
			dir := map[bool]string{true: "next", false: "prev"}[r.rng.IntN(2) == 0]
			op = fmt.Sprintf("q%d %s", qi, cursor(dir, ""))
		case x < 66:
			sk := queueKey(q.head - 5 + r.rng.IntN(q.tail-q.head+10))
			if r.rng.IntN(4) == 0 {
				sk = sk[:1+r.rng.IntN(len(sk))] // between keys
			}
			op = fmt.Sprintf("q%d %s", qi, cursor("seek", sk))
			if r.rng.IntN(2) == 0 {
				op += ", " + cursor("delete", "")
			}
		case x < 80: // puts at the back
			op = fmt.Sprintf("q%d put %d at the back", qi, burst)
			for range burst {
				r.put(b, m, queueKey(q.tail), r.value(), changed)
				q.tail++
			}
		case x < 86: // puts at the front
			op = fmt.Sprintf("q%d put %d at the front", qi, burst)
			for range burst {
				r.put(b, m, queueKey(q.head), r.value(), changed)
				q.head--
			}
		case x < 92: // keys between others, or again
			op = fmt.Sprintf("q%d put %d between", qi, burst)
			for range min(burst, 40) {
				k := queueKey(q.head + r.rng.IntN(q.tail-q.head+1))
				if r.rng.IntN(3) == 0 {
					k += "+"
				}
				r.put(b, m, k, r.value(), changed)
			}
		case x < 97:
			op = fmt.Sprintf("q%d delete keys anywhere", qi)
			for range min(burst, 20) {
				if len(m.keys) == 0 {
					break
				}
				r.del(b, m, m.keys[r.rng.IntN(len(m.keys))], changed)
			}
		default:
			op = fmt.Sprintf("q%d compare", qi)
			if err := r.compareBucket(b, m); err != nil {
				r.fail("in the transaction: %v", err)
			}
		}
		r.log = append(r.log, op)
	}
	if t.Failed() {
		return
	}
	for i, b := range bs {
		if err := r.compareBucket(b, ms[i]); err != nil {
			r.fail("bucket %v at the end of the transaction: %v", qs[i].path, err)
		}
	}
}
