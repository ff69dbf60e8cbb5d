package folio

import (
	"bytes"
	"flag"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foliodb/folio/page"
)

// Space under churn: a steady live set rewritten by random transactions
// for thousands of commits, with reopens, must keep the file at a plateau,
// give freed pages back, and leave every page accounted for.
//
// The bound, and why: the live data is stationary (as many keys put as
// deleted, values of one distribution), so once the file has held the
// live set plus the transient free space a commit and its readers need,
// nothing should ever need more. After a warm-up of the first half of
// the run, the high water mark must stay within churnSlack of the
// highest mark of the first half: room for the noise of a random tree
// shape (page fill wanders by a few percent) and for one more step of
// the WAL's held set, but not for any steady growth, which over the
// second half of thousands of commits would pass it many times over.

// churnSlack bounds the high water mark of the run's second half: at most
// this fraction above the first half's, plus churnSlackPages.
const (
	churnSlack      = 0.05
	churnSlackPages = 32
)

type churnConfig struct {
	ps     int
	wal    string // "": direct; else how checkpoints come: bytes, interval, explicit, close
	large  bool   // values of 2-20 KiB, in overflow runs
	nested bool   // nested buckets created and deleted
	reader bool   // a read transaction held across hundreds of commits
}

func (c churnConfig) name() string {
	mode := "direct"
	if c.wal != "" {
		mode = "wal-" + c.wal
	}
	kind := "small"
	switch {
	case c.large:
		kind = "large"
	case c.nested:
		kind = "nested"
	case c.reader:
		kind = "reader"
	}
	return fmt.Sprintf("%s/%s/ps=%d", mode, kind, c.ps)
}

func (c churnConfig) options() *Options {
	o := &Options{PageSize: c.ps, NoSync: true}
	switch c.wal {
	case "":
		return o
	case "bytes":
		o.CheckpointBytes = 256 << 10
		o.CheckpointInterval = 1 << 62
	case "interval":
		// Due at every commit: the interval path, without timing.
		o.CheckpointBytes = 1 << 40
		o.CheckpointInterval = time.Nanosecond
	default: // explicit, close: only when asked, or at Close
		o.CheckpointBytes = 1 << 40
		o.CheckpointInterval = 1 << 62
	}
	o.WAL = true
	return o
}

// churnModel is what the database should hold: value specs by key, so
// that a value's bytes come from a shared random pool.
type churnModel struct {
	pool   []byte
	keys   map[string]churnVal // in bucket "b"
	groups map[string]int      // nested: group bucket -> its keys
}

type churnVal struct{ off, n int }

func (m *churnModel) value(v churnVal) []byte { return m.pool[v.off : v.off+v.n] }

// liveBytes is the key and value bytes the model holds.
func (m *churnModel) liveBytes() int64 {
	var n int64
	for k, v := range m.keys {
		n += int64(len(k) + v.n)
	}
	for g, keys := range m.groups {
		// Each group: its name, keys of 8 bytes with 32-byte values, and a
		// child bucket with one key.
		n += int64(len(g)) + int64(keys)*40 + 5 + 40
	}
	return n
}

// churnPoint is one sample of the file over time.
type churnPoint struct {
	tx            int
	high          page.ID
	fileSize      int64
	free, pending int
	live          int64 // bytes of keys and values
}

func (p churnPoint) String() string {
	return fmt.Sprintf("tx %d: high %d pages, file %d KiB, free %d, pending %d, live %d KiB", p.tx, p.high, p.fileSize>>10, p.free, p.pending, p.live>>10)
}

var churnTxs = flag.Int("churn.txs", 0, "commits per TestSpaceChurn scenario (0: a few hundred; the measured figures: 10000)")

// TestSpaceChurn runs the churn scenarios without a long reader: a
// plateau, Check clean and every page accounted for along the way, at
// the end and after a reopen.
func TestSpaceChurn(t *testing.T) {
	var cfgs []churnConfig
	for _, ps := range []int{1024, 4096} {
		cfgs = append(cfgs,
			churnConfig{ps: ps},
			churnConfig{ps: ps, large: true},
			churnConfig{ps: ps, nested: true},
			churnConfig{ps: ps, wal: "bytes"},
			churnConfig{ps: ps, wal: "interval", large: true},
			churnConfig{ps: ps, wal: "explicit", nested: true},
			churnConfig{ps: ps, wal: "close"},
		)
	}
	seed := testSeed(t)
	for i, c := range cfgs {
		t.Run(c.name(), func(t *testing.T) {
			t.Parallel() // much of a WAL run waits for its log's files
			runChurn(t, c, seed+uint64(i))
		})
	}
}

