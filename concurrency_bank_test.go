package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foliodb/folio/tx"
	"github.com/foliodb/folio/wal"
)

// Concurrency: stress tests whose readers check invariants the
// writers keep, in direct and WAL mode with checkpoints by size, by time
// and on request, beside Stats, Info and Close.
//
// The data (runBank): bucket "acc" holds nested buckets of accounts,
// each an 8-byte balance and a filler its key determines; bucket "meta"
// holds the total of the balances (constant), the number of accounts,
// and the number of commits ("gen", also the bucket's sequence); bucket
// "big" holds large values whose every byte says which commit wrote
// them. Every write transaction moves money, opens and deletes accounts
// and nested buckets, moves buckets, and bumps gen: a reader that sees
// a total or count that does not add up has seen half a commit, or two.

const (
	bankTotal    = 1_000_000
	bankAccounts = 160
	bankNested   = 4
	bankValueLen = 40
)

// bankKey is account i's key, and bankValue its value with balance bal.
func bankKey(i int) []byte { return []byte(fmt.Sprintf("k%05d", i)) }

func bankValue(key []byte, bal int64) []byte {
	v := make([]byte, bankValueLen)
	binary.BigEndian.PutUint64(v, uint64(bal))
	for i := 8; i < len(v); i++ {
		v[i] = key[len(key)-1-(i%len(key))]
	}
	return v
}

// bankBalance decodes an account's value, checking its filler.
func bankBalance(key, v []byte) (int64, error) {
	if len(v) != bankValueLen {
		return 0, fmt.Errorf("account %s: %d bytes, want %d", key, len(v), bankValueLen)
	}
	want := bankValue(key, 0)
	if !bytes.Equal(v[8:], want[8:]) {
		return 0, fmt.Errorf("account %s: filler %x, want %x", key, v[8:], want[8:])
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

func bankUint(v []byte) uint64 {
	if len(v) != 8 {
		return ^uint64(0)
	}
	return binary.BigEndian.Uint64(v)
}

func bankPutUint(b *Bucket, key string, n uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], n)
	return b.Put([]byte(key), v[:])
}

// bankBigValue is big value slot's content written by commit gen: n bytes,
// each 8-byte word holding gen and the slot.
func bankBigValue(slot int, gen uint64, n int) []byte {
	v := make([]byte, n&^7)
	for i := 0; i+8 <= len(v); i += 8 {
		binary.BigEndian.PutUint64(v[i:], gen<<8|uint64(slot))
	}
	return v
}

// bankCheckBig checks a big value read in a transaction whose gen is at
// least as new as the value: every word equal, naming its slot, and
// written no later than gen.
func bankCheckBig(key, v []byte, gen uint64) error {
	if len(v) < 8 || len(v)%8 != 0 {
		return fmt.Errorf("big %s: %d bytes", key, len(v))
	}
	w := binary.BigEndian.Uint64(v)
	if int(w&0xff) != int(key[len(key)-1]-'0')+10*int(key[len(key)-2]-'0') || w>>8 > gen {
		return fmt.Errorf("big %s: first word %#x (commit %d, slot %d), transaction at gen %d", key, w, w>>8, w&0xff, gen)
	}
	for _, i := range []int{len(v) / 2 &^ 7, len(v) - 8} {
		if got := binary.BigEndian.Uint64(v[i:]); got != w {
			return fmt.Errorf("big %s: word at %d is %#x, first is %#x (torn value)", key, i, got, w)
		}
	}
	return nil
}

// bankSetup creates the bank: bankAccounts accounts spread over bankNested
// nested buckets, the total on the first one.
func bankSetup(tx *Tx) error {
	acc, err := tx.CreateBucket([]byte("acc"))
	if err != nil {
		return err
	}
	for n := range bankNested {
		nb, err := acc.CreateBucket([]byte(fmt.Sprintf("n%d", n)))
		if err != nil {
			return err
		}
		for i := n; i < bankAccounts; i += bankNested {
			bal := int64(0)
			if i == 0 {
				bal = bankTotal
			}
			if err := nb.Put(bankKey(i), bankValue(bankKey(i), bal)); err != nil {
				return err
			}
		}
	}
	meta, err := tx.CreateBucket([]byte("meta"))
	if err != nil {
		return err
	}
	if _, err := tx.CreateBucket([]byte("big")); err != nil {
		return err
	}
	if err := bankPutUint(meta, "total", bankTotal); err != nil {
		return err
	}
	if err := bankPutUint(meta, "count", bankAccounts); err != nil {
		return err
	}
	return bankPutUint(meta, "gen", 0)
}

// bankAccount is an account as a writer finds it.
type bankAccount struct {
	nested []byte
	key    []byte
	bal    int64
}

// bankAccounts lists every account, in nested bucket and key order.
func bankList(tx *Tx) []bankAccount {
	var out []bankAccount
	acc := tx.Bucket([]byte("acc"))
	c := acc.Cursor()
	for nk, v := c.First(); nk != nil; nk, v = c.Next() {
		if v != nil {
			continue
		}
		nb := acc.Bucket(nk)
		_ = nb.ForEach(func(k, v []byte) error {
			bal, _ := bankBalance(k, v)
			out = append(out, bankAccount{bytes.Clone(nk), bytes.Clone(k), bal})
			return nil
		})
	}
	return out
}

