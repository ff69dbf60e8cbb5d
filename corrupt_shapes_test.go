package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/foliodb/folio/page"
)

// Hostile and corrupted files: structure-aware edits of a valid
// multi-level file, every checksum resealed up to the meta (editImage),
// each then opened, read every way, written to, checked. The promise
// (README, guarantees): an error naming the page, never a panic, a hang,
// a write that spreads the damage, or wrong data served silently.

// corModel is what the fixture stores: bucket path ("a", "b/n/m") to
// key to value.
type corModel map[string]map[string][]byte

// corFixture builds a database with 1 KiB pages: "a" three levels deep
// (2,000 keys), "b" with nested "b/n" and "b/n/m" (a large value in the
// innermost), "c" of large values, and "f", whose every other large value
// is deleted, so the persisted free list holds hundreds of extents and
// spans more than one page.
func corFixture(t *testing.T) (string, []byte, corModel) {
	t.Helper()
	m := corModel{}
	put := func(tx *Tx, bpath string, k string, v []byte) error {
		names := strings.Split(bpath, "/")
		b, err := tx.CreateBucketIfNotExists([]byte(names[0]))
		for _, n := range names[1:] {
			if err != nil {
				return err
			}
			b, err = b.CreateBucketIfNotExists([]byte(n))
		}
		if err != nil {
			return err
		}
		if m[bpath] == nil {
			m[bpath] = map[string][]byte{}
		}
		m[bpath][k] = v
		return b.Put([]byte(k), v)
	}
	val := func(seed, n int) []byte {
		v := make([]byte, n)
		for i := range v {
			v[i] = byte(seed*7 + i)
		}
		return v
	}
	fill := func(tx *Tx) error {
		for i := 0; i < 2000; i++ {
			if err := put(tx, "a", fmt.Sprintf("a%05d", i), val(i, 20)); err != nil {
				return err
			}
		}
		for i := 0; i < 200; i++ {
			if err := put(tx, "b", fmt.Sprintf("b%04d", i), val(i, 30)); err != nil {
				return err
			}
		}
		for i := 0; i < 100; i++ {
			if err := put(tx, "b/n", fmt.Sprintf("n%04d", i), val(i, 40)); err != nil {
				return err
			}
		}
		for i := 0; i < 50; i++ {
			if err := put(tx, "b/n/m", fmt.Sprintf("m%04d", i), val(i, 10)); err != nil {
				return err
			}
		}
		if err := put(tx, "b/n/m", "m-large", val(1, 2500)); err != nil {
			return err
		}
		for i := 0; i < 40; i++ {
			if err := put(tx, "c", fmt.Sprintf("c%03d", i), val(i, 600+i*60)); err != nil {
				return err
			}
		}
		for i := 0; i < 1600; i++ {
			if err := put(tx, "f", fmt.Sprintf("f%05d", i), val(i, 600)); err != nil {
				return err
			}
		}
		return nil
	}
	deleteHalf := func(tx *Tx) error {
		b := tx.Bucket([]byte("f"))
		for i := 0; i < 1600; i += 2 {
			k := fmt.Sprintf("f%05d", i)
			delete(m["f"], k)
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	}
	path, img := builtImage(t, &Options{PageSize: 1024, NoSync: true}, fill, deleteHalf)
	return path, img, m
}

// corEdit wraps an editImage of the fixture whose free-list run is known
// at its real length (pageMap records one page).
func corEdit(t *testing.T, img []byte) *editImage {
	t.Helper()
	e := newEditImage(t, img)
	if fl := e.meta.Freelist; fl != 0 {
		p := e.pages[fl]
		p.pages = int(page.PageOverflow(e.b[int(fl)*e.ps:])) + 1
		e.pages[fl] = p
	}
	return e
}

// corPages returns the reachable pages of kind in the bucket at path
// (nil: the directory), roots included when root is set.
func corPages(e *editImage, kind page.Flags, path string) []walkedPage {
	var out []walkedPage
	for _, p := range e.pages {
		if p.kind == kind && strings.Join(p.bucket, "/") == path {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// corResult is what corExercise saw.
type corResult struct {
	openErr  error
	readErrs map[string]error // read path -> error
	problems []error          // Check before any write
	writeErr error
	after    []error // Check after the write, if it committed
	lost     []string
}

// corExercise opens the image at path and runs every read path on every
// bucket of the model, Check, then a write that puts touch[bucket] keys
// and commits (and three more), then reads again every bucket whose Gets
// succeeded before the write (res.lost: what it lost). It fails the test
// on a panic, a hang, an error that is not ErrCorrupt naming a page, or a
// value read that differs from the model while the read reported nothing.
func corExercise(t *testing.T, path string, model corModel, touch map[string][]string, opts Options) corResult {
	t.Helper()
	res := corResult{readErrs: map[string]error{}}
	var db *DB
	guard := func(what string, f func()) {
		t.Helper()
		before(t, 20*time.Second, what, func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: panic: %v\n%s", what, r, debug.Stack())
				}
			}()
			f()
		})
	}
	opts.Timeout = time.Second
	guard("open", func() { db, res.openErr = Open(path, 0o600, &opts) })
	if res.openErr != nil {
		corWantPage(t, "open", res.openErr)
		return res
	}
	defer db.Close()
	var buckets []string
	for p := range model {
		buckets = append(buckets, p)
	}
	sort.Strings(buckets)
	read := func(what string, fn func(tx *Tx, b *Bucket, bp string) error) {
		for _, bp := range buckets {
			var err error
			guard(what+" "+bp, func() {
				err = db.View(func(tx *Tx) error {
					b := bucketAt(tx, strings.Split(bp, "/"))
					if b == nil {
						if tx.Err() != nil {
							return tx.Err()
						}
						return fmt.Errorf("bucket %s missing", bp)
					}
					return fn(tx, b, bp)
				})
			})
			if err != nil {
				res.readErrs[what+" "+bp] = err
				if !strings.Contains(err.Error(), "missing") && !strings.Contains(err.Error(), "served") {
					corWantPage(t, what+" "+bp, err)
				}
			}
		}
	}
	wrong := func(tx *Tx, bp, k string, got []byte, ok bool) error {
		want, in := model[bp][k]
		if tx.Err() != nil {
			return tx.Err()
		}
		if !in && ok && got != nil {
			return nil // a nested bucket's key, or one the edit made
		}
		if in && !bytes.Equal(got, want) {
			return fmt.Errorf("%s/%s: %d bytes served, model has %d", bp, k, len(got), len(want))
		}
		return nil
	}
	read("get", func(tx *Tx, b *Bucket, bp string) error {
		for k := range model[bp] {
			if err := wrong(tx, bp, k, b.Get([]byte(k)), true); err != nil {
				return err
			}
		}
		return nil
	})
	read("forward", func(tx *Tx, b *Bucket, bp string) error {
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v != nil {
				if err := wrong(tx, bp, string(k), v, true); err != nil {
					return err
				}
			}
		}
		return tx.Err()
	})
	read("backward", func(tx *Tx, b *Bucket, bp string) error {
		c := b.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if v != nil {
				if err := wrong(tx, bp, string(k), v, true); err != nil {
					return err
				}
			}
		}
		return tx.Err()
	})
	read("seek", func(tx *Tx, b *Bucket, bp string) error {
		c := b.Cursor()
		for k := range model[bp] {
			got, v := c.Seek([]byte(k))
			if tx.Err() != nil {
				return tx.Err()
			}
			if string(got) != k {
				return fmt.Errorf("%s: Seek(%q) found %q (no error served)", bp, k, got)
			}
			if err := wrong(tx, bp, k, v, true); err != nil {
				return err
			}
			c.Next()
			c.Prev()
		}
		return tx.Err()
	})
	read("foreach", func(tx *Tx, b *Bucket, bp string) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				_ = b.Bucket(k).Stats()
				return tx.Err()
			}
			return wrong(tx, bp, string(k), v, true)
		})
	})
	read("stats", func(tx *Tx, b *Bucket, bp string) error {
		_ = b.Stats()
		return tx.Err()
	})
	guard("check", func() { res.problems = checkErrs(db) })
	for _, err := range res.problems {
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("check: %v is not ErrCorrupt", err)
		}
	}
	deleted := map[string]bool{}
	guard("write", func() {
		res.writeErr = db.Update(func(tx *Tx) error {
			clear(deleted)
			for bp, keys := range touch {
				b := bucketAt(tx, strings.Split(bp, "/"))
				if b == nil {
					if tx.Err() != nil {
						return tx.Err()
					}
					return fmt.Errorf("bucket %s missing", bp)
				}
				for _, k := range keys {
					if err := b.Put([]byte(k), []byte("touched")); err != nil {
						return err
					}
				}
				// Deletes around the touched keys (a cursor's and Delete),
				// so the commit rebalances the damaged part too.
				c := b.Cursor()
				n := 0
				for k, v := c.Seek([]byte(keys[0])); k != nil && n < 40; k, v = c.Next() {
					if v == nil || slices.Contains(keys, string(k)) {
						continue
					}
					n++
					deleted[bp+"\x00"+string(k)] = true
					var err error
					if n%2 == 0 {
						err = c.Delete()
					} else {
						err = b.Delete(bytes.Clone(k))
						c.Seek(k)
					}
					if err != nil {
						return err
					}
				}
				if tx.Err() != nil {
					return tx.Err()
				}
			}
			// Allocate some more, so that pages this commit freed or
			// that are wrongly free are taken.
			nb, err := tx.CreateBucketIfNotExists([]byte("zz-new"))
			if err != nil {
				return err
			}
			for i := 0; i < 50; i++ {
				if err := nb.Put([]byte(fmt.Sprintf("z%03d", i)), bytes.Repeat([]byte{byte(i)}, 300)); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if res.writeErr != nil {
		if !strings.Contains(res.writeErr.Error(), "missing") {
			corWantPage(t, "write", res.writeErr)
		}
		return res
	}
	// More commits, reusing what the first one freed.
	for i := 0; i < 3; i++ {
		guard("more writes", func() {
			res.writeErr = db.Update(func(tx *Tx) error {
				nb := tx.Bucket([]byte("zz-new"))
				for j := 0; j < 50; j++ {
					if err := nb.Put([]byte(fmt.Sprintf("z%03d", j)), bytes.Repeat([]byte{byte(i + j)}, 300+i)); err != nil {
						return err
					}
				}
				return nil
			})
		})
		if res.writeErr != nil {
			corWantPage(t, "more writes", res.writeErr)
			return res
		}
	}
	for _, bp := range buckets {
		if res.readErrs["get "+bp] != nil {
			continue // damaged before the write
		}
		var err error
		guard("reread "+bp, func() {
			err = db.View(func(tx *Tx) error {
				b := bucketAt(tx, strings.Split(bp, "/"))
				if b == nil {
					return fmt.Errorf("bucket %s missing (%v)", bp, tx.Err())
				}
				for k, v := range model[bp] {
					if slices.Contains(touch[bp], k) {
						v = []byte("touched")
					}
					if deleted[bp+"\x00"+k] {
						v = nil
					}
					if got := b.Get([]byte(k)); !bytes.Equal(got, v) {
						return fmt.Errorf("%s/%s: %d bytes, want %d (%v)", bp, k, len(got), len(v), tx.Err())
					}
				}
				return nil
			})
		})
		if err != nil {
			res.lost = append(res.lost, err.Error())
		}
	}
	guard("check after", func() { res.after = checkErrs(db) })
	return res
}

// corWantPage fails unless err is ErrCorrupt with a *CorruptError.
func corWantPage(t *testing.T, what string, err error) {
	t.Helper()
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
		t.Errorf("%s: %v, want ErrCorrupt naming a page", what, err)
	}
}

// corLog logs what corExercise saw.
func corLog(t *testing.T, res corResult) {
	t.Helper()
	t.Logf("open: %v", res.openErr)
	keys := make([]string, 0, len(res.readErrs))
	for k := range res.readErrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("read %s: %v", k, res.readErrs[k])
	}
	for _, err := range res.problems {
		t.Logf("check: %v", err)
	}
	t.Logf("write: %v", res.writeErr)
	for _, l := range res.lost {
		t.Logf("lost: %s", l)
	}
	for _, err := range res.after {
		t.Logf("check after: %v", err)
	}
}

// corLeaf returns a reachable non-root leaf of bucket bp.
func corLeaf(t *testing.T, e *editImage, bp string, nth int) walkedPage {
	t.Helper()
	var leaves []walkedPage
	for _, p := range corPages(e, page.FlagLeaf, bp) {
		if !p.root {
			leaves = append(leaves, p)
		}
	}
	if len(leaves) <= nth {
		t.Fatalf("bucket %s has %d non-root leaves", bp, len(leaves))
	}
	return leaves[nth]
}

// corHeader returns the bytes of the bucket header of bp (in its
// parent's leaf, to edit) and that leaf's id.
func corHeader(t *testing.T, e *editImage, bp string) ([]byte, page.ID) {
	t.Helper()
	names := strings.Split(bp, "/")
	parent := strings.Join(names[:len(names)-1], "/")
	for _, p := range e.pages {
		if p.kind != page.FlagLeaf || strings.Join(p.bucket, "/") != parent {
			continue
		}
		for i, k := range p.keys {
			if string(k) == names[len(names)-1] {
				flags, v, _ := page.LeafValue(e.run(p.id), i)
				if flags&page.LeafBucket != 0 {
					return v, p.id
				}
			}
		}
	}
	t.Fatalf("no header for %s", bp)
	return nil, 0
}

// TestCorruptShapes makes, behind resealed checksums, shapes
// the fuzz targets reach rarely or never: a branch child that is a free
// page (holding an old leaf of another bucket, keys and all), a meta
// page, its parent (a checksum its parent no longer matches), a large
// run; a leaf key past its parent's next separator; a free list running
// past the high-water mark; a leaf whose overflow runs past the file. For
// each: Open, every read path, Check naming the page, and a write that
// touches the damage, then more commits: errors name a page, nothing
// panics or hangs, and buckets that read whole before the write still
// do after it.
func TestCorruptShapes(t *testing.T) {
	path, img, model := corFixture(t)
	firstBranch := func(e *editImage, bp string) walkedPage {
		for _, p := range corPages(e, page.FlagBranch, bp) {
			if !p.root {
				return p
			}
		}
		t.Fatalf("no non-root branch in %s", bp)
		return walkedPage{}
	}
	// pointChild points element 1 of branch br at page to, with the
	// checksum page to's header holds, and returns element 1's key.
	pointChild := func(e *editImage, br walkedPage, to page.ID, sum uint32) string {
		run := e.run(br.id)
		o := elemOffset(run, 1)
		binary.LittleEndian.PutUint64(run[o:], uint64(to))
		binary.LittleEndian.PutUint32(run[o+8:], sum)
		e.reseal(br.id)
		k, _ := page.BranchKey(run, 1)
		return string(k)
	}
	cases := []struct {
		name string
		// edit returns the keys to put into each bucket and the page
		// Check must name (0: any).
		edit func(e *editImage) (map[string][]string, page.ID)
	}{
		{"child is a free page", func(e *editImage) (map[string][]string, page.ID) {
			free := e.freePages()
			for id := page.ID(2); id < e.meta.High; id++ {
				p := e.b[int(id)*e.ps:]
				if free[id] && page.PageFlags(p) == page.FlagLeaf && page.PageID(p) == id && page.PageOverflow(p) == 0 {
					k := pointChild(e, firstBranch(e, "a"), id, page.PageChecksum(p))
					return map[string][]string{"a": {k}}, id
				}
			}
			t.Skip("no free page holding an old leaf")
			return nil, 0
		}},
		{"child is a meta page", func(e *editImage) (map[string][]string, page.ID) {
			k := pointChild(e, firstBranch(e, "a"), 1, page.PageChecksum(e.b[e.ps:]))
			return map[string][]string{"a": {k}}, 1
		}},
		{"child is its parent", func(e *editImage) (map[string][]string, page.ID) {
			br := firstBranch(e, "a")
			parent := br.parent
			k := pointChild(e, br, parent, page.PageChecksum(e.run(parent)))
			return map[string][]string{"a": {k}}, parent
		}},
		{"child is a large run", func(e *editImage) (map[string][]string, page.ID) {
			large := corPages(e, page.FlagLarge, "c")[0]
			k := pointChild(e, firstBranch(e, "a"), large.id, page.PageChecksum(e.run(large.id)))
			return map[string][]string{"a": {k}}, large.id
		}},
		{"leaf key past the next separator", func(e *editImage) (map[string][]string, page.ID) {
			leaf, key := corKeyAboveNext(t, e)
			return map[string][]string{"b": {key, "b0015"}}, leaf
		}},
		{"free list past high", func(e *editImage) (map[string][]string, page.ID) {
			free := e.freePages()
			free[e.meta.High-1] = true
			e.meta.High--
			e.setFree(free)
			return map[string][]string{"a": {"a00100"}}, e.meta.Freelist
		}},
		{"leaf overflow past the file", func(e *editImage) (map[string][]string, page.ID) {
			leaf := corLeaf(t, e, "b", 2)
			binary.LittleEndian.PutUint32(e.run(leaf.id)[24:], 1<<19)
			e.reseal(leaf.id)
			return map[string][]string{"b": {string(leaf.keys[0])}}, leaf.id
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := corEdit(t, img)
			touch, id := c.edit(e)
			writeImage(t, path, e.b)
			res := corExercise(t, path, model, touch, Options{})
			if res.openErr == nil {
				found := false
				for _, err := range res.problems {
					var ce *CorruptError
					found = found || (errors.As(err, &ce) && (id == 0 || ce.Page == id))
				}
				if !found {
					t.Errorf("Check did not name page %d: %v", id, res.problems)
				}
			}
			if len(res.lost) > 0 {
				t.Errorf("the write spread the damage: %v", res.lost)
			}
			if t.Failed() {
				corLog(t, res)
			}
		})
	}
}

// corKeyAboveNext edits the last key of a non-root leaf of bucket "b"
// so that it sorts after every key of the next leaf (and after the
// separator in the parent that bounds it), hint and checksums rewritten:
// keys out of order across a branch boundary, which only the page
// accounting of Check (separators against children) sees.
func corKeyAboveNext(t *testing.T, e *editImage) (leaf page.ID, key string) {
	t.Helper()
	l := corLeaf(t, e, "b", 0)
	run := e.run(l.id)
	n := page.PageCount(run)
	k, _ := page.LeafKey(run, n-1)
	copy(k, "b9")
	page.PutHint(run, n-1, k)
	e.reseal(l.id)
	return l.id, string(k)
}

// TestCorruptScanOrderAcrossLeaves: a forward or backward scan
// (ForEach, a cursor; folio dump and compact read with them) over a leaf
// whose last key sorts after the next leaf's keys, every checksum intact,
// must stop with ErrCorrupt naming a page, as it does for a branch that
// repeats a child. It returned the keys out of order with no error:
// folio dump exits 0 with a dump whose keys go back.
func TestCorruptScanOrderAcrossLeaves(t *testing.T) {
	path, img, _ := corFixture(t)
	e := corEdit(t, img)
	leaf, key := corKeyAboveNext(t, e)
	writeImage(t, path, e.b)
	wantProblem(t, corCheckPath(t, path), leaf, "separator")
	db := openPath(t, path, &Options{VerifyChecksums: true})
	for _, dir := range []string{"ForEach", "backward"} {
		var order []string
		err := db.View(func(tx *Tx) error {
			b := tx.Bucket([]byte("b"))
			if dir == "ForEach" {
				return b.ForEach(func(k, v []byte) error {
					order = append(order, string(k))
					return nil
				})
			}
			c := b.Cursor()
			for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
				order = append(order, string(k))
			}
			return nil
		})
		var ce *CorruptError
		if !errors.As(err, &ce) {
			i := slices.Index(order, key)
			t.Errorf("%s over bucket b: %v, want ErrCorrupt naming a page; it served %q then %q (keys going back)",
				dir, err, order[i], order[min(i+1, len(order)-1)])
		}
	}
}

// corCheckPath opens path and returns Check's problems.
func corCheckPath(t *testing.T, path string) []error {
	t.Helper()
	db, err := Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return checkErrs(db)
}

// corIntact reports the first key of the buckets in paths whose value
// differs from the model, reading in one View; nil if all are intact.
func corIntact(db *DB, model corModel, paths ...string) error {
	return db.View(func(tx *Tx) error {
		for _, bp := range paths {
			b := bucketAt(tx, strings.Split(bp, "/"))
			if b == nil {
				return fmt.Errorf("bucket %s missing (%v)", bp, tx.Err())
			}
			for k, v := range model[bp] {
				if got := b.Get([]byte(k)); !bytes.Equal(got, v) {
					return fmt.Errorf("%s/%s: %d bytes, want %d (%v)", bp, k, len(got), len(v), tx.Err())
				}
			}
		}
		return nil
	})
}

// corChurn commits n transactions that put into bucket "a" and a new
// bucket, so that pages freed or wrongly free are allocated again.
func corChurn(db *DB, n int) error {
	for i := 0; i < n; i++ {
		err := db.Update(func(tx *Tx) error {
			nb, err := tx.CreateBucketIfNotExists([]byte("zz-new"))
			if err != nil {
				return err
			}
			for j := 0; j < 40; j++ {
				if err := nb.Put([]byte(fmt.Sprintf("z%03d", j)), bytes.Repeat([]byte{byte(i + j)}, 300+i)); err != nil {
					return err
				}
			}
			return tx.Bucket([]byte("a")).Put([]byte(fmt.Sprintf("a%05d", 100+i)), []byte("touched"))
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// TestCorruptFreeListReachableWrite: a persisted free list that
// names a reachable leaf of bucket "b" (every checksum intact; Check
// reports "both (on the free list and in use)"). Writes that never touch
// "b" must not overwrite it: Open or the writes fail with ErrCorrupt, or
// "b" stays readable. They allocated the leaf and overwrote it, and every
// read of "b" failed from then on: a free-list accounting error became
// lost data, with VerifyChecksums (the option for a file not trusted)
// too, which is what this test asserts. Without it the same happens
// (logged): no check short of a walk of the trees can see it.
func TestCorruptFreeListReachableWrite(t *testing.T) {
	path, img, model := corFixture(t)
	e := corEdit(t, img)
	leaf := corLeaf(t, e, "b", 1)
	free := e.freePages()
	free[leaf.id] = true
	e.setFree(free)
	writeImage(t, path, e.b)
	wantProblem(t, corCheckPath(t, path), leaf.id, "both (on the free list and in use)")
	for _, verify := range []bool{false, true} {
		writeImage(t, path, e.b)
		db, err := Open(path, 0o600, &Options{VerifyChecksums: verify})
		if err != nil {
			wantCorrupt(t, "open", err, leaf.id)
			continue
		}
		if err := corChurn(db, 3); err != nil {
			corWantPage(t, "write", err)
		}
		err = corIntact(db, model, "b", "b/n", "b/n/m", "c", "f")
		switch {
		case err != nil && verify:
			t.Errorf("VerifyChecksums: after writes to other buckets, the leaf %d the free list named was overwritten: %v", leaf.id, err)
		case err != nil:
			t.Logf("without VerifyChecksums (not asserted): %v", err)
		}
		_ = db.Close()
	}
}

// TestCorruptSharedLeafWrite (VerifyChecksums set, as above): the
// header of nested bucket
// "b/n/m" names a leaf of bucket "c" as its root (a bucket header whose
// root is another bucket's page; every checksum intact; Check reports
// the page reachable twice). A write to "b/n/m" copies the leaf and frees
// it; later commits reuse the page, and bucket "c", never written, loses
// the keys of that leaf. The same happens when a large value's run is
// made to cover the next page of the tree and the value is replaced: its
// run is freed, the tree page with it.
func TestCorruptSharedLeafWrite(t *testing.T) {
	path, img, model := corFixture(t)
	t.Run("bucket root", func(t *testing.T) {
		e := corEdit(t, img)
		leaf := corLeaf(t, e, "c", 0)
		v, id := corHeader(t, e, "b/n/m")
		binary.LittleEndian.PutUint64(v, uint64(leaf.id))
		binary.LittleEndian.PutUint32(v[8:], page.PageChecksum(e.run(leaf.id)))
		e.reseal(id)
		writeImage(t, path, e.b)
		wantProblem(t, corCheckPath(t, path), leaf.id, "reachable twice")
		db, err := Open(path, 0o600, &Options{VerifyChecksums: true})
		if err != nil {
			wantCorrupt(t, "open", err, leaf.id)
			return
		}
		defer db.Close()
		err = db.Update(func(tx *Tx) error {
			return bucketAt(tx, []string{"b", "n", "m"}).Put([]byte("m0001"), []byte("x"))
		})
		if err == nil {
			err = corChurn(db, 3)
		}
		if err != nil {
			corWantPage(t, "write", err)
		}
		if err := corIntact(db, model, "c"); err != nil {
			t.Errorf("a write to b/n/m freed leaf %d of c, which later commits overwrote: %v", leaf.id, err)
		}
	})
	t.Run("large run", func(t *testing.T) {
		e := corEdit(t, img)
		var large, next walkedPage
		for _, p := range corPages(e, page.FlagLarge, "c") {
			if n, ok := e.pages[p.id+page.ID(p.pages)]; ok && (n.kind == page.FlagLeaf || n.kind == page.FlagBranch) && n.parent != p.parent {
				large, next = p, n
				break
			}
		}
		if large.id == 0 {
			t.Skip("no large run of c followed by a tree page")
		}
		run := e.b[int(large.id)*e.ps : (int(large.id)+large.pages+1)*e.ps]
		binary.LittleEndian.PutUint32(run[24:], uint32(large.pages))
		leafRun := e.run(large.parent)
		for i := 0; i < page.PageCount(leafRun); i++ {
			if flags, v, _ := page.LeafValue(leafRun, i); flags&page.LeafLarge != 0 && page.ID(binary.LittleEndian.Uint64(v)) == large.id {
				binary.LittleEndian.PutUint32(v[8:], uint32(large.pages*e.ps))
			}
		}
		q := e.pages[large.id]
		q.pages++
		e.pages[large.id] = q
		e.reseal(large.id)
		writeImage(t, path, e.b)
		wantProblem(t, corCheckPath(t, path), next.id, "reachable twice")
		db, err := Open(path, 0o600, &Options{VerifyChecksums: true})
		if err != nil {
			wantCorrupt(t, "open", err, next.id)
			return
		}
		defer db.Close()
		key := large.keys[0]
		err = db.Update(func(tx *Tx) error { return tx.Bucket([]byte("c")).Put(key, []byte("small now")) })
		if err == nil {
			err = corChurn(db, 3)
		}
		if err != nil {
			corWantPage(t, "write", err)
		}
		owner := strings.Join(next.bucket, "/")
		m := corModel{owner: map[string][]byte{}}
		for k, v := range model[owner] {
			if k != string(key) {
				m[owner][k] = v
			}
		}
		if err := corIntact(db, m, owner); err != nil {
			t.Errorf("replacing %s/%s freed its run with page %d of the tree (%s), which later commits overwrote: %v", "c", key, next.id, next.kind, err)
		}
		for _, err := range checkErrs(db) {
			if strings.Contains(err.Error(), "both (on the free list and in use)") {
				t.Errorf("after the write: %v", err)
			}
		}
	})
}

// TestCorruptKindMessage: a branch whose child is a large-value
// run (every checksum intact) is ErrCorrupt naming the run's page, and
// the message says what kind of page was expected there. It said
// "page kind (expected unknown, found large (0x8))": page.Flags.String
// names no combination, and a tree's child may be a branch or a leaf.
func TestCorruptKindMessage(t *testing.T) {
	path, img, _ := corFixture(t)
	e := corEdit(t, img)
	large := corPages(e, page.FlagLarge, "c")[0]
	var br walkedPage
	for _, p := range corPages(e, page.FlagBranch, "a") {
		if !p.root {
			br = p
			break
		}
	}
	run := e.run(br.id)
	o := elemOffset(run, 1)
	k, _ := page.BranchKey(run, 1)
	binary.LittleEndian.PutUint64(run[o:], uint64(large.id))
	binary.LittleEndian.PutUint32(run[o+8:], page.PageChecksum(e.run(large.id)))
	e.reseal(br.id)
	writeImage(t, path, e.b)
	db := openPath(t, path, nil)
	err := db.View(func(tx *Tx) error {
		tx.Bucket([]byte("a")).Get(k)
		return nil
	})
	wantCorrupt(t, "get", err, large.id)
	if err != nil && (strings.Contains(err.Error(), "unknown") || !strings.Contains(err.Error(), "leaf")) {
		t.Errorf("get: %v; want the message to say a branch or leaf was expected", err)
	}
}

// TestCorruptStatsElementCount: a leaf or branch whose element
// count runs past its page (every checksum intact). Every read path gets
// ErrCorrupt naming the page; Bucket.Stats (and so folio stats) panicked
// with "slice bounds out of range": its per-page byte count (runInuse)
// reads the header's count before the walk checks it, and the panic is
// not a fault, so View re-raises it and the process dies.
func TestCorruptStatsElementCount(t *testing.T) {
	path, img, _ := corFixture(t)
	for _, kind := range []page.Flags{page.FlagLeaf, page.FlagBranch} {
		e := corEdit(t, img)
		var p walkedPage
		for _, q := range corPages(e, kind, "a") {
			if !q.root {
				p = q
				break
			}
		}
		binary.LittleEndian.PutUint16(e.run(p.id)[6:], 0xffff)
		e.reseal(p.id)
		writeImage(t, path, e.b)
		db, err := Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s %d with count 65535: Bucket.Stats panicked: %v", kind, p.id, r)
				}
			}()
			err = db.View(func(tx *Tx) error {
				_ = tx.Bucket([]byte("a")).Stats()
				return nil
			})
			wantCorrupt(t, fmt.Sprintf("Stats over %s %d with count 65535", kind, p.id), err, p.id)
		}()
		_ = db.Close()
	}
}

// TestCorruptCheckFutureTxID: a reachable leaf whose header
// claims a txid after the meta's (no commit the meta holds wrote it;
// every checksum intact). Check must name it: WAL mode decides from a
// page's header txid whether a freed page is one the last checkpoint can
// reach (held until the next checkpoint) or one written since (reused at
// once), so such a page, freed a hundred logged commits later, would be
// reused while the file's meta, the recovery point, still reaches it.
// Check said nothing.
func TestCorruptCheckFutureTxID(t *testing.T) {
	path, img, _ := corFixture(t)
	e := corEdit(t, img)
	leaf := corLeaf(t, e, "b", 2)
	binary.LittleEndian.PutUint64(e.run(leaf.id)[16:], uint64(e.meta.TxID+100))
	e.reseal(leaf.id)
	writeImage(t, path, e.b)
	wantProblem(t, corCheckPath(t, path), leaf.id, "txid")
}

// TestCorruptRandomHeaders edits header and element fields of
// random reachable pages (count, overflow, kind, key offsets and sizes,
// child ids, value sizes, bucket header roots), resealing every page up
// to the meta, and runs every read path (Stats and Seek included, which
// the fuzz targets do not call), Check and a write on each: no panic, no
// hang, errors naming a page; in direct mode, WAL mode and with
// VerifyChecksums.
func TestCorruptRandomHeaders(t *testing.T) {
	path, img, model := corFixture(t)
	e0 := corEdit(t, img)
	var ids []page.ID
	for id, p := range e0.pages {
		if p.kind != page.FlagFreelist {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	rounds := 60
	if testing.Short() {
		rounds = 15
	}
	seed := uint64(20)
	rnd := func(n int) int {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return int(seed % uint64(n))
	}
	for round := 0; round < rounds; round++ {
		e := corEdit(t, img)
		e.lenient = true
		id := ids[rnd(len(ids))]
		run := e.run(id)
		what := ""
		count := page.PageCount(run)
		switch k := rnd(7); {
		case k == 0:
			binary.LittleEndian.PutUint16(run[6:], uint16(rnd(1<<16)))
			what = "count"
		case k == 1:
			binary.LittleEndian.PutUint32(run[24:], uint32(rnd(4)))
			what = "overflow"
		case k == 2:
			binary.LittleEndian.PutUint16(run[4:], uint16(1<<rnd(5)))
			what = "kind"
		case count > 0 && page.PageFlags(run) != page.FlagLarge:
			o := elemOffset(run, rnd(count))
			field := 4 * rnd(5)
			if page.PageFlags(run) == page.FlagBranch && field < 8 && rnd(2) == 0 {
				binary.LittleEndian.PutUint64(run[o:], uint64(ids[rnd(len(ids))]))
				what = "child id"
			} else {
				v := []uint32{0, 1, 31, 32, 33, 1023, 1024, 1 << 20, 1<<32 - 1}[rnd(9)]
				binary.LittleEndian.PutUint32(run[o+min(field, 16):], v)
				what = fmt.Sprintf("element field %d = %d", field, v)
			}
		default:
			run[page.HeaderSize+rnd(len(run)-page.HeaderSize)] ^= byte(1 + rnd(255))
			what = "body byte"
		}
		e.reseal(id)
		if err := os.RemoveAll(path + ".wal"); err != nil {
			t.Fatal(err)
		}
		writeImage(t, path, e.b)
		t.Run(fmt.Sprintf("%d_%s_%d", round, e.pages[id].kind, id), func(t *testing.T) {
			t.Logf("page %d (%s): %s", id, e.pages[id].kind, what)
			// Every third round in WAL mode, every third with
			// VerifyChecksums.
			opts := []Options{{}, {WAL: true}, {VerifyChecksums: true}}[round%3]
			res := corExercise(t, path, model, map[string][]string{"a": {"a00500"}, "b/n": {"n0050"}}, opts)
			if t.Failed() {
				corLog(t, res)
			}
		})
	}
}

// TestCorruptSeekPastSeparator: with the same edit as
// TestCorruptScanOrderAcrossLeaves, Seek("b0015") lands on
// "b9015", a key its parent's next separator ("b0016") says cannot be in
// that leaf, and returned it with no error; Seek(k) for k in (b0015,
// b0016] then returns b9015 before keys that precede it.
func TestCorruptSeekPastSeparator(t *testing.T) {
	path, img, _ := corFixture(t)
	e := corEdit(t, img)
	leaf, key := corKeyAboveNext(t, e)
	writeImage(t, path, e.b)
	db := openPath(t, path, &Options{VerifyChecksums: true})
	var got []byte
	err := db.View(func(tx *Tx) error {
		got, _ = tx.Bucket([]byte("b")).Cursor().Seek([]byte("b0015"))
		return nil
	})
	if err == nil {
		t.Errorf("Seek(b0015) = %q, nil error; want ErrCorrupt naming page %d (its key %q is past the parent's next separator)", got, leaf, key)
		return
	}
	wantCorrupt(t, "Seek", err, leaf)
}

// TestCorruptCheckEmptyKey: the first key of bucket "b" made
// empty (its bytes moved to the value's side; hint, checksums rewritten).
// folio never writes an empty key (Put: ErrKeyRequired), and a dump of
// such a file does not load ("an empty key ...; nothing was loaded"),
// yet Check, and so folio check, said the file was sound.
func TestCorruptCheckEmptyKey(t *testing.T) {
	path, img, _ := corFixture(t)
	e := corEdit(t, img)
	var leaf walkedPage
	for _, p := range corPages(e, page.FlagLeaf, "b") {
		if len(p.keys) > 0 && string(p.keys[0]) == "b0000" {
			leaf = p
		}
	}
	run := e.run(leaf.id)
	o := elemOffset(run, 0)
	koff := binary.LittleEndian.Uint32(run[o+4:])
	ksize := binary.LittleEndian.Uint32(run[o+8:])
	binary.LittleEndian.PutUint32(run[o+4:], koff+ksize)
	binary.LittleEndian.PutUint32(run[o+8:], 0)
	page.PutHint(run, 0, nil)
	e.reseal(leaf.id)
	writeImage(t, path, e.b)
	wantProblem(t, corCheckPath(t, path), leaf.id, "key")
}