// TestSpaceChurnLongReader holds a read transaction across hundreds of
// commits. While it is open, the file grows by about the pages of its
// snapshot that the commits replace, not by everything they write and
// free (pages written after the reader began and freed again were kept
// until it ended, ~7x the file); once it ends, the space comes back and
// later commits reuse it instead of growing the file.
func TestSpaceChurnLongReader(t *testing.T) {
	seed := testSeed(t)
	i := 0
	for _, ps := range []int{1024, 4096} {
		for _, wal := range []string{"", "bytes"} {
			c := churnConfig{ps: ps, wal: wal, reader: true}
			t.Run(c.name(), func(t *testing.T) {
				t.Parallel()
				runChurn(t, c, seed+uint64(i))
			})
			i++
		}
	}
}

func runChurn(t *testing.T, c churnConfig, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 17))
	txs, keys, perTx := 600, 20000, 10
	minVal, maxVal := 8, 64
	small := testing.Short() || raceEnabled
	if small {
		// Sizes only: every check runs as in a full run.
		txs, keys = 150, 4000
	}
	if c.large {
		// 2-20 KiB values: ~600 live ones, ~6.6 MiB (small: ~200).
		keys, perTx, minVal, maxVal = 900, 2, 2<<10, 20<<10
		if small {
			keys, perTx = 300, 4
		}
	}
	if c.nested {
		keys /= 4
	}
	holdFrom, holdFor := txs/8, 300 // the long reader's commits
	if c.reader {
		if small {
			holdFor = 100
		}
		txs = holdFrom + 2*holdFor
	}
	if *churnTxs > 0 {
		txs = *churnTxs
		holdFrom = txs / 8
	}
	// Six reopens, and in WAL mode with explicit checkpoints two between
	// reopens: the held set cycles with them, and the first half of the
	// run must see a few cycles for its high to be the steady one.
	reopenEvery, ckptEvery := txs/6, txs/12
	m := &churnModel{pool: make([]byte, 64<<10), keys: map[string]churnVal{}, groups: map[string]int{}}
	for i := range m.pool {
		m.pool[i] = byte(rng.Uint32())
	}
	newVal := func() churnVal {
		n := minVal + rng.IntN(maxVal-minVal+1)
		return churnVal{rng.IntN(len(m.pool) - n), n}
	}
	key := func(i int) string { return fmt.Sprintf("key%08d", i) }

	opts := c.options()
	db := openTest(t, opts)
	// Warm start: the live set loaded in a few transactions, about 2/3 of
	// the key space (the churn's steady state: a live key is rewritten or
	// deleted alike, a dead one put), in random order, so that pages are
	// about as full as the churn leaves them (a load in key order fills
	// them, and the churn's splits would grow the file for a long while).
	order := rng.Perm(keys)
	for lo := 0; lo < keys; lo += 2000 {
		mustUpdate(t, db, func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for _, i := range order[lo:min(lo+2000, keys)] {
				if rng.IntN(3) == 0 {
					continue
				}
				v := newVal()
				if err := b.Put([]byte(key(i)), m.value(v)); err != nil {
					return err
				}
				m.keys[key(i)] = v
			}
			return nil
		})
	}

	var series []churnPoint
	sample := func(n int) churnPoint {
		in, err := db.Info()
		if err != nil {
			t.Fatal(err)
		}
		p := churnPoint{n, in.HighPage, in.FileSize, in.FreePages, in.PendingPages, m.liveBytes()}
		series = append(series, p)
		return p
	}
	var (
		reader     *Tx
		readerSnap map[string]churnVal
		pinned     int // pages of the reader's snapshot
		atRelease  churnPoint
		beforeHold churnPoint
	)
	nextGroup := 0
	for n := range txs {
		if c.reader && n == holdFrom {
			beforeHold = sample(n)
			var err error
			if reader, err = db.Begin(false); err != nil {
				t.Fatal(err)
			}
			// Close waits for readers: a failure must not leave it open.
			defer func() {
				if reader != nil {
					_ = reader.Rollback()
				}
			}()
			readerSnap = make(map[string]churnVal, len(m.keys))
			for k, v := range m.keys {
				readerSnap[k] = v
			}
			pinned = reachedPages(reader)
		}
		if reader != nil && n == holdFrom+holdFor {
			// The reader still sees its snapshot whole: none of the
			// pages it pins was handed out again.
			churnCompare(t, reader, m, readerSnap)
			if err := reader.Rollback(); err != nil {
				t.Fatal(err)
			}
			reader = nil
			atRelease = sample(n)
		}
		mustUpdate(t, db, func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			for range perTx {
				k := key(rng.IntN(keys))
				if _, ok := m.keys[k]; ok && rng.IntN(2) == 0 {
					if err := b.Delete([]byte(k)); err != nil {
						return err
					}
					delete(m.keys, k)
					continue
				}
				v := newVal()
				if err := b.Put([]byte(k), m.value(v)); err != nil {
					return err
				}
				m.keys[k] = v
			}
			if c.nested {
				return churnGroups(tx, rng, m, &nextGroup)
			}
			return nil
		})
		if c.wal == "explicit" && n%ckptEvery == ckptEvery-1 {
			if err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
		if n%(txs/40) == 0 {
			sample(n)
		}
		if n%(txs/6) == txs/12 {
			churnAccount(t, db, fmt.Sprintf("tx %d", n))
		}
		if n%reopenEvery == reopenEvery-1 && reader == nil {
			db = reopen(t, db, opts)
		}
	}
	last := sample(txs)

	// The plateau: no steady growth over the second half. The live data
	// wanders (how many keys are live, the values' sizes, the groups): if
	// it reaches a new high, the file may grow in proportion. With a long
	// reader, the file grows while it is open (bounded below), and the
	// plateau is what follows its release.
	split := txs / 2
	if c.reader {
		split = atRelease.tx + 1
	}
	var firstMax, secondMax page.ID
	var firstLive, secondLive int64
	for _, p := range series {
		if p.tx < split {
			firstMax, firstLive = max(firstMax, p.high), max(firstLive, p.live)
		} else {
			secondMax, secondLive = max(secondMax, p.high), max(secondLive, p.live)
		}
	}
	grow := max(1, float64(secondLive)/float64(firstLive))
	bound := page.ID(float64(firstMax)*grow*(1+churnSlack)) + churnSlackPages
	if secondMax > bound {
		t.Errorf("the file grew in the second half: high %d pages, first half at most %d, live data x%.3f (bound %d)\n%s", secondMax, firstMax, grow, bound, churnSeries(series))
	}
	if c.reader {
		// Once the reader is gone, the pages it pinned come back: the
		// commits after it reuse them instead of growing the file again.
		var after page.ID
		for _, p := range series {
			if p.tx > atRelease.tx {
				after = max(after, p.high)
			}
		}
		t.Logf("reader: high %d pages before, %d at release (its snapshot: %d pages), at most %d after", beforeHold.high, atRelease.high, pinned, after)
		// While it reads, the reader holds its snapshot's pages as the
		// commits replace them, at most all of them; what the commits
		// write and free again in the meantime it never sees, and they
		// reuse it. Slack as for the plateau; in WAL mode also for the
		// held set (pages of the last checkpoint replaced since), which
		// grows to a quarter of the file before a checkpoint is due.
		lim := int(float64(pinned)*(1+4*churnSlack)) + churnSlackPages
		if c.wal != "" {
			lim += int(atRelease.high) / 4
		}
		if grew := int(atRelease.high) - int(beforeHold.high); grew > lim {
			t.Errorf("while the reader was open the file grew by %d pages, more than its snapshot's %d (bound %d): pages written and freed after it began were kept\n%s",
				grew, pinned, lim, churnSeries(series))
		}
		if lim := page.ID(float64(atRelease.high)*(1+churnSlack)) + churnSlackPages; after > lim {
			t.Errorf("after the long reader ended the file grew from %d to %d pages (bound %d): the space it pinned was not reused\n%s", atRelease.high, after, lim, churnSeries(series))
		}
	}

	if opts.WAL {
		if err := db.Checkpoint(); err != nil {
			t.Fatal(err)
		}
	}
	churnAccount(t, db, "end")
	churnVerify(t, db, m)
	db = reopen(t, db, opts)
	churnAccount(t, db, "reopened")
	churnVerify(t, db, m)
	in, _ := db.Info()
	live := m.liveBytes()
	t.Logf("steady state: file %d KiB (high %d pages, %d KiB), live %d KiB: %.2fx; last sample %v",
		in.FileSize>>10, in.HighPage, int64(in.HighPage)*int64(in.PageSize)>>10, live>>10,
		float64(in.FileSize)/float64(live), last)
	t.Logf("series:\n%s", churnSeries(series))
}