// bankWrite is one write transaction's work, chosen by rng: transfers,
// maybe an account opened or closed, maybe accounts moved to a new
// nested bucket or an empty one deleted, maybe a big value replaced or
// deleted (bigLen > 0); then gen goes up by one. It returns the gen it
// committed as (if it commits).
func bankWrite(tx *Tx, rng *rand.Rand, bigLen int) (uint64, error) {
	acc := tx.Bucket([]byte("acc"))
	meta := tx.Bucket([]byte("meta"))
	list := bankList(tx)
	if len(list) < 2 {
		return 0, fmt.Errorf("writer: %d accounts", len(list))
	}
	set := func(a bankAccount) error {
		return acc.Bucket(a.nested).Put(a.key, bankValue(a.key, a.bal))
	}
	for range 1 + rng.IntN(6) {
		i, j := rng.IntN(len(list)), rng.IntN(len(list))
		if i == j {
			continue
		}
		amt := rng.Int64N(1000) - 200
		list[i].bal -= amt
		list[j].bal += amt
		if err := set(list[i]); err != nil {
			return 0, err
		}
		if err := set(list[j]); err != nil {
			return 0, err
		}
	}
	count := bankUint(meta.Get([]byte("count")))
	gen := bankUint(meta.Get([]byte("gen"))) + 1
	switch op := rng.IntN(10); {
	case op < 2: // open an account
		key := bankKey(bankAccounts + int(gen))
		nk := list[rng.IntN(len(list))].nested
		if err := acc.Bucket(nk).Put(key, bankValue(key, 0)); err != nil {
			return 0, err
		}
		count++
	case op < 4 && len(list) > bankAccounts/2: // close one, its money to another
		i := rng.IntN(len(list))
		j := (i + 1) % len(list)
		list[j].bal += list[i].bal
		if err := set(list[j]); err != nil {
			return 0, err
		}
		if err := acc.Bucket(list[i].nested).Delete(list[i].key); err != nil {
			return 0, err
		}
		count--
	case op < 5: // a few accounts into a new nested bucket, created or moved in
		nk := []byte(fmt.Sprintf("x%06d", gen))
		var nb *Bucket
		var err error
		if rng.IntN(2) == 0 {
			nb, err = acc.CreateBucket(nk)
		} else {
			// Built at the top level, then moved under acc.
			if nb, err = tx.CreateBucket(nk); err == nil {
				err = tx.MoveBucket(nk, nil, acc)
				nb = acc.Bucket(nk)
			}
		}
		if err != nil {
			return 0, err
		}
		for range 1 + rng.IntN(3) {
			a := list[rng.IntN(len(list))]
			old := acc.Bucket(a.nested)
			if old == nil || old.Get(a.key) == nil {
				continue // moved already
			}
			if err := old.Delete(a.key); err != nil {
				return 0, err
			}
			if err := nb.Put(a.key, bankValue(a.key, a.bal)); err != nil {
				return 0, err
			}
		}
	case op < 6: // delete an empty nested bucket, if there is one
		c := acc.Cursor()
		for nk, v := c.First(); nk != nil; nk, v = c.Next() {
			if v != nil {
				continue
			}
			if k, _ := acc.Bucket(nk).Cursor().First(); k == nil {
				if err := acc.DeleteBucket(nk); err != nil {
					return 0, err
				}
				break
			}
		}
	}
	if bigLen > 0 && rng.IntN(3) == 0 {
		big := tx.Bucket([]byte("big"))
		slot := rng.IntN(24)
		key := []byte(fmt.Sprintf("b%02d", slot))
		if rng.IntN(4) == 0 {
			if err := big.Delete(key); err != nil {
				return 0, err
			}
		} else if err := big.Put(key, bankBigValue(slot, gen, bigLen/2+rng.IntN(bigLen))); err != nil {
			return 0, err
		}
	}
	if err := bankPutUint(meta, "count", count); err != nil {
		return 0, err
	}
	if err := bankPutUint(meta, "gen", gen); err != nil {
		return 0, err
	}
	return gen, meta.SetSequence(gen)
}

// bankSnapshot is what a reader saw of the bank in one walk.
type bankSnapshot struct {
	gen, count uint64
	sum        int64
	digest     uint64 // of every key and value in acc and big, in order
	keys       int
}

// bankWalk reads the bank in tx, forwards or backwards, and checks what
// must hold in any committed state.
func bankWalk(tx *Tx, backwards bool) (bankSnapshot, error) {
	var s bankSnapshot
	meta := tx.Bucket([]byte("meta"))
	if meta == nil {
		return s, errors.New("no bucket meta")
	}
	s.gen = bankUint(meta.Get([]byte("gen")))
	s.count = bankUint(meta.Get([]byte("count")))
	if seq := meta.Sequence(); seq != s.gen {
		return s, fmt.Errorf("meta's sequence %d, gen %d", seq, s.gen)
	}
	if total := bankUint(meta.Get([]byte("total"))); total != bankTotal {
		return s, fmt.Errorf("total %d", total)
	}
	h := uint64(14695981039346656037)
	mix := func(b []byte) {
		for _, c := range b {
			h = (h ^ uint64(c)) * 1099511628211
		}
		h = (h ^ 0xff) * 1099511628211
	}
	first, next := (*Cursor).First, (*Cursor).Next
	if backwards {
		first, next = (*Cursor).Last, (*Cursor).Prev
	}
	acc := tx.Bucket([]byte("acc"))
	c := acc.Cursor()
	var nested int
	var prevNK []byte
	for nk, v := first(c); nk != nil; nk, v = next(c) {
		if v != nil {
			return s, fmt.Errorf("acc holds key %s with a value", nk)
		}
		if prevNK != nil && (bytes.Compare(prevNK, nk) >= 0) != backwards {
			return s, fmt.Errorf("acc: bucket %s after %s", nk, prevNK)
		}
		prevNK = nk
		nested++
		nb := acc.Bucket(nk)
		if nb == nil {
			return s, fmt.Errorf("acc: cursor names bucket %s, Bucket finds none", nk)
		}
		mix(nk)
		nc := nb.Cursor()
		var prev []byte
		for k, v := first(nc); k != nil; k, v = next(nc) {
			if prev != nil && (bytes.Compare(prev, k) >= 0) != backwards {
				return s, fmt.Errorf("bucket %s: key %s after %s", nk, k, prev)
			}
			prev = k
			bal, err := bankBalance(k, v)
			if err != nil {
				return s, fmt.Errorf("bucket %s: %w", nk, err)
			}
			s.sum += bal
			s.keys++
			mix(k)
			mix(v)
		}
	}
	big := tx.Bucket([]byte("big"))
	bc := big.Cursor()
	for k, v := first(bc); k != nil; k, v = next(bc) {
		if err := bankCheckBig(k, v, s.gen); err != nil {
			return s, err
		}
		mix(k)
		mix(v[:8])
	}
	if s.sum != bankTotal || uint64(s.keys) != s.count {
		return s, fmt.Errorf("gen %d: %d accounts in %d buckets summing to %d; meta says %d accounts, total %d (half a commit seen?)",
			s.gen, s.keys, nested, s.sum, s.count, bankTotal)
	}
	if backwards {
		s.digest = 0 // the order differs: compare forwards walks only
	} else {
		s.digest = h
	}
	return s, tx.Err()
}

// bankHeld is a value a reader keeps from its first walk, with a copy, to
// compare at the end of its transaction.
type bankHeld struct {
	key, v, copy []byte
}

