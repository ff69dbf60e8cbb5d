package folio

// Space accounting and the free set. Every page below a
// snapshot's high water mark must be exactly one of reachable, free or
// pending. These tests check that with Tx.Check and, independently, with
// a page walk written here from the on-disk format (package page only),
// so that a bug shared by Check and the allocator cannot hide.

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/foliodb/folio/freelist"
	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/tx"
)

var spaceDeep = flag.Bool("space.deep", false, "run the space workloads longer, over more seeds")

// spaceImage is an independent walk of a database image (a file, or a
// WriteTo copy): which page is held by what.
type spaceImage struct {
	data     []byte
	ps       int
	meta     page.Meta
	owner    []string // per page below High: "" unclaimed
	problems []string
	reached  int // pages the trees reach (not the free list's run)
	flRun    int // pages of the persisted free list's run
	free     []page.Extent
}

func (w *spaceImage) problem(format string, args ...any) {
	if len(w.problems) < 50 {
		w.problems = append(w.problems, fmt.Sprintf(format, args...))
	}
}

func (w *spaceImage) claim(id page.ID, n int, what string) bool {
	if id < 2 || uint64(id)+uint64(n) > uint64(w.meta.High) || n <= 0 {
		w.problem("%s: run [%d, +%d) outside [2, %d)", what, id, n, w.meta.High)
		return false
	}
	ok := true
	for i := 0; i < n; i++ {
		p := id + page.ID(i)
		if o := w.owner[p]; o != "" {
			w.problem("page %d: %s and %s", p, o, what)
			ok = false
			continue
		}
		w.owner[p] = what
	}
	return ok
}

// run returns the run at id after checking its header (own id, kind) and
// its checksum against the stored one and the parent's.
func (w *spaceImage) run(id page.ID, kinds page.Flags, sum uint32, what string) []byte {
	if id < 2 || id >= w.meta.High {
		w.problem("%s: page %d outside [2, %d)", what, id, w.meta.High)
		return nil
	}
	p := w.data[int(id)*w.ps:]
	if page.PageID(p) != id {
		w.problem("%s: page %d names itself %d", what, id, page.PageID(p))
		return nil
	}
	if page.PageFlags(p)&kinds == 0 {
		w.problem("%s: page %d is a %v page", what, id, page.PageFlags(p))
		return nil
	}
	n := int(page.PageOverflow(p)) + 1
	if uint64(id)+uint64(n) > uint64(w.meta.High) {
		w.problem("%s: run %d of %d pages passes %d", what, id, n, w.meta.High)
		return nil
	}
	r := p[:n*w.ps]
	if got := page.Checksum(r); got != page.PageChecksum(r) || got != sum {
		w.problem("%s: run %d checksum %#x, stored %#x, parent expects %#x", what, id, got, page.PageChecksum(r), sum)
	}
	return r
}

func (w *spaceImage) tree(root page.ID, sum uint32, what string, depth int) {
	if depth > 64 {
		w.problem("%s: deeper than 64", what)
		return
	}
	r := w.run(root, page.FlagBranch|page.FlagLeaf, sum, what)
	if r == nil {
		return
	}
	n := len(r) / w.ps
	if !w.claim(root, n, fmt.Sprintf("%s %v %d", what, page.PageFlags(r), root)) {
		return
	}
	w.reached += n
	count := page.PageCount(r)
	if page.PageFlags(r) == page.FlagBranch {
		for i := 0; i < count; i++ {
			child, csum := page.BranchChild(r, i)
			w.tree(child, csum, what, depth+1)
		}
		return
	}
	for i := 0; i < count; i++ {
		flags, key, v, ok := page.LeafElem(r, count, i)
		if !ok {
			w.problem("%s: leaf %d element %d out of the page", what, root, i)
			continue
		}
		switch {
		case flags&page.LeafBucket != 0:
			h, err := page.DecodeBucketHeader(v, root)
			if err != nil {
				w.problem("%s: %v", what, err)
				continue
			}
			if h.Root != 0 {
				w.tree(h.Root, h.RootSum, what+"/"+string(key), depth+1)
			}
		case flags&page.LeafLarge != 0:
			ref, err := page.DecodeLargeRef(v, root)
			if err != nil {
				w.problem("%s: %v", what, err)
				continue
			}
			want := page.RunPages(int(ref.Size), w.ps)
			lr := w.run(ref.Page, page.FlagLarge, ref.Sum, what+" large value")
			if lr == nil {
				continue
			}
			if len(lr)/w.ps != want {
				w.problem("%s: large value at %d: run of %d pages, size %d needs %d", what, ref.Page, len(lr)/w.ps, ref.Size, want)
			}
			if w.claim(ref.Page, len(lr)/w.ps, fmt.Sprintf("%s large value %d", what, ref.Page)) {
				w.reached += len(lr) / w.ps
			}
		}
	}
}

// spaceMeta decodes both meta slots of img and returns the newest valid.
func spaceMeta(img []byte, ps int) (page.Meta, error) {
	var best page.Meta
	var firstErr error
	found := false
	for slot := 0; slot < 2; slot++ {
		if len(img) < (slot+1)*ps {
			return best, fmt.Errorf("image of %d bytes", len(img))
		}
		m, err := page.DecodeMeta(img[slot*ps:(slot+1)*ps], page.ID(slot))
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if !found || m.TxID > best.TxID {
			best, found = m, true
		}
	}
	if !found {
		return best, firstErr
	}
	return best, nil
}