// churnGroups creates a group bucket (with a child bucket) or deletes one
// at random, so that there are about 40 at a time.
func churnGroups(tx *Tx, rng *rand.Rand, m *churnModel, next *int) error {
	nest, err := tx.CreateBucketIfNotExists([]byte("nest"))
	if err != nil {
		return err
	}
	if len(m.groups) > 0 && rng.IntN(80) < len(m.groups) {
		names := make([]string, 0, len(m.groups))
		for g := range m.groups {
			names = append(names, g)
		}
		slices.Sort(names)
		g := names[rng.IntN(len(names))]
		if err := nest.DeleteBucket([]byte(g)); err != nil {
			return err
		}
		delete(m.groups, g)
		return nil
	}
	g := fmt.Sprintf("group%06d", *next)
	*next++
	gb, err := nest.CreateBucket([]byte(g))
	if err != nil {
		return err
	}
	n := 20 + rng.IntN(41)
	for i := range n {
		if err := gb.Put(fmt.Appendf(nil, "g%07d", i), m.pool[i:i+32]); err != nil {
			return err
		}
	}
	child, err := gb.CreateBucket([]byte("child"))
	if err != nil {
		return err
	}
	if err := child.Put([]byte("only"), m.pool[:40]); err != nil {
		return err
	}
	m.groups[g] = n
	return nil
}