// bankHold takes up to n values of tx's bank (accounts and big values).
func bankHold(tx *Tx, rng *rand.Rand, n int) []bankHeld {
	var out []bankHeld
	acc := tx.Bucket([]byte("acc"))
	c := acc.Cursor()
	for nk, _ := c.First(); nk != nil && len(out) < n; nk, _ = c.Next() {
		nb := acc.Bucket(nk)
		if nb == nil {
			continue
		}
		k, v := nb.Cursor().Seek(bankKey(rng.IntN(bankAccounts)))
		if k != nil {
			out = append(out, bankHeld{k, v, bytes.Clone(v)})
		}
	}
	bc := tx.Bucket([]byte("big")).Cursor()
	for k, v := bc.Seek([]byte(fmt.Sprintf("b%02d", rng.IntN(24)))); k != nil && len(out) < n+2; k, v = bc.Next() {
		out = append(out, bankHeld{k, v, bytes.Clone(v)})
	}
	return out
}

func bankCheckHeld(held []bankHeld) error {
	for _, h := range held {
		if !bytes.Equal(h.v, h.copy) {
			return fmt.Errorf("value of %s changed under its reader: %d bytes, first %x, was %x", h.key, len(h.v), h.v[:min(16, len(h.v))], h.copy[:min(16, len(h.copy))])
		}
	}
	return nil
}

// bankConfig is one run of TestConcurrentBank.
type bankConfig struct {
	name       string
	opts       Options
	ckptLoop   bool // a goroutine calls Checkpoint in a loop
	imageLimit int  // DB.WALImageLimit
	bigLen     int  // big values of bigLen/2 to 3*bigLen/2 bytes; 0: none
}

// TestConcurrentBank runs Update and Batch writers, short and long
// readers (View and Begin), and Stats and Info callers on one database,
// in direct mode and in WAL mode with checkpoints by size, by time and
// on request, logging pages or operations:
//
//   - every walk of a snapshot adds up (sum, count, sequence), forwards
//     and backwards, through nested buckets created, moved and deleted
//     by the writers;
//   - a long reader's snapshot is the same, digest for digest, however
//     many commits and checkpoints pass meanwhile, Tx.Check finds it
//     whole (page accounting included), and the values it
//     took stay equal to their copies until it ends, while the file
//     grows and large values are freed and rewritten;
//   - a reader's successive transactions never go back (txid, gen), and
//     a writer sees its own commit at once;
//   - Stats and Info agree with themselves: PageAlloc is PageCount
//     pages, the txid and checkpoint txid never go back, LogPending is
//     the distance between them, free and pending pages fit below the
//     high water mark, and no reader is counted open once all ended;
//   - every acknowledged Update and Batch is in the file after a reopen,
//     once (gen counts them exactly), and in WAL mode also in a crash
//     image (file and log copied while open), whose open replays the
//     commits since the last checkpoint: page images, or operations on
//     nested buckets created, moved and deleted by concurrent batches.
func TestConcurrentBank(t *testing.T) {
	seed := testSeed(t)
	configs := []bankConfig{
		{name: "direct", opts: Options{PageSize: 1024, NoSync: true}, bigLen: 96 << 10},
		// Checkpoints by size (about every other commit) and by time.
		{name: "wal-auto", opts: Options{PageSize: 1024, WAL: true, CheckpointBytes: 24 << 10, CheckpointInterval: time.Millisecond}, bigLen: 48 << 10},
		// Checkpoints on request only, beside operations records.
		{name: "wal-ops", opts: Options{PageSize: 1024, WAL: true, NoSync: true, CheckpointBytes: 1 << 40, CheckpointInterval: time.Hour}, ckptLoop: true, imageLimit: -1, bigLen: 8 << 10},
		// Page images, 4 KiB pages.
		{name: "wal-images", opts: Options{PageSize: 4096, WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: time.Hour}, ckptLoop: true, imageLimit: 1 << 20},
	}
	before := runtime.NumGoroutine()
	for ci, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			withProcs([]int{2, 1, 4}[ci%3], func() { runBank(t, seed+uint64(ci), c) })
		})
	}
	noLeak(t, before)
}