// spaceWalk walks the image img as meta m describes it. Every page below
// m.High must be reached once, or be on the persisted free list once, or
// (with no persisted list) be unreached.
func spaceWalk(img []byte, ps int, m page.Meta) *spaceImage {
	w := &spaceImage{data: img, ps: ps, meta: m}
	if uint64(len(img)) < uint64(m.High)*uint64(ps) {
		w.problem("image of %d bytes, meta %d reaches %d pages", len(img), m.TxID, m.High)
		return w
	}
	w.owner = make([]string, m.High)
	w.owner[0], w.owner[1] = "meta", "meta"
	if m.Root != 0 {
		w.tree(m.Root, m.RootSum, "dir", 0)
	}
	if m.Freelist == 0 {
		return w
	}
	r := w.run(m.Freelist, page.FlagFreelist, m.FreelistSum, "free list")
	if r == nil {
		return w
	}
	w.flRun = len(r) / ps
	w.claim(m.Freelist, w.flRun, "free-list run")
	exts, err := page.DecodeFreelist(r[page.HeaderSize:], m.Freelist, m.High)
	if err == nil {
		exts, err = page.ApplyFreeDelta(exts, m, page.ID(m.TxID%2))
	}
	if err != nil {
		w.problem("free list: %v", err)
		return w
	}
	w.free = exts
	for _, e := range exts {
		w.claim(e.Start, int(e.Len), fmt.Sprintf("free extent [%d,+%d)", e.Start, e.Len))
	}
	for id := page.ID(2); id < m.High; id++ {
		if w.owner[id] == "" {
			start := id
			for id+1 < m.High && w.owner[id+1] == "" {
				id++
			}
			w.problem("pages %d..%d leaked (neither reachable nor free)", start, id)
		}
	}
	return w
}

func (w *spaceImage) freeCount() int {
	n := 0
	for _, e := range w.free {
		n += int(e.Len)
	}
	return n
}

// spaceSnapshot walks tx's snapshot as WriteTo copies it.
func spaceSnapshot(t *testing.T, tx *Tx) *spaceImage {
	t.Helper()
	var buf bytes.Buffer
	if _, err := tx.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	ps := tx.DB().PageSize()
	m, err := spaceMeta(buf.Bytes(), ps)
	if err != nil {
		t.Fatalf("snapshot meta: %v", err)
	}
	return spaceWalk(buf.Bytes(), ps, m)
}

// spaceFile walks the file on disk as its newest meta describes it.
func spaceFile(t *testing.T, path string, ps int) *spaceImage {
	t.Helper()
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := spaceMeta(img, ps)
	if err != nil {
		t.Fatalf("file meta: %v", err)
	}
	return spaceWalk(img, ps, m)
}