// churnCompare checks that tx holds bucket "b" as want.
func churnCompare(t *testing.T, tx *Tx, m *churnModel, want map[string]churnVal) {
	t.Helper()
	b := tx.Bucket([]byte("b"))
	n := 0
	cur := b.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		w, ok := want[string(k)]
		if !ok || !bytes.Equal(v, m.value(w)) {
			t.Fatalf("key %q: got %d bytes, want %v (present %v)", k, len(v), w, ok)
		}
		n++
	}
	if n != len(want) {
		t.Fatalf("%d keys, want %d", n, len(want))
	}
	if err := tx.Err(); err != nil {
		t.Fatal(err)
	}
}

// churnVerify compares the database with the model.
func churnVerify(t *testing.T, db *DB, m *churnModel) {
	t.Helper()
	err := db.View(func(tx *Tx) error {
		churnCompare(t, tx, m, m.keys)
		nest := tx.Bucket([]byte("nest"))
		groups := 0
		if nest != nil {
			err := nest.ForEach(func(k, v []byte) error {
				groups++
				g := nest.Bucket(k)
				if g == nil || m.groups[string(k)] == 0 {
					return fmt.Errorf("group %q: not expected, or not a bucket", k)
				}
				if st := g.Stats(); st.KeyN != m.groups[string(k)]+2 || st.BucketN != 2 {
					return fmt.Errorf("group %q: %d keys, %d buckets; want %d, 2", k, st.KeyN, st.BucketN, m.groups[string(k)]+2)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if groups != len(m.groups) {
			return fmt.Errorf("%d groups, want %d", groups, len(m.groups))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// churnAccount runs Check (the one folio check runs) and requires no
// problem, then requires that the pages the trees reach, the free and
// pending ones (in WAL mode the held ones too), the free list's own run
// and the two meta pages add up to the file's high water mark exactly.
// Check partitions the file by the persisted free list (when there is
// one); this partitions it by the live free list of DB.Info.
func churnAccount(t *testing.T, db *DB, when string) {
	t.Helper()
	in, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	var reached int
	err = db.View(func(tx *Tx) error {
		var problems []string
		for err := range tx.Check() {
			problems = append(problems, err.Error())
		}
		if len(problems) > 0 {
			return fmt.Errorf("check: %d problems:\n%s", len(problems), strings.Join(problems[:min(len(problems), 10)], "\n"))
		}
		if tx.ID() != int(in.TxID) {
			return fmt.Errorf("txid %d, info's %d", tx.ID(), in.TxID)
		}
		reached = reachedPages(tx)
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	flRun := 0
	if in.Freelist != 0 {
		f, err := os.Open(db.Path())
		if err != nil {
			t.Fatal(err)
		}
		hdr := make([]byte, page.HeaderSize)
		_, err = f.ReadAt(hdr, int64(in.Freelist)*int64(in.PageSize))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if page.PageID(hdr) != in.Freelist {
			t.Fatalf("%s: free list page %d names page %d", when, in.Freelist, page.PageID(hdr))
		}
		flRun = int(page.PageOverflow(hdr)) + 1
	}
	sum := 2 + reached + in.FreePages + in.PendingPages + flRun
	if sum != int(in.HighPage) {
		t.Fatalf("%s: 2 meta + %d reachable + %d free + %d pending + %d free-list pages = %d, high water mark %d (%+d leaked)",
			when, reached, in.FreePages, in.PendingPages, flRun, sum, in.HighPage, int(in.HighPage)-sum)
	}
}

// reachedPages counts the pages of tx's trees: the bucket directory and
// every bucket in it.
func reachedPages(tx *Tx) int {
	st := tx.Cursor().Bucket().Stats()
	return st.BranchPageN + st.BranchOverflowN + st.LeafPageN + st.LeafOverflowN + st.LargePageN
}

func churnSeries(s []churnPoint) string {
	var b strings.Builder
	for _, p := range s {
		fmt.Fprintf(&b, "  %v\n", p)
	}
	return b.String()
}

// TestSpaceChurnReadersKeepTheirSnapshots: readers begun at many commits
// and held for different spans, while two writers churn (in WAL mode a
// logged commit waits for its sync, and for publication, while the next
// one begins), read their snapshots whole and intact to the end: a page
// released while older readers remain (ReleaseUnseen) is never one that
// a reader can see, or may yet begin on. A page handed out again under a
// reader fails its parent's checksum, and the reader's hash changes.
func TestSpaceChurnReadersKeepTheirSnapshots(t *testing.T) {
	for _, wal := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", wal), func(t *testing.T) {
			commits := 300
			if testing.Short() || raceEnabled {
				commits = 60
			}
			opts := &Options{PageSize: 1024, NoSync: true, VerifyChecksums: true}
			if wal {
				opts = walOpts(1024)
				opts.NoSync, opts.VerifyChecksums, opts.CheckpointBytes = true, true, 128<<10
			}
			db := openTest(t, opts)
			const keys = 2000
			key := func(i int) []byte { return fmt.Appendf(nil, "key%06d", i) }
			mustUpdate(t, db, func(tx *Tx) error {
				b, err := tx.CreateBucket([]byte("b"))
				if err != nil {
					return err
				}
				for i := range keys {
					if err := b.Put(key(i), []byte("initial")); err != nil {
						return err
					}
				}
				return nil
			})

			var (
				mu        sync.Mutex
				cond      = sync.NewCond(&mu)
				committed int
				writersOn = 2
			)
			progress := func() (n int, on bool) {
				mu.Lock()
				defer mu.Unlock()
				return committed, writersOn > 0
			}
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for w := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() {
						mu.Lock()
						writersOn--
						cond.Broadcast()
						mu.Unlock()
					}()
					rng := rand.New(rand.NewPCG(uint64(w), 3))
					for n := range commits {
						err := db.Update(func(tx *Tx) error {
							b := tx.Bucket([]byte("b"))
							for range 8 {
								v := fmt.Appendf(nil, "w%d-%d-%s", w, n, strings.Repeat("x", rng.IntN(60)))
								if err := b.Put(key(rng.IntN(keys)), v); err != nil {
									return err
								}
							}
							return nil
						})
						if err != nil {
							errs <- err
							return
						}
						mu.Lock()
						committed++
						cond.Broadcast()
						mu.Unlock()
					}
				}()
			}
			snapshotHash := func(tx *Tx) (uint64, int, error) {
				h := fnv.New64a()
				n := 0
				c := tx.Bucket([]byte("b")).Cursor()
				for k, v := c.First(); k != nil; k, v = c.Next() {
					h.Write(k)
					h.Write(v)
					n++
				}
				return h.Sum64(), n, tx.Err()
			}
			for r := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(r), 4))
					for {
						start, on := progress()
						if !on {
							return
						}
						tx, err := db.Begin(false)
						if err != nil {
							errs <- err
							return
						}
						h0, n0, err := snapshotHash(tx)
						if err == nil && n0 != keys {
							err = fmt.Errorf("snapshot %d: %d keys, want %d", tx.ID(), n0, keys)
						}
						// Hold it across 1 to 60 commits of the writers.
						mu.Lock()
						for target := start + 1 + rng.IntN(60); committed < target && writersOn > 0; {
							cond.Wait()
						}
						mu.Unlock()
						if err == nil {
							var h1 uint64
							var n1 int
							if h1, n1, err = snapshotHash(tx); err == nil && (h1 != h0 || n1 != n0) {
								err = fmt.Errorf("snapshot %d changed under its reader: %d keys, hash %x; then %d keys, hash %x", tx.ID(), n0, h0, n1, h1)
							}
						}
						_ = tx.Rollback()
						if err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			churnAccount(t, db, "end")
		})
	}
}