func runBank(t *testing.T, seed uint64, c bankConfig) {
	path := tempPath(t)
	db, err := Open(path, 0o600, &c.opts)
	if err != nil {
		t.Fatal(err)
	}
	db.WALImageLimit = c.imageLimit
	db.AllocSize = 64 << 10 // grow often
	mustUpdate(t, db, bankSetup)

	errs := make(chan error, 8)
	report := func(format string, args ...any) {
		select {
		case errs <- fmt.Errorf(format, args...):
		default:
		}
	}
	const writers, each = 4, 18
	var acked atomic.Int64   // successful write calls
	var lastGen atomic.Int64 // the highest gen a writer has had acknowledged
	stop := make(chan struct{})
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	within(t, c.name, func() {
		var wg, others sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					call := uint64(w*each + i)
					var gen uint64
					fn := func(tx *Tx) error {
						// A Batch function may run more than once: the
						// same choices each time.
						rng := rand.New(rand.NewPCG(seed, call))
						var err error
						gen, err = bankWrite(tx, rng, c.bigLen)
						if err == nil && call%11 == 5 {
							return errBankRefused // fails, alone too: no commit
						}
						return err
					}
					var err error
					if (w+i)%3 == 0 {
						err = db.Update(fn)
					} else {
						err = db.Batch(fn)
					}
					if errors.Is(err, errBankRefused) {
						continue
					}
					if err != nil {
						report("writer %d, call %d: %v", w, i, err)
						return
					}
					acked.Add(1)
					for {
						g := lastGen.Load()
						if int64(gen) <= g || lastGen.CompareAndSwap(g, int64(gen)) {
							break
						}
					}
					// Its own commit, or a later one, at once.
					if err := db.View(func(tx *Tx) error {
						s, err := bankWalk(tx, false)
						if err == nil && s.gen < gen {
							err = fmt.Errorf("sees gen %d after its commit of gen %d was acknowledged", s.gen, gen)
						}
						return err
					}); err != nil {
						report("writer %d, call %d: %v", w, i, err)
						return
					}
				}
			}()
		}
		// Short readers: one walk each way per View, values held across.
		for r := range 2 {
			others.Add(1)
			go func() {
				defer others.Done()
				rng := rand.New(rand.NewPCG(seed, 1000+uint64(r)))
				lastID, lastGenSeen := 0, uint64(0)
				for !stopped() {
					floor := uint64(lastGen.Load()) // acknowledged before this View began
					err := db.View(func(tx *Tx) error {
						if tx.ID() < lastID {
							return fmt.Errorf("txid %d after %d", tx.ID(), lastID)
						}
						lastID = tx.ID()
						held := bankHold(tx, rng, 4)
						fw, err := bankWalk(tx, false)
						if err != nil {
							return err
						}
						if fw.gen < lastGenSeen || fw.gen < floor {
							return fmt.Errorf("gen %d after %d; %d was acknowledged before the View began", fw.gen, lastGenSeen, floor)
						}
						lastGenSeen = fw.gen
						bw, err := bankWalk(tx, true)
						if err != nil {
							return fmt.Errorf("backwards: %w", err)
						}
						if bw.gen != fw.gen || bw.keys != fw.keys {
							return fmt.Errorf("backwards walk: gen %d, %d keys; forwards: gen %d, %d keys", bw.gen, bw.keys, fw.gen, fw.keys)
						}
						return bankCheckHeld(held)
					})
					if err != nil {
						report("reader %d: %v", r, err)
						return
					}
				}
			}()
		}
		// Long readers: a Begin held across commits, walked again and
		// again; the same digest every time.
		for r := range 2 {
			others.Add(1)
			go func() {
				defer others.Done()
				rng := rand.New(rand.NewPCG(seed, 2000+uint64(r)))
				for !stopped() {
					rtx, err := db.Begin(false)
					if err != nil {
						report("long reader %d: %v", r, err)
						return
					}
					err = func() error {
						held := bankHold(rtx, rng, 6)
						first, err := bankWalk(rtx, false)
						if err != nil {
							return err
						}
						until := acked.Load() + 1 + int64(rng.IntN(8))
						if rng.IntN(10) == 0 {
							// The page accounting of a snapshot the
							// writers have moved past.
							for err := range rtx.Check() {
								return fmt.Errorf("check: %w", err)
							}
						}
						for pass := 1; ; pass++ {
							runtime.Gosched()
							again, err := bankWalk(rtx, pass%2 == 0)
							if err != nil {
								return fmt.Errorf("pass %d: %w", pass, err)
							}
							if again.gen != first.gen || again.keys != first.keys || (pass%2 == 1 && again.digest != first.digest) {
								return fmt.Errorf("pass %d: snapshot changed: %+v, first %+v", pass, again, first)
							}
							if err := bankCheckHeld(held); err != nil {
								return fmt.Errorf("pass %d: %w", pass, err)
							}
							if acked.Load() >= until || stopped() {
								return nil
							}
							time.Sleep(100 * time.Microsecond)
						}
					}()
					if rerr := rtx.Rollback(); err == nil {
						err = rerr
					}
					if err != nil {
						report("long reader %d: %v", r, err)
						return
					}
				}
			}()
		}
		// Stats and Info.
		others.Add(1)
		go func() {
			defer others.Done()
			var lastTx, lastCkpt uint64
			for !stopped() {
				st := db.Stats()
				if st.TxStats.PageAlloc != st.TxStats.PageCount*int64(db.PageSize()) {
					report("Stats: PageAlloc %d, PageCount %d pages of %d bytes", st.TxStats.PageAlloc, st.TxStats.PageCount, db.PageSize())
					return
				}
				if st.OpenTxN < 0 || st.FreePageN < 0 || st.PendingPageN < 0 {
					report("Stats: %+v", st)
					return
				}
				in, err := db.Info()
				if err != nil {
					report("Info: %v", err)
					return
				}
				if uint64(in.TxID) < lastTx || uint64(in.CheckpointTxID) < lastCkpt {
					report("Info: txid %d, checkpoint %d after %d, %d", in.TxID, in.CheckpointTxID, lastTx, lastCkpt)
					return
				}
				lastTx, lastCkpt = uint64(in.TxID), uint64(in.CheckpointTxID)
				if in.WAL && (in.CheckpointTxID > in.TxID || in.LogPending != int(in.TxID-in.CheckpointTxID)) {
					report("Info: txid %d, checkpoint %d, %d pending", in.TxID, in.CheckpointTxID, in.LogPending)
					return
				}
				if in.FreePages+in.PendingPages > int(in.HighPage)-2 {
					report("Info: %d free and %d pending pages, more than the %d below high page %d", in.FreePages, in.PendingPages, in.HighPage-2, in.HighPage)
					return
				}
				if int64(in.HighPage)*int64(in.PageSize) > in.FileSize {
					report("Info: high page %d of %d bytes past the file's %d bytes", in.HighPage, in.PageSize, in.FileSize)
					return
				}
				time.Sleep(200 * time.Microsecond)
			}
		}()
		if c.ckptLoop {
			others.Add(1)
			go func() {
				defer others.Done()
				for !stopped() {
					if err := db.Checkpoint(); err != nil {
						report("Checkpoint: %v", err)
						return
					}
					time.Sleep(500 * time.Microsecond)
				}
			}()
		}
		wg.Wait()
		close(stop)
		others.Wait()
	})
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if n := db.Stats().OpenTxN; n != 0 {
		t.Fatalf("Stats: %d read transactions open once every reader has ended", n)
	}
	// A few commits after the last checkpoint on request, for the crash
	// image below to replay (with operations records, logical ones).
	for i := range 5 {
		if err := db.Update(func(tx *Tx) error {
			_, err := bankWrite(tx, rand.New(rand.NewPCG(seed, 1<<20+uint64(i))), c.bigLen)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		acked.Add(1)
	}
	var final bankSnapshot
	if err := db.View(func(tx *Tx) error {
		var err error
		final, err = bankWalk(tx, false)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if int64(final.gen) != acked.Load() {
		t.Fatalf("gen %d after %d acknowledged commits", final.gen, acked.Load())
	}
	mustCheck(t, db)
	if c.opts.WAL {
		// As a crash would leave it (the page cache kept): the file and
		// the log copied while open, then opened, which replays the
		// commits since the last checkpoint from the log.
		if err := db.Sync(); err != nil {
			t.Fatal(err)
		}
		crashed := filepath.Join(t.TempDir(), "crashed.db")
		copyFile(t, path, crashed)
		copyDir(t, LogDir(path), LogDir(crashed))
		cdb, err := Open(crashed, 0o600, &c.opts)
		if err != nil {
			t.Fatal(err)
		}
		in, err := cdb.Info()
		if err != nil {
			t.Fatal(err)
		}
		if err := cdb.View(func(tx *Tx) error {
			s, err := bankWalk(tx, false)
			if err == nil && s != final {
				err = fmt.Errorf("after replaying %d commits from the log: %+v, before: %+v", in.Replayed, s, final)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		closeChecked(t, cdb)
		t.Logf("the crash image replayed %d commits", in.Replayed)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, 0o600, &c.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer closeChecked(t, db)
	if err := db.View(func(tx *Tx) error {
		s, err := bankWalk(tx, false)
		if err == nil && s != final {
			err = fmt.Errorf("reopened: %+v, before Close: %+v", s, final)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d commits acknowledged", acked.Load())
}

var errBankRefused = errors.New("refused by the test")

// TestConcurrentStatsPageAlloc reads DB.Stats in a loop while a writer
// commits: PageAlloc is always PageCount pages. Stats loaded the page
// counter twice, once for each field, and a commit in between made
// them disagree (5 of 200,000 calls here under -race, before the fix).
func TestConcurrentStatsPageAlloc(t *testing.T) {
	db := openTest(t, &Options{PageSize: 1024, NoSync: true})
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := db.Update(func(tx *Tx) error {
				return tx.Bucket([]byte("b")).Put([]byte(fmt.Sprint(i%500)), make([]byte, 100))
			}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer wg.Wait()
	defer close(stop)
	ps := int64(db.PageSize())
	for range 300_000 {
		st := db.Stats()
		if st.TxStats.PageAlloc != st.TxStats.PageCount*ps {
			t.Fatalf("Stats: PageAlloc %d bytes, PageCount %d pages of %d bytes", st.TxStats.PageAlloc, st.TxStats.PageCount, ps)
		}
	}
}

// TestConcurrentCloseOutcomes closes a database while Update and Batch
// callers (some of whose functions fail, so batches retry), Views and
// Begin readers are in flight, in both modes, and checks both sides of
// every outcome: Close returns only once no View function is running
// and no Begin reader is open; after it, every call that starts work
// returns ErrDatabaseNotOpen; a call's OnCommit handler has run once when
// it returns nil, never when it returns an error; after a reopen every
// acknowledged write is there, and no write whose call returned an error
// is.
func TestConcurrentCloseOutcomes(t *testing.T) {
	seed := testSeed(t)
	before := runtime.NumGoroutine()
	for round := range 4 {
		walMode := round%2 == 1
		t.Run(fmt.Sprintf("round=%d,wal=%v", round, walMode), func(t *testing.T) {
			withProcs([]int{2, 1, 4}[round%3], func() {
				concurrentCloseOutcomes(t, seed+uint64(round), walMode)
			})
		})
	}
	noLeak(t, before)
}

func concurrentCloseOutcomes(t *testing.T, seed uint64, walMode bool) {
	path := tempPath(t)
	opts := &Options{PageSize: 1024, NoSync: true, WAL: walMode, CheckpointBytes: 16 << 10}
	db, err := Open(path, 0o600, opts)
	if err != nil {
		t.Fatal(err)
	}
	db.MaxBatchSize = 4
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	var mu sync.Mutex
	acked, refused := map[string]bool{}, map[string]error{}
	var inView atomic.Int64 // View functions running, and Begin readers open
	errs := make(chan error, 4)
	report := func(format string, args ...any) {
		select {
		case errs <- fmt.Errorf(format, args...):
		default:
		}
	}
	var closed atomic.Bool
	rng := rand.New(rand.NewPCG(seed, 0))
	wait := time.Duration(rng.IntN(15)) * time.Millisecond
	within(t, "Close under load", func() {
		var wg sync.WaitGroup
		started := make(chan struct{}, 16)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					if i == 3 {
						started <- struct{}{}
					}
					key := fmt.Sprintf("w%d-%05d", w, i)
					fails := i%7 == 3
					var handled atomic.Int32
					fn := func(tx *Tx) error {
						if err := tx.Bucket([]byte("b")).Put([]byte(key), []byte(key)); err != nil {
							return err
						}
						tx.OnCommit(func() { handled.Add(1) })
						if fails {
							return errBankRefused
						}
						return nil
					}
					var err error
					if w%4 == 0 {
						err = db.Update(fn)
					} else {
						err = db.Batch(fn)
					}
					mu.Lock()
					if err == nil {
						acked[key] = true
					} else {
						refused[key] = err
					}
					mu.Unlock()
					// OnCommit handlers run once for a call that
					// committed, before it returns, and never for one
					// that did not (its function may have run in a
					// batch rolled back, or alone).
					if n, want := handled.Load(), map[bool]int32{true: 1, false: 0}[err == nil]; n != want {
						report("call %s (%v): its OnCommit handler ran %d times", key, err, n)
						return
					}
					switch {
					case err == nil && fails:
						report("call %s: nil, its function failed", key)
						return
					case err == nil, errors.Is(err, errBankRefused) && fails:
					case errors.Is(err, ErrDatabaseNotOpen):
						return
					default:
						report("call %s: %v", key, err)
						return
					}
				}
			}()
		}
		for r := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					if i == 3 {
						started <- struct{}{}
					}
					var err error
					if r%2 == 0 {
						err = db.View(func(tx *Tx) error {
							inView.Add(1)
							defer inView.Add(-1)
							n := 0
							err := tx.Bucket([]byte("b")).ForEach(func(k, v []byte) error {
								if !bytes.Equal(k, v) {
									return fmt.Errorf("key %s holds %s", k, v)
								}
								n++
								return nil
							})
							if closed.Load() {
								return fmt.Errorf("a View function runs after Close returned (%d keys read)", n)
							}
							return err
						})
					} else {
						var rtx *Tx
						if rtx, err = db.Begin(false); err == nil {
							inView.Add(1)
							held := map[string][]byte{}
							c := rtx.Bucket([]byte("b")).Cursor()
							for k, v := c.First(); k != nil && len(held) < 20; k, v = c.Next() {
								held[string(k)] = v
							}
							runtime.Gosched()
							for k, v := range held {
								if string(v) != k {
									report("Begin reader: value of %s changed to %q", k, v)
								}
							}
							if closed.Load() {
								report("a Begin reader open after Close returned")
							}
							inView.Add(-1)
							err = rtx.Rollback()
						}
					}
					if errors.Is(err, ErrDatabaseNotOpen) {
						return
					}
					if err != nil {
						report("reader %d: %v", r, err)
						return
					}
				}
			}()
		}
		for range 12 {
			<-started
		}
		time.Sleep(wait)
		err := db.Close()
		closed.Store(true)
		if err != nil {
			report("Close: %v", err)
		}
		if n := inView.Load(); n != 0 {
			report("Close returned with %d read transactions running", n)
		}
		wg.Wait()
	})
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	nop := func(*Tx) error { return nil }
	for name, err := range map[string]error{
		"View":       db.View(nop),
		"Update":     db.Update(nop),
		"Batch":      db.Batch(nop),
		"Sync":       db.Sync(),
		"Checkpoint": db.Checkpoint(),
	} {
		if !errors.Is(err, ErrDatabaseNotOpen) {
			t.Errorf("%s after Close: %v, want ErrDatabaseNotOpen", name, err)
		}
	}
	for _, writable := range []bool{false, true} {
		if tx, err := db.Begin(writable); !errors.Is(err, ErrDatabaseNotOpen) {
			t.Errorf("Begin(%v) after Close: %v, want ErrDatabaseNotOpen", writable, err)
			if tx != nil {
				_ = tx.Rollback()
			}
		}
	}
	if _, err := db.Info(); !errors.Is(err, ErrDatabaseNotOpen) {
		t.Errorf("Info after Close: %v, want ErrDatabaseNotOpen", err)
	}
	_ = db.Stats()
	db, err = Open(path, 0o600, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer closeChecked(t, db)
	if err := db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		for k := range acked {
			if b.Get([]byte(k)) == nil {
				return fmt.Errorf("acknowledged key %s lost", k)
			}
		}
		for k, err := range refused {
			if b.Get([]byte(k)) != nil {
				return fmt.Errorf("key %s is in the file, its call returned %v", k, err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d writes acknowledged, %d refused, Close after %v", len(acked), len(refused), wait)
}

// TestConcurrentOpenCloseCycles has writers open the database, commit
// and close it again and again, entering and leaving WAL mode (a first
// WAL-mode open makes the log, a later open without WAL replays and
// removes it), while readers open it read-only, walk it and close it, all
// at once (each Open is its own open file description, so they lock one
// another out as processes would). Every open succeeds, every reader's
// snapshot adds up and holds every commit acknowledged before its Open
// began, and the final file holds them all.
func TestConcurrentOpenCloseCycles(t *testing.T) {
	seed := testSeed(t)
	path := tempPath(t)
	db, err := Open(path, 0o600, &Options{PageSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, bankSetup)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var acked atomic.Int64
	errs := make(chan error, 4)
	report := func(format string, args ...any) {
		select {
		case errs <- fmt.Errorf(format, args...):
		default:
		}
	}
	const writers, each = 3, 7
	stop := make(chan struct{})
	within(t, "open and close cycles", func() {
		var wg, readers sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					opts := &Options{WAL: (w+i)%3 != 0, NoSync: i%2 == 0, CheckpointBytes: 8 << 10}
					db, err := Open(path, 0o600, opts)
					if err != nil {
						report("writer %d, open %d (%+v): %v", w, i, *opts, err)
						return
					}
					for j := range 1 + i%3 {
						call := uint64(w*1000 + i*10 + j)
						err := db.Update(func(tx *Tx) error {
							_, err := bankWrite(tx, rand.New(rand.NewPCG(seed, call)), 0)
							return err
						})
						if err != nil {
							report("writer %d, open %d: %v", w, i, err)
							_ = db.Close()
							return
						}
						acked.Add(1)
					}
					if err := db.Close(); err != nil {
						report("writer %d, close %d: %v", w, i, err)
						return
					}
				}
			}()
		}
		for r := range 2 {
			readers.Add(1)
			go func() {
				defer readers.Done()
				last := int64(-1)
				for i := 0; ; i++ {
					// One open per commit at most: readers that open
					// again at once hold shared locks back to back,
					// and a writer's lock (polled, as bbolt's) never
					// comes free.
					floor := acked.Load()
					for floor == last {
						select {
						case <-stop:
							return
						case <-time.After(time.Millisecond):
						}
						floor = acked.Load()
					}
					last = floor
					db, err := Open(path, 0o600, &Options{ReadOnly: true, WAL: i%2 == 0})
					if err != nil {
						report("reader %d, open %d: %v", r, i, err)
						return
					}
					err = db.View(func(tx *Tx) error {
						s, err := bankWalk(tx, i%2 == 1)
						if err == nil && int64(s.gen) < floor {
							err = fmt.Errorf("gen %d; %d commits were acknowledged before the open", s.gen, floor)
						}
						return err
					})
					if cerr := db.Close(); err == nil {
						err = cerr
					}
					if err != nil {
						report("reader %d, open %d: %v", r, i, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(stop)
		readers.Wait()
	})
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	db, err = Open(path, 0o600, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closeChecked(t, db)
	if err := db.View(func(tx *Tx) error {
		s, err := bankWalk(tx, false)
		if err == nil && int64(s.gen) != acked.Load() {
			err = fmt.Errorf("gen %d after %d acknowledged commits", s.gen, acked.Load())
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// truncGateStorage is a Storage that checks every Truncate against the
// read transactions the test has registered as open: none may lose a
// page it can read (its Tx.Size). It counts the truncations.
type truncGateStorage struct {
	tx.Storage
	mu     sync.Mutex
	open   map[*Tx]int64
	truncs atomic.Int64
	beside atomic.Int64 // truncations with a registered reader open
	bad    atomic.Pointer[string]
}

func (s *truncGateStorage) Truncate(size int64) error {
	s.mu.Lock()
	if len(s.open) > 0 {
		s.beside.Add(1)
	}
	for rtx, need := range s.open {
		if size < need {
			msg := fmt.Sprintf("file cut to %d bytes under a reader of txid %d, which reads %d", size, rtx.ID(), need)
			s.bad.CompareAndSwap(nil, &msg)
		}
	}
	s.mu.Unlock()
	s.truncs.Add(1)
	return s.Storage.Truncate(size)
}

func (s *truncGateStorage) register(rtx *Tx, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.open[rtx] = rtx.Size()
	} else {
		delete(s.open, rtx)
	}
}

// TestConcurrentTruncateSparesReaders fills and empties a database with
// large values, so that commits give back the file's free tail again and
// again, while readers hold snapshots of the fuller file and read every
// value twice: no truncation reaches a page an open reader can read, and
// every value a reader holds stays what it was, in direct mode and in WAL
// mode (where checkpoints give the tail back).
func TestConcurrentTruncateSparesReaders(t *testing.T) {
	for _, walMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", walMode), func(t *testing.T) {
			truncateSparesReaders(t, walMode)
		})
	}
}

func truncateSparesReaders(t *testing.T, walMode bool) {
	const ps = 1024
	st := &truncGateStorage{Storage: openFileStorage(memFile(t, tx.InitialImage(ps)), false, false, 0), open: map[*Tx]int64{}}
	var lg tx.Log
	if walMode {
		l, err := wal.Open(filepath.Join(stressLogDir(t), "log"), wal.Options{SegmentSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		lg = l
	}
	db, err := tx.OpenWithLog("trunc.db", st, lg, &Options{NoSync: true, WAL: walMode, CheckpointBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 64 << 10
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	// Value i of round r: n bytes, each 8-byte word r<<16|i.
	val := func(i, r, n int) []byte {
		v := make([]byte, n)
		for j := 0; j+8 <= n; j += 8 {
			binary.BigEndian.PutUint64(v[j:], uint64(r)<<16|uint64(i))
		}
		return v
	}
	check := func(k, v []byte) error {
		if len(v) < 8 {
			return fmt.Errorf("key %s: %d bytes", k, len(v))
		}
		w := binary.BigEndian.Uint64(v)
		for j := 0; j+8 <= len(v); j += 4096 {
			if got := binary.BigEndian.Uint64(v[j:]); got != w {
				return fmt.Errorf("key %s: word %#x at %d, %#x at 0", k, got, j, w)
			}
		}
		return nil
	}
	errs := make(chan error, 4)
	report := func(format string, args ...any) {
		select {
		case errs <- fmt.Errorf(format, args...):
		default:
		}
	}
	stop := make(chan struct{})
	within(t, "truncation beside readers", func() {
		var readers sync.WaitGroup
		for r := range 3 {
			readers.Add(1)
			go func() {
				defer readers.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					rtx, err := db.Begin(false)
					if err != nil {
						report("reader %d: %v", r, err)
						return
					}
					st.register(rtx, true)
					type held struct{ k, v, c []byte }
					var hs []held
					c := rtx.Bucket([]byte("b")).Cursor()
					for k, v := c.First(); k != nil; k, v = c.Next() {
						if err := check(k, v); err != nil {
							report("reader %d: %v", r, err)
						}
						hs = append(hs, held{k, v, bytes.Clone(v)})
					}
					runtime.Gosched()
					for _, h := range hs {
						if !bytes.Equal(h.v, h.c) {
							report("reader %d: value of %s changed under it", r, h.k)
						}
					}
					st.register(rtx, false)
					_ = rtx.Rollback()
				}
			}()
		}
		rng := rand.New(rand.NewPCG(3, 4))
		for round := 1; round <= 60; round++ {
			err := db.Update(func(tx *Tx) error {
				b := tx.Bucket([]byte("b"))
				if round%6 == 0 {
					// Empty it: the tail falls free, and is given back.
					c := b.Cursor()
					for k, _ := c.First(); k != nil; k, _ = c.First() {
						if err := c.Delete(); err != nil {
							return err
						}
					}
					return nil
				}
				for range 2 {
					i := rng.IntN(16)
					if err := b.Put([]byte(fmt.Sprintf("v%02d", i)), val(i, round, 8<<10+rng.IntN(120<<10))); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				report("round %d: %v", round, err)
				break
			}
		}
		close(stop)
		readers.Wait()
	})
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if msg := st.bad.Load(); msg != nil {
		t.Fatal(*msg)
	}
	if st.truncs.Load() == 0 {
		t.Fatal("no commit gave back the file's tail")
	}
	mustCheck(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d truncations, %d beside readers", st.truncs.Load(), st.beside.Load())
}

// TestConcurrentInfoWhileCommitsWaitForSync: in WAL mode, commit A
// adds values (the file grows past the published high water mark) and
// waits for its log sync; commit B, begun on A's state, deletes them
// and waits too. Info describes the published state: its txid, high
// water mark and meta are the state before A, and so must its free and
// pending pages be. They were the free list of B, the next writer's:
// pages past the high water mark it reported, more free and pending
// pages than the file had below it.
func TestConcurrentInfoWhileCommitsWaitForSync(t *testing.T) {
	st := openFileStorage(memFile(t, tx.InitialImage(1024)), false, false, 0)
	inner, err := wal.Open(filepath.Join(stressLogDir(t), "log"), wal.Options{SegmentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	g := newGatedLog(inner)
	db, err := tx.OpenWithLog("info.db", st, g, &Options{WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	defer g.release(nil)
	mustCreatePut(t, db, "b", "k", "v")
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	before, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	g.hold()
	errs := make(chan error, 2)
	go func() {
		errs <- db.Update(func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			for i := range 40 {
				if err := b.Put([]byte(fmt.Sprintf("a%02d", i)), make([]byte, 900)); err != nil {
					return err
				}
			}
			return nil
		})
	}()
	waitUntil(t, "commit A waits for its sync", func() bool { return g.waiting.Load() == 1 })
	go func() {
		errs <- db.Update(func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			for i := range 40 {
				if err := b.Delete([]byte(fmt.Sprintf("a%02d", i))); err != nil {
					return err
				}
			}
			return nil
		})
	}()
	waitUntil(t, "commit B waits for its sync", func() bool { return g.waiting.Load() == 2 })
	in, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	if in.TxID != before.TxID || in.HighPage != before.HighPage {
		t.Fatalf("Info with A and B waiting for their sync: txid %d, high page %d; before them: %d, %d", in.TxID, in.HighPage, before.TxID, before.HighPage)
	}
	if in.FreePages+in.PendingPages != before.FreePages+before.PendingPages || in.FreePages+in.PendingPages > int(in.HighPage)-2 {
		t.Errorf("Info with A and B waiting for their sync: %d free and %d pending pages below high page %d (txid %d); before them: %d free, %d pending",
			in.FreePages, in.PendingPages, in.HighPage, in.TxID, before.FreePages, before.PendingPages)
	}
	g.release(nil)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	after, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	if after.TxID != before.TxID+2 || after.FreePages+after.PendingPages > int(after.HighPage)-2 {
		t.Errorf("Info once both are published: %+v", after)
	}
	mustCheck(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentBucketCache: read transactions on one snapshot share
// the headers of the top-level buckets they open (a few slots per
// snapshot, filled by whichever reader comes first, for names of up to
// 48 bytes). Here many readers open many top-level buckets, of names
// short, 48 and 49 bytes long, in random orders, while writers change
// them and delete and recreate them: every bucket a reader opens is the
// one of its name (it holds its name), and every reader of a txid sees
// the same buckets with the same contents.
func TestConcurrentBucketCache(t *testing.T) {
	db := openTest(t, &Options{PageSize: 1024, NoSync: true})
	var names []string
	for i := range 6 {
		names = append(names, fmt.Sprintf("t%d", i))
	}
	names = append(names, string(bytes.Repeat([]byte("L"), 47))+"a", string(bytes.Repeat([]byte("L"), 47))+"b", string(bytes.Repeat([]byte("L"), 48))+"c")
	mustUpdate(t, db, func(tx *Tx) error {
		for _, n := range names {
			b, err := tx.CreateBucket([]byte(n))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("name"), []byte(n)); err != nil {
				return err
			}
		}
		return nil
	})
	var seen sync.Map // txid -> the reader's view of it, as a string
	errs := make(chan error, 4)
	report := func(format string, args ...any) {
		select {
		case errs <- fmt.Errorf(format, args...):
		default:
		}
	}
	stop := make(chan struct{})
	within(t, "bucket cache", func() {
		var readers sync.WaitGroup
		for r := range 4 {
			readers.Add(1)
			go func() {
				defer readers.Done()
				rng := rand.New(rand.NewPCG(9, uint64(r)))
				for {
					select {
					case <-stop:
						return
					default:
					}
					err := db.View(func(tx *Tx) error {
						order := rng.Perm(len(names))
						got := make([]string, len(names))
						for _, i := range order {
							b := tx.Bucket([]byte(names[i]))
							if b == nil {
								got[i] = "-"
								continue
							}
							if n := b.Get([]byte("name")); string(n) != names[i] {
								return fmt.Errorf("txid %d: bucket %q holds the name %q", tx.ID(), names[i], n)
							}
							got[i] = fmt.Sprintf("%x", b.Get([]byte("gen")))
						}
						view := fmt.Sprint(got)
						if prev, loaded := seen.LoadOrStore(tx.ID(), view); loaded && prev != view {
							return fmt.Errorf("txid %d: one reader sees %s, another %s", tx.ID(), prev, view)
						}
						return nil
					})
					if err != nil {
						report("reader %d: %v", r, err)
						return
					}
				}
			}()
		}
		rng := rand.New(rand.NewPCG(9, 99))
		for gen := 1; gen <= 150; gen++ {
			err := db.Update(func(tx *Tx) error {
				for range 1 + rng.IntN(3) {
					n := []byte(names[rng.IntN(len(names))])
					if rng.IntN(5) == 0 {
						if err := tx.DeleteBucket(n); err != nil && !errors.Is(err, ErrBucketNotFound) {
							return err
						}
						continue
					}
					b, err := tx.CreateBucketIfNotExists(n)
					if err != nil {
						return err
					}
					if err := b.Put([]byte("name"), n); err != nil {
						return err
					}
					if err := bankPutUint(b, "gen", uint64(gen)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				report("writer: %v", err)
				break
			}
			runtime.Gosched()
		}
		close(stop)
		readers.Wait()
	})
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	n := 0
	seen.Range(func(_, _ any) bool { n++; return true })
	t.Logf("%d snapshots read", n)
}

// TestConcurrentNoSyncCommitAfterFailedSyncUnmaps: in WAL mode, commit
// A waits for its log sync; NoSync is then set, and commit B, begun on
// A's state, grows the file past the map and maps it anew; as a NoSync
// commit it waits for A's sync before it is published. A's sync fails,
// so B fails too (ErrSyncFailed) and is never published: the mapping it
// made has no snapshot to release it, and Close must unmap it all the
// same (it stayed mapped after Close, as the syncs that fail do not).
func TestConcurrentNoSyncCommitAfterFailedSyncUnmaps(t *testing.T) {
	const ps = 4096
	st := &viewCountStorage{Storage: openFileStorage(memFile(t, tx.InitialImage(ps)), false, false, 0)}
	inner, err := wal.Open(filepath.Join(stressLogDir(t), "log"), wal.Options{SegmentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	g := newGatedLog(inner)
	db, err := tx.OpenWithLog("nosync.db", st, g, &Options{WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	defer g.release(nil)
	db.AllocSize = 1 << 20
	db.WALImageLimit = -1 // operations, however large: no commit here is direct
	put := func(prefix string, mib int) func(*Tx) error {
		return func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for i := range mib {
				if err := b.Put([]byte(fmt.Sprintf("%s%03d", prefix, i)), make([]byte, 1<<20-1024)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	mustUpdate(t, db, put("base", 14)) // the first map (16 MiB) holds it
	views := st.open.Load()
	g.hold()
	errA := make(chan error, 1)
	go func() { errA <- db.Update(put("a", 1)) }()
	waitUntil(t, "commit A waits for its sync", func() bool { return g.waiting.Load() == 1 })
	db.NoSync = true // no transaction of this goroutine is open
	errB := make(chan error, 1)
	go func() { errB <- db.Update(put("b", 4)) }() // past 16 MiB: a 32 MiB map
	waitUntil(t, "commit B maps the file anew", func() bool { return st.open.Load() == views+1 })
	g.release(errInjected)
	if err := <-errA; !errors.Is(err, ErrSyncFailed) {
		t.Fatalf("commit A with a failed sync: %v, want ErrSyncFailed", err)
	}
	if err := <-errB; !errors.Is(err, ErrSyncFailed) {
		t.Fatalf("NoSync commit B after A's failed sync: %v, want ErrSyncFailed", err)
	}
	if err := db.Close(); !errors.Is(err, ErrSyncFailed) {
		t.Fatalf("Close after a failed sync: %v, want ErrSyncFailed", err)
	}
	if n := st.open.Load(); n != 0 {
		t.Fatalf("%d views still mapped after Close", n)
	}
}