// spaceCheck runs Tx.Check on the current snapshot, the independent walk of
// it, and compares the page counts with Info (when no reader holds pages
// and the snapshot is the head: the caller says so).
func spaceCheck(t *testing.T, db *DB, when string, counts bool) *spaceImage {
	t.Helper()
	var w *spaceImage
	var in Info
	err := db.View(func(tx *Tx) error {
		var problems []string
		for err := range tx.Check() {
			problems = append(problems, err.Error())
		}
		if len(problems) > 0 {
			return fmt.Errorf("Check: %s", strings.Join(problems[:min(10, len(problems))], "\n"))
		}
		w = spaceSnapshot(t, tx)
		var err error
		in, err = db.Info()
		if err != nil {
			return err
		}
		if in.TxID != page.TxID(tx.ID()) {
			counts = false // a commit came in between
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	if len(w.problems) > 0 {
		t.Fatalf("%s: independent walk (txid %d, high %d) found:\n%s", when, w.meta.TxID, w.meta.High, strings.Join(w.problems, "\n"))
	}
	if !counts {
		return w
	}
	unreached := int(w.meta.High) - 2 - w.reached - w.flRun
	if w.meta.Freelist != 0 && w.freeCount() != unreached {
		t.Fatalf("%s: bug in the walk: %d free of %d unreached", when, w.freeCount(), unreached)
	}
	if got := in.FreePages + in.PendingPages; got != unreached {
		t.Fatalf("%s: Info says %d free + %d pending = %d, the walk finds %d pages neither reachable nor the free list's (high %d, reached %d, free-list run %d, WAL %v)",
			when, in.FreePages, in.PendingPages, got, unreached, w.meta.High, w.reached, w.flRun, in.WAL)
	}
	return w
}

// spaceModel is the database as a flat map: "a/b" is a bucket path, and
// "a/b\x00k" a key in it.
type spaceModel map[string]string

func (m spaceModel) allBuckets() []string {
	var out []string
	for k := range m {
		if !strings.Contains(k, "\x00") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (m spaceModel) keys(b string) []string {
	var out []string
	for k := range m {
		if strings.HasPrefix(k, b+"\x00") {
			out = append(out, k[len(b)+1:])
		}
	}
	sort.Strings(out)
	return out
}

func (m spaceModel) clone() spaceModel {
	c := make(spaceModel, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// under reports whether model key k belongs to bucket b or one below it.
func spaceUnder(k, b string) bool {
	return k == b || strings.HasPrefix(k, b+"/") || strings.HasPrefix(k, b+"\x00")
}

func spaceOpen(tx *Tx, path string) *Bucket {
	parts := strings.Split(path, "/")
	b := tx.Bucket([]byte(parts[0]))
	for _, p := range parts[1:] {
		if b == nil {
			return nil
		}
		b = b.Bucket([]byte(p))
	}
	return b
}

func spaceDump(tx *Tx) (spaceModel, error) {
	out := spaceModel{}
	var walk func(b *Bucket, path string) error
	walk = func(b *Bucket, path string) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				sub := path + "/" + string(k)
				out[sub] = ""
				return walk(b.Bucket(k), sub)
			}
			out[path+"\x00"+string(k)] = string(v)
			return nil
		})
	}
	err := tx.ForEach(func(name []byte, b *Bucket) error {
		out[string(name)] = ""
		return walk(b, string(name))
	})
	return out, err
}

func spaceCompare(tx *Tx, want spaceModel) error {
	got, err := spaceDump(tx)
	if err != nil {
		return err
	}
	if len(got) != len(want) {
		return fmt.Errorf("txid %d: %d entries, model %d", tx.ID(), len(got), len(want))
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			return fmt.Errorf("txid %d: %q missing", tx.ID(), k)
		}
		if g != v {
			return fmt.Errorf("txid %d: %q holds %d bytes, model %d", tx.ID(), k, len(g), len(v))
		}
	}
	return nil
}

type spaceReader struct {
	tx   *Tx
	want spaceModel
	left int // commits until it ends
}

type spaceConfig struct {
	name     string
	seed     uint64
	rounds   int
	ps       int
	readers  bool
	switches bool // reopen in a random mode
	wal      bool // first mode
	maxSize  int  // Options.MaxSize: commits that pass it fail, changing nothing
}

func (c spaceConfig) options(rng *rand.Rand, wal, noFL bool) *Options {
	o := &Options{PageSize: c.ps, WAL: wal, NoFreelistSync: noFL, MaxSize: c.maxSize}
	if rng.IntN(2) == 0 {
		// Checkpoints by themselves: by bytes logged, and by held pages.
		o.CheckpointBytes = 16 << 10
	}
	return o
}

// spaceRun runs a random workload and checks the space after every commit.
func spaceRun(t *testing.T, c spaceConfig) {
	rng := rand.New(rand.NewPCG(c.seed, 20))
	path := tempPath(t)
	wal, noFL := c.wal, false
	opts := c.options(rng, wal, noFL)
	db, err := Open(path, 0o600, opts)
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 4 * c.ps // small steps: the tail is cut often
	if rng.IntN(2) == 0 {
		db.WALImageLimit = -1 // operations, in WAL mode
	}
	model := spaceModel{}
	var readers []*spaceReader
	var lastSize int64
	cuts, failed := 0, 0
	defer func() {
		for _, r := range readers {
			_ = r.tx.Rollback()
		}
		if db != nil {
			_ = db.Close()
		}
	}()
	next := 0
	bigPool := make([]byte, 40*c.ps)
	for i := range bigPool {
		bigPool[i] = byte(rng.Uint32())
	}
	value := func() string {
		switch rng.IntN(10) {
		case 0:
			n := c.ps/4 + rng.IntN(6*c.ps) // large: its own run
			off := rng.IntN(len(bigPool) - n)
			return string(bigPool[off : off+n])
		case 1:
			return ""
		}
		return strings.Repeat(string(rune('a'+rng.IntN(26))), 1+rng.IntN(60))
	}
	endReader := func(r *spaceReader, when string) {
		t.Helper()
		if err := spaceCompare(r.tx, r.want); err != nil {
			t.Fatalf("%s: reader: %v", when, err)
		}
		for err := range r.tx.Check() {
			t.Fatalf("%s: reader's Check: %v", when, err)
		}
		if w := spaceSnapshot(t, r.tx); len(w.problems) > 0 {
			t.Fatalf("%s: reader's snapshot (txid %d): %s", when, r.tx.ID(), strings.Join(w.problems, "\n"))
		}
		_ = r.tx.Rollback()
	}
	for round := 0; round < c.rounds; round++ {
		when := fmt.Sprintf("seed %d round %d (wal %v, nofl %v)", c.seed, round, wal, noFL)
		nm := model.clone()
		err := db.Update(func(tx *Tx) error {
			for op := 0; op < 1+rng.IntN(12); op++ {
				bs := nm.allBuckets()
				switch k := rng.IntN(100); {
				case k < 8 || len(bs) == 0: // create a bucket
					parent := ""
					if len(bs) > 0 && rng.IntN(2) == 0 {
						parent = bs[rng.IntN(len(bs))]
					}
					next++
					name := fmt.Sprintf("b%d", next)
					var err error
					if parent == "" {
						_, err = tx.CreateBucket([]byte(name))
						nm[name] = ""
					} else {
						_, err = spaceOpen(tx, parent).CreateBucket([]byte(name))
						nm[parent+"/"+name] = ""
					}
					if err != nil {
						return err
					}
				case k < 13: // delete a bucket
					b := bs[rng.IntN(len(bs))]
					i := strings.LastIndex(b, "/")
					var err error
					if i < 0 {
						err = tx.DeleteBucket([]byte(b))
					} else {
						err = spaceOpen(tx, b[:i]).DeleteBucket([]byte(b[i+1:]))
					}
					if err != nil {
						return fmt.Errorf("delete bucket %s: %w", b, err)
					}
					for key := range nm {
						if spaceUnder(key, b) {
							delete(nm, key)
						}
					}
				case k < 17: // move a bucket
					b := bs[rng.IntN(len(bs))]
					i := strings.LastIndex(b, "/")
					name := b[i+1:]
					var dst string
					if rng.IntN(3) > 0 {
						dst = bs[rng.IntN(len(bs))]
						if spaceUnder(dst, b) {
							continue
						}
					}
					src := ""
					if i >= 0 {
						src = b[:i]
					}
					if src == dst {
						continue
					}
					var sb, db *Bucket
					if src != "" {
						sb = spaceOpen(tx, src)
					}
					if dst != "" {
						db = spaceOpen(tx, dst)
					}
					if err := tx.MoveBucket([]byte(name), sb, db); err != nil {
						return fmt.Errorf("move %s to %q: %w", b, dst, err)
					}
					to := name
					if dst != "" {
						to = dst + "/" + name
					}
					for key, v := range nm {
						if spaceUnder(key, b) {
							delete(nm, key)
							nm[to+key[len(b):]] = v
						}
					}
				case k < 22: // cursor deletes
					b := bs[rng.IntN(len(bs))]
					bk := spaceOpen(tx, b)
					cur := bk.Cursor()
					n := 0
					for key, v := cur.First(); key != nil; key, v = cur.Next() {
						if v == nil || rng.IntN(2) == 0 {
							continue
						}
						if err := cur.Delete(); err != nil {
							return err
						}
						delete(nm, b+"\x00"+string(key))
						if n++; n > 30 {
							break
						}
					}
				case k < 40: // delete keys
					b := bs[rng.IntN(len(bs))]
					ks := nm.keys(b)
					for j := 0; j < min(len(ks), 1+rng.IntN(20)); j++ {
						key := ks[rng.IntN(len(ks))]
						if err := spaceOpen(tx, b).Delete([]byte(key)); err != nil {
							return err
						}
						delete(nm, b+"\x00"+key)
					}
				default: // puts
					b := bs[rng.IntN(len(bs))]
					bk := spaceOpen(tx, b)
					for j := 0; j < 1+rng.IntN(15); j++ {
						key := fmt.Sprintf("k%04d", rng.IntN(400))
						if rng.IntN(25) == 0 {
							// A long key: its leaf (and the branch above
							// it) becomes a run of several pages.
							key += strings.Repeat("L", c.ps/2+rng.IntN(3*c.ps))
						}
						v := value()
						if err := bk.Put([]byte(key), []byte(v)); err != nil {
							return err
						}
						nm[b+"\x00"+key] = v
					}
				}
			}
			if rng.IntN(12) == 0 {
				return errSpaceRollback
			}
			return nil
		})
		switch {
		case err == errSpaceRollback:
		case c.maxSize > 0 && errors.Is(err, ErrMaxSizeReached):
			failed++
		case err != nil:
			t.Fatalf("%s: %v", when, err)
		default:
			model = nm
		}
		for i := 0; i < len(readers); i++ {
			if readers[i].left--; readers[i].left <= 0 {
				endReader(readers[i], when)
				readers = append(readers[:i], readers[i+1:]...)
				i--
			}
		}
		if c.readers && len(readers) < 3 && rng.IntN(15) == 0 {
			tx, err := db.Begin(false)
			if err != nil {
				t.Fatal(err)
			}
			readers = append(readers, &spaceReader{tx: tx, want: model.clone(), left: 1 + rng.IntN(40)})
		}
		if wal && rng.IntN(10) == 0 {
			if err := db.Checkpoint(); err != nil {
				t.Fatalf("%s: checkpoint: %v", when, err)
			}
		}
		spaceCheck(t, db, when, len(readers) == 0)
		if in, err := db.Info(); err == nil {
			if in.FileSize < lastSize {
				cuts++
			}
			lastSize = in.FileSize
		}
		if !wal && !noFL && len(readers) == 0 {
			// The file's newest meta is the head: its persisted list is
			// exactly the pages the trees do not reach.
			if w := spaceFile(t, path, c.ps); len(w.problems) > 0 {
				t.Fatalf("%s: file: %s", when, strings.Join(w.problems, "\n"))
			}
		}
		if err := db.View(func(tx *Tx) error { return spaceCompare(tx, model) }); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if rng.IntN(25) == 0 {
			for _, r := range readers {
				endReader(r, when)
			}
			readers = nil
			before, _ := db.Info()
			if err := db.Close(); err != nil {
				t.Fatalf("%s: close: %v", when, err)
			}
			db = nil
			// Closed: the file's newest meta holds everything.
			w := spaceFile(t, path, c.ps)
			if len(w.problems) > 0 {
				t.Fatalf("%s: closed file: %s", when, strings.Join(w.problems, "\n"))
			}
			noFLBefore := noFL
			if c.switches {
				wal, noFL = rng.IntN(2) == 0, rng.IntN(3) == 0
			}
			db, err = Open(path, 0o600, c.options(rng, wal, noFL))
			if err != nil {
				t.Fatalf("%s: reopen: %v", when, err)
			}
			db.AllocSize = 4 * c.ps
			if rng.IntN(2) == 0 {
				db.WALImageLimit = -1
			}
			after, _ := db.Info()
			// (Leaving WAL mode commits once more: a checkpoint, whose
			// begin may trim the tail. Then the file's list is older.)
			if w.meta.Freelist != 0 && after.TxID == w.meta.TxID && after.FreePages+after.PendingPages != w.freeCount() {
				t.Fatalf("%s: reopened (wal %v, nofl %v) with %d free + %d pending, the file lists %d (file meta txid %d high %d free list %d; reopened %+v; before %+v)",
					when, wal, noFL, after.FreePages, after.PendingPages, w.freeCount(), w.meta.TxID, w.meta.High, w.meta.Freelist, after, before)
			}
			if !before.WAL && !noFLBefore && (before.FreePages+before.PendingPages != after.FreePages+after.PendingPages || before.HighPage != after.HighPage) {
				t.Fatalf("%s: before close %d free + %d pending (high %d), reopened with %d + %d (high %d)",
					when, before.FreePages, before.PendingPages, before.HighPage, after.FreePages, after.PendingPages, after.HighPage)
			}
			spaceCheck(t, db, when+" reopened", true)
			if err := db.View(func(tx *Tx) error { return spaceCompare(tx, model) }); err != nil {
				t.Fatalf("%s: reopened: %v", when, err)
			}
		}
	}
	for _, r := range readers {
		endReader(r, "end")
	}
	t.Logf("%d rounds, the file cut %d times while open, %d commits past MaxSize", c.rounds, cuts, failed)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = nil
	if w := spaceFile(t, path, c.ps); len(w.problems) > 0 {
		t.Fatalf("closed file: %s", strings.Join(w.problems, "\n"))
	}
}

var errSpaceRollback = fmt.Errorf("space test: roll back")

// TestSpaceAccountingRandom runs random workloads (nested buckets made,
// moved and deleted, large values, cursor deletes, rollbacks, readers
// held across commits, checkpoints, reopens switching between WAL and
// direct mode and NoFreelistSync) and after every commit checks the
// snapshot with Check, with the independent walk, and against Info's
// free and pending counts.
func TestSpaceAccountingRandom(t *testing.T) {
	seeds, rounds := 1, 80
	if *spaceDeep {
		seeds, rounds = 40, 600
	}
	for _, cfg := range []spaceConfig{
		{name: "direct", wal: false},
		{name: "wal", wal: true},
		{name: "readers", readers: true},
		{name: "walreaders", wal: true, readers: true},
		{name: "switch", readers: true, switches: true},
		{name: "maxsize", readers: true, switches: true, maxSize: 48 << 10},
	} {
		for s := 0; s < seeds; s++ {
			c := cfg
			c.seed, c.rounds, c.ps = uint64(s+1), rounds, 1024
			t.Run(fmt.Sprintf("%s/%d", c.name, s+1), func(t *testing.T) { spaceRun(t, c) })
		}
	}
}

// TestSpaceAccountingFreelistManyPages fragments the free set until its
// encoding needs several pages, then checks after every commit that the
// file's persisted list is exactly the unreached pages, and that a reopen
// loads the same set the DB held (Info's counts; the file's extents).
func TestSpaceAccountingFreelistManyPages(t *testing.T) {
	const ps = 1024
	for _, noFL := range []bool{false, true} {
		t.Run(fmt.Sprintf("nofreelistsync=%v", noFL), func(t *testing.T) {
			path := tempPath(t)
			db, err := Open(path, 0o600, &Options{PageSize: ps, NoFreelistSync: noFL})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = db.Close() }()
			val := bytes.Repeat([]byte("v"), ps/2) // one page each, out of line
			const n = 3000
			if err := db.Update(func(tx *Tx) error {
				b, err := tx.CreateBucket([]byte("b"))
				if err != nil {
					return err
				}
				for i := 0; i < n; i++ {
					if err := b.Put(fmt.Appendf(nil, "k%05d", i), val); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			// Every other value goes: ~1,500 one-page holes, ~3 KiB of
			// extents, spread over a few commits.
			for step := 0; step < 4; step++ {
				if err := db.Update(func(tx *Tx) error {
					b := tx.Bucket([]byte("b"))
					for i := step * 2; i < n; i += 8 {
						if err := b.Delete(fmt.Appendf(nil, "k%05d", i)); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				when := fmt.Sprintf("step %d", step)
				spaceCheck(t, db, when, true)
				before, err := db.Info()
				if err != nil {
					t.Fatal(err)
				}
				if !noFL {
					w := spaceFile(t, path, ps)
					if len(w.problems) > 0 {
						t.Fatalf("%s: file: %s", when, strings.Join(w.problems, "\n"))
					}
					if step == 3 && w.flRun < 2 {
						t.Fatalf("the free list takes %d page(s); the test wants several", w.flRun)
					}
					if got := before.FreePages + before.PendingPages; got != w.freeCount() {
						t.Fatalf("%s: DB holds %d free + %d pending, the file lists %d", when, before.FreePages, before.PendingPages, w.freeCount())
					}
				}
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				if db, err = Open(path, 0o600, &Options{PageSize: ps, NoFreelistSync: noFL}); err != nil {
					t.Fatal(err)
				}
				after, err := db.Info()
				if err != nil {
					t.Fatal(err)
				}
				// Close gives back only a free tail past the mark: none here.
				if got, want := after.FreePages+after.PendingPages, before.FreePages+before.PendingPages; got != want || after.HighPage != before.HighPage {
					t.Fatalf("%s: reopened with %d free (high %d), had %d free + pending (high %d)", when, got, after.HighPage, want, before.HighPage)
				}
				spaceCheck(t, db, when+" reopened", true)
			}
		})
	}
}

// TestSpaceAccountingSteadyChurn replaces values at a constant live size for
// many commits, in both modes, with and without a reader held for a long
// stretch and then released: the high water mark must stop growing, and
// what the reader held must come back.
func TestSpaceAccountingSteadyChurn(t *testing.T) {
	const ps = 1024
	for _, wal := range []bool{false, true} {
		for _, reader := range []bool{false, true} {
			t.Run(fmt.Sprintf("wal=%v,reader=%v", wal, reader), func(t *testing.T) {
				db := openTest(t, &Options{PageSize: ps, WAL: wal, CheckpointBytes: 64 << 10})
				db.AllocSize = 16 << 10
				rng := rand.New(rand.NewPCG(7, 20))
				val := func() []byte {
					if rng.IntN(8) == 0 {
						return bytes.Repeat([]byte{byte(rng.Uint32())}, ps+rng.IntN(2*ps))
					}
					return bytes.Repeat([]byte{byte(rng.Uint32())}, 20+rng.IntN(100))
				}
				churn := func(commits int) {
					for i := 0; i < commits; i++ {
						if err := db.Update(func(tx *Tx) error {
							b, err := tx.CreateBucketIfNotExists([]byte("b"))
							if err != nil {
								return err
							}
							for j := 0; j < 5; j++ {
								if err := b.Put(fmt.Appendf(nil, "k%03d", rng.IntN(300)), val()); err != nil {
									return err
								}
							}
							// A nested bucket made and dropped again.
							if i%10 == 0 {
								n, err := b.CreateBucketIfNotExists([]byte("nested"))
								if err != nil {
									return err
								}
								for j := 0; j < 20; j++ {
									if err := n.Put(fmt.Appendf(nil, "n%02d", j), val()); err != nil {
										return err
									}
								}
							} else if i%10 == 5 {
								return b.DeleteBucket([]byte("nested"))
							}
							return nil
						}); err != nil {
							t.Fatal(err)
						}
					}
				}
				high := func() page.ID {
					in, err := db.Info()
					if err != nil {
						t.Fatal(err)
					}
					return in.HighPage
				}
				// Every key written once, then a warm-up: the live size is
				// constant from here on.
				if err := db.Update(func(tx *Tx) error {
					b, err := tx.CreateBucket([]byte("b"))
					if err != nil {
						return err
					}
					for k := 0; k < 300; k++ {
						if err := b.Put(fmt.Appendf(nil, "k%03d", k), val()); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				churn(60)
				h0 := high()
				var rtx *Tx
				if reader {
					var err error
					if rtx, err = db.Begin(false); err != nil {
						t.Fatal(err)
					}
				}
				churn(60)
				h1 := high()
				if rtx != nil {
					w := spaceSnapshot(t, rtx)
					for err := range rtx.Check() {
						w.problem("Check: %v", err)
					}
					_ = rtx.Rollback() // before any Fatal: Close waits for readers
					if len(w.problems) > 0 {
						t.Fatalf("held reader's snapshot: %s", strings.Join(w.problems, "\n"))
					}
				}
				churn(150)
				h2 := high()
				if wal {
					if err := db.Checkpoint(); err != nil {
						t.Fatal(err)
					}
				}
				spaceCheck(t, db, "end", true)
				t.Logf("high water mark: %d after warm-up, %d after the reader's stretch, %d after 150 more", h0, h1, h2)
				// With no reader, the file stays near its warm-up size;
				// once a reader is released, the space it held is reused:
				// the mark does not pass what the reader's stretch set.
				limit := h0 + h0/2
				if reader {
					limit = max(h1, limit)
				}
				if h2 > limit {
					t.Fatalf("high water mark grew from %d (after %d) to %d: space not reused", h0, h1, h2)
				}
			})
		}
	}
}

// TestSpaceAccountingCrashImages cuts the power at every storage call of a
// churning workload (large values, nested buckets made and deleted,
// readers held across commits, the file grown and its tail given back)
// and checks each image the crash could leave with Check, with the
// independent walk (no page both free and reachable, none leaked) and
// against the free counts the reopened DB holds, then once more after a
// commit on the recovered file.
func TestSpaceAccountingCrashImages(t *testing.T) {
	const ps = 1024
	for _, noFL := range []bool{false, true} {
		t.Run(fmt.Sprintf("nofreelistsync=%v", noFL), func(t *testing.T) {
			opts := &Options{NoFreelistSync: noFL}
			st := newCrashStorage(t, tx.InitialImage(ps))
			db, err := tx.Open("crash.db", st, opts)
			if err != nil {
				t.Fatal(err)
			}
			db.AllocSize = 4 * ps
			rng := rand.New(rand.NewPCG(20, 20))
			var readers []*Tx
			const txns = 40
			for i := 1; i <= txns; i++ {
				st.setTag(i)
				err := db.Update(func(tx *Tx) error {
					b, err := tx.CreateBucketIfNotExists([]byte("b"))
					if err != nil {
						return err
					}
					for j := 0; j < 6; j++ {
						k := fmt.Appendf(nil, "k%02d", rng.IntN(40))
						if rng.IntN(3) == 0 {
							if err := b.Delete(k); err != nil {
								return err
							}
							continue
						}
						n := 10 + rng.IntN(50)
						if rng.IntN(3) == 0 {
							n = ps + rng.IntN(3*ps)
						}
						if err := b.Put(k, bytes.Repeat([]byte{byte(i)}, n)); err != nil {
							return err
						}
					}
					name := []byte(fmt.Sprintf("n%d", i%3))
					if i%4 == 3 {
						if err := b.DeleteBucket(name); err != nil && !errors.Is(err, ErrBucketNotFound) {
							return err
						}
						return nil
					}
					nb, err := b.CreateBucketIfNotExists(name)
					if err != nil {
						return err
					}
					for j := 0; j < 8; j++ {
						if err := nb.Put(fmt.Appendf(nil, "x%02d", j), bytes.Repeat([]byte("y"), 30+rng.IntN(ps))); err != nil {
							return err
						}
					}
					if i == 25 {
						// Most of it goes: the file's tail is given back.
						return tx.DeleteBucket([]byte("b"))
					}
					return nil
				})
				if err != nil {
					t.Fatalf("txn %d: %v", i, err)
				}
				if i%7 == 0 {
					r, err := db.Begin(false)
					if err != nil {
						t.Fatal(err)
					}
					readers = append(readers, r)
				}
				if len(readers) > 0 && i%5 == 0 {
					_ = readers[0].Rollback()
					readers = readers[1:]
				}
			}
			for _, r := range readers {
				_ = r.Rollback()
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			truncs := 0
			for _, op := range st.ops {
				if op.kind == opTruncate {
					truncs++
				}
			}
			if truncs < 2 {
				t.Fatalf("the workload cut the file %d times; it should cut it while open too", truncs)
			}
			nops := st.opCount()
			step := 1
			if !*spaceDeep {
				step = 4
			}
			images := 0
			for k := 0; k <= nops; k += step {
				for mode := imageSynced; mode <= imageTorn; mode++ {
					img := st.image(k, mode, ps, rng)
					where := fmt.Sprintf("crash after op %d/%d (%s), image %s", k, nops, opAt(st.ops, k), mode)
					o := *opts
					o.VerifyChecksums = true
					db2, err := openImage(t, "crash.db", img, &o)
					if err != nil {
						t.Fatalf("%s: open: %v", where, err)
					}
					images++
					if m, err := spaceMeta(img, ps); err == nil && db2.Stats().MetaFallback == "" {
						// The newest meta of the image is the one opened.
						w := spaceWalk(img, ps, m)
						if len(w.problems) > 0 {
							db2.Close()
							t.Fatalf("%s: image: %s", where, strings.Join(w.problems, "\n"))
						}
					}
					spaceCheck(t, db2, where, true)
					if err := db2.Update(func(tx *Tx) error {
						b, err := tx.CreateBucketIfNotExists([]byte("after"))
						if err != nil {
							return err
						}
						return b.Put([]byte("k"), bytes.Repeat([]byte("z"), 2*ps))
					}); err != nil {
						t.Fatalf("%s: commit after recovery: %v", where, err)
					}
					spaceCheck(t, db2, where+", then a commit", true)
					if err := db2.Close(); err != nil {
						t.Fatal(err)
					}
				}
			}
			t.Logf("%d calls, %d truncations, %d images", nops, truncs, images)
		})
	}
}

// TestSpaceAccountingCrashImagesWAL is TestSpaceAccountingCrashImages in WAL
// mode: commits logged as page images or as operations, checkpoints by
// size, held pages, a reader held across checkpoints; every crash image
// of file and log is recovered, checked by Check, the independent walk
// and Info's counts, then committed to and checkpointed, and checked
// again (the free set recovery rebuilt must hand out no page in use).
func TestSpaceAccountingCrashImagesWAL(t *testing.T) {
	const ps = 1024
	for _, records := range []string{"images", "operations"} {
		t.Run(records, func(t *testing.T) {
			opts := &Options{WAL: true, CheckpointBytes: 6 << 10}
			st := newCrashStorage(t, tx.InitialImage(ps))
			lg := newCrashLog(st)
			db, err := tx.OpenWithLog("crash.db", st, lg, opts)
			if err != nil {
				t.Fatal(err)
			}
			db.AllocSize = 4 * ps
			db.WALImageLimit = recordsLimit[records]
			rng := rand.New(rand.NewPCG(20, 21))
			var reader *Tx
			const txns = 30
			for i := 1; i <= txns; i++ {
				st.setTag(i)
				lg.setTag(i)
				err := db.Update(func(tx *Tx) error {
					b, err := tx.CreateBucketIfNotExists([]byte("b"))
					if err != nil {
						return err
					}
					for j := 0; j < 5; j++ {
						k := fmt.Appendf(nil, "k%02d", rng.IntN(30))
						if rng.IntN(3) == 0 {
							if err := b.Delete(k); err != nil {
								return err
							}
							continue
						}
						n := 10 + rng.IntN(50)
						if rng.IntN(4) == 0 {
							n = ps + rng.IntN(2*ps)
						}
						if err := b.Put(k, bytes.Repeat([]byte{byte(i)}, n)); err != nil {
							return err
						}
					}
					if i%6 == 5 {
						if err := b.DeleteBucket([]byte("n")); err != nil && !errors.Is(err, ErrBucketNotFound) {
							return err
						}
						return nil
					}
					nb, err := b.CreateBucketIfNotExists([]byte("n"))
					if err != nil {
						return err
					}
					return nb.Put(fmt.Appendf(nil, "x%02d", i%7), bytes.Repeat([]byte("y"), 40+rng.IntN(ps)))
				})
				if err != nil {
					t.Fatalf("txn %d: %v", i, err)
				}
				switch i {
				case 8:
					if reader, err = db.Begin(false); err != nil {
						t.Fatal(err)
					}
				case 22:
					_ = reader.Rollback()
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if n := lg.truncations(); n < 3 {
				t.Fatalf("%d checkpoints; the workload should cross several", n)
			}
			pts := lg.points(st.opCount())
			step := 4
			if *spaceDeep {
				step = 1
			}
			images := 0
			for p := 0; p < len(pts); p += step {
				pt := pts[p]
				for i := 0; i < 3; i++ {
					fm, lm := walImageModes(i, rng)
					img := st.image(pt.file, fm, ps, rng)
					li := lg.image(pt.log, lm, rng)
					where := fmt.Sprintf("crash at point %d/%d, file %s, log %s", p, len(pts)-1, fm, lm)
					st2 := newCrashStorage(t, img)
					lg2 := newCrashLogWith(st2, li.whole())
					o := *opts
					o.VerifyChecksums = true
					db2, err := tx.OpenWithLog("crash.db", st2, lg2, &o)
					if err != nil {
						t.Fatalf("%s: open: %v", where, err)
					}
					images++
					db2.AllocSize = 4 * ps
					db2.WALImageLimit = recordsLimit[records]
					func() {
						defer db2.Close()
						spaceCheck(t, db2, where, true)
						for j := 0; j < 3; j++ {
							if err := db2.Update(func(tx *Tx) error {
								b, err := tx.CreateBucketIfNotExists([]byte("after"))
								if err != nil {
									return err
								}
								return b.Put(fmt.Appendf(nil, "k%d", j), bytes.Repeat([]byte("z"), 2*ps))
							}); err != nil {
								t.Fatalf("%s: commit after recovery: %v", where, err)
							}
							spaceCheck(t, db2, fmt.Sprintf("%s, then %d commits", where, j+1), true)
						}
						if err := db2.Checkpoint(); err != nil {
							t.Fatalf("%s: checkpoint: %v", where, err)
						}
						spaceCheck(t, db2, where+", then a checkpoint", true)
					}()
				}
			}
			t.Logf("%d points, %d checkpoints, %d images", len(pts), lg.truncations(), images)
		})
	}
}

// spacePage is a page of the free-set model: who wrote its current content
// (committed, or in the open transaction) and, once freed, by whom.
type spacePage struct {
	state   int // 0 free, 1 used, 2 pending (or held)
	written page.TxID
	freed   page.TxID
}

// TestSpaceAccountingReleaseUnseenModel drives freelist.List as package tx
// does (Release and ReleaseUnseen at each write transaction's begin, a
// clone per transaction kept on commit and dropped on rollback, TrimTail,
// FreeWritten with each run's writer, WAL mode's held runs moved in by
// PendInto at checkpoints) against a page-per-page model with readers
// that begin and end at random, and checks after every allocation that
// no page still visible to an open reader's snapshot is handed out: a
// run written by W and freed by F is in the snapshots W <= S < F. Once
// the readers are gone, every freed page must come back.
func TestSpaceAccountingReleaseUnseenModel(t *testing.T) {
	seeds, commits := 3, 600
	if *spaceDeep {
		seeds, commits = 30, 3000
	}
	for s := 1; s <= seeds; s++ {
		for _, walMode := range []bool{false, true} {
			spaceReleaseModel(t, uint64(s), commits, walMode)
		}
	}
}

func spaceReleaseModel(t *testing.T, seed uint64, commits int, walMode bool) {
	rng := rand.New(rand.NewPCG(seed, 2020))
	pages := map[page.ID]*spacePage{}
	var high page.ID = 2
	committed := freelist.New()
	held := freelist.New() // WAL mode: runs the checkpoint reaches
	var ckpt page.TxID     // the last checkpoint's txid
	var cur page.TxID = 1  // the published snapshot
	readers := map[page.TxID]int{}
	early := 0
	where := func() string { return fmt.Sprintf("seed %d, wal %v, txid %d", seed, walMode, cur+1) }
	for c := 0; c < commits; c++ {
		// Readers begin on the published snapshot and end at random.
		if rng.IntN(4) == 0 {
			readers[cur]++
		}
		for s := range readers {
			if rng.IntN(12) == 0 {
				if readers[s]--; readers[s] == 0 {
					delete(readers, s)
				}
			}
		}
		var older []page.TxID
		for s := range readers {
			if s < cur {
				older = append(older, s)
			}
		}
		sort.Slice(older, func(i, j int) bool { return older[i] < older[j] })
		oldest := cur
		if len(older) > 0 {
			oldest = older[0]
		}
		committed.Release(oldest)
		committed.ReleaseUnseen(older, cur)
		// The model's free pages are the List's, now; check the counts.
		fl := committed.Clone()
		var hl *freelist.List
		if walMode {
			hl = held.Clone()
		}
		txid := cur + 1
		released := map[page.ID]bool{}
		fl.ForEachFree(func(e page.Extent) {
			for i := uint64(0); i < e.Len; i++ {
				released[e.Start+page.ID(i)] = true
			}
		})
		// Every page the List holds free must be free in the model's
		// eyes: no open reader sees it.
		for id := range released {
			p := pages[id]
			if p == nil {
				t.Fatalf("%s: page %d free but never used", where(), id)
			}
			for s := range readers {
				if p.written <= s && s < p.freed {
					t.Fatalf("%s: page %d (written %d, freed %d) free while a reader holds snapshot %d", where(), id, p.written, p.freed, s)
				}
			}
			if walMode && p.written <= ckpt && p.freed > ckpt {
				t.Fatalf("%s: page %d (written %d, freed %d) free while checkpoint %d reaches it", where(), id, p.written, p.freed, ckpt)
			}
			if p.state == 1 {
				t.Fatalf("%s: page %d (written %d) free while in use", where(), id, p.written)
			}
			if p.state == 2 && len(older) > 0 && p.freed > older[0] {
				early++ // released by ReleaseUnseen, past an older reader
			}
			p.state = 0
		}
		txHigh := fl.TrimTail(high)
		// The transaction: allocate, free committed and own runs.
		type run struct {
			id page.ID
			n  int
		}
		var mine []run
		changed := map[page.ID]spacePage{}
		save := func(id page.ID) {
			if _, ok := changed[id]; !ok {
				if p := pages[id]; p != nil {
					changed[id] = *p
				} else {
					changed[id] = spacePage{state: -1}
				}
			}
		}
		for op := 0; op < 1+rng.IntN(8); op++ {
			if rng.IntN(2) == 0 {
				n := 1 + rng.IntN(3)
				id, ok := fl.Allocate(n)
				if !ok {
					id = txHigh
					txHigh += page.ID(n)
				}
				for i := 0; i < n; i++ {
					p := id + page.ID(i)
					if ok && !released[p] {
						t.Fatalf("%s: Allocate gave page %d, not free at the transaction's begin", where(), p)
					}
					save(p)
					if q := pages[p]; q != nil && q.state != 0 {
						t.Fatalf("%s: Allocate gave page %d, in state %d", where(), p, q.state)
					}
					pages[p] = &spacePage{state: 1, written: txid}
				}
				mine = append(mine, run{id, n})
				continue
			}
			// Free a committed run: a random used page and the used pages
			// of the same writer right after it.
			var cands []page.ID
			for id, p := range pages {
				if p.state == 1 && p.written < txid {
					cands = append(cands, id)
				}
			}
			if len(cands) == 0 {
				continue
			}
			sort.Slice(cands, func(i, j int) bool { return cands[i] < cands[j] })
			id := cands[rng.IntN(len(cands))]
			w := pages[id].written
			n := 1
			for n < 3 {
				q := pages[id+page.ID(n)]
				if q == nil || q.state != 1 || q.written != w {
					break
				}
				n++
			}
			written := w
			if rng.IntN(10) == 0 {
				written = 0 // a header that does not tell
			}
			for i := 0; i < n; i++ {
				save(id + page.ID(i))
				p := pages[id+page.ID(i)]
				p.state, p.freed = 2, txid
			}
			if hl != nil && written <= ckpt {
				hl.FreeWritten(txid, written, id, n)
			} else {
				fl.FreeWritten(txid, written, id, n)
			}
		}
		// Now and then a run allocated in this transaction goes again
		// (written as the page's stale header says: unknown here).
		if len(mine) > 0 && rng.IntN(4) == 0 {
			r := mine[rng.IntN(len(mine))]
			if pages[r.id].state == 1 && pages[r.id].written == txid {
				for i := 0; i < r.n; i++ {
					p := pages[r.id+page.ID(i)]
					p.state, p.freed = 2, txid
				}
				fl.FreeWritten(txid, 0, r.id, r.n)
			}
		}
		checkpoint := walMode && rng.IntN(6) == 0
		if checkpoint {
			hl.PendInto(fl)
			hl = freelist.New()
		}
		if err := fl.Verify(); err != nil {
			t.Fatalf("%s: %v", where(), err)
		}
		if rng.IntN(10) == 0 {
			// Rolled back: the model forgets the transaction.
			for id, p := range changed {
				if p.state == -1 {
					delete(pages, id)
				} else {
					*pages[id] = p
				}
			}
			continue
		}
		committed = fl
		if walMode {
			held = hl
		}
		high = txHigh
		for id := range pages {
			if id >= high {
				delete(pages, id)
			}
		}
		cur = txid
		if checkpoint {
			ckpt = txid
		}
		// Pages the model holds free that lie at or past the new mark
		// went with the trimmed tail.
	}
	// Every reader ends; a checkpoint moves the held runs; then every
	// freed page must come back within two write transactions.
	readers = nil
	if walMode {
		fl := committed.Clone()
		held.PendInto(fl)
		committed = fl
		cur++
	}
	for i := 0; i < 2; i++ {
		committed.Release(cur)
		committed.ReleaseUnseen(nil, cur)
		cur++
	}
	if committed.PendingCount() != 0 {
		t.Fatalf("seed %d, wal %v: %d pages still pending with no reader left", seed, walMode, committed.PendingCount())
	}
	if early == 0 {
		t.Fatalf("seed %d, wal %v: ReleaseUnseen never released a page past an open reader", seed, walMode)
	}
	var inUse, free uint64
	for _, p := range pages {
		switch p.state {
		case 1:
			inUse++
		case 2:
			free++
		}
	}
	if got := committed.FreeCount(); got+inUse != uint64(high)-2 {
		t.Fatalf("seed %d, wal %v: %d free + %d in use, high water mark %d", seed, walMode, got, inUse, high)
	}
}
