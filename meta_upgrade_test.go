package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/tx"
)

// The first commit on a version 1 file (a folio from before format
// version 2 wrote it) makes both meta pages version 2 (tx: upgradeMeta).
// An older folio reads only version 1 meta pages and, when one of two
// does not decode, opens the other: with the commit's version 2 meta
// beside the version 1 meta before it, it opened the state before the
// commit, silently. These tests run that older folio's rule on the file
// (olderFolioMeta) after the commit and at every crash point of it.

// toVersion1 returns img (pages of ps bytes) with both meta pages as a
// folio before format version 2 wrote them: version 1, the same fields
// and commit runs. Neither may list a free list delta, which version 1
// has not.
func toVersion1(t testing.TB, img []byte, ps int) []byte {
	t.Helper()
	img = bytes.Clone(img)
	for slot := range 2 {
		p := img[slot*ps : (slot+1)*ps]
		m, err := page.DecodeMeta(p, page.ID(slot))
		if err != nil {
			t.Fatalf("meta page %d: %v", slot, err)
		}
		if m.FreeDelta != "" {
			t.Fatalf("meta page %d lists a free list delta: no version 1 file does", slot)
		}
		page.EncodeMetaCommit(p, page.ID(slot), &m, page.MetaCommitRuns(p, nil))
		binary.LittleEndian.PutUint32(p[page.HeaderSize+4:], 1)
		page.Seal(p)
	}
	return img
}

// olderFolioMeta is the meta a folio from before format version 2 opens
// in img (98bfcde~1: page/meta.go DecodeMeta, tx/db.go chooseMeta): a
// meta page decodes only as version 1; of two that decode it takes the
// newer, or the older if the newer lists runs not all on the disk (a torn
// one-sync commit); of one, that one (logging a note); of none, it
// refuses, with ErrVersionMismatch if a page has another version.
func olderFolioMeta(img []byte, ps int) (page.Meta, error) { return pickMeta(img, ps, true) }

// pickMeta is olderFolioMeta, or with onlyVersion1 unset, the same rule
// reading both versions.
func pickMeta(img []byte, ps int, onlyVersion1 bool) (page.Meta, error) {
	maxVersion := page.Version
	if onlyVersion1 {
		maxVersion = 1
	}
	return pickMetaUpTo(img, ps, maxVersion)
}

// pickMetaUpTo is the meta a folio reading meta pages of versions 1 to
// maxVersion opens in img, by olderFolioMeta's rule.
func pickMetaUpTo(img []byte, ps int, maxVersion uint32) (page.Meta, error) {
	var ms [2]page.Meta
	var errs [2]error
	for slot := range 2 {
		if len(img) < (slot+1)*ps {
			errs[slot] = fmt.Errorf("meta page %d past the end of a %d-byte file", slot, len(img))
			continue
		}
		p := img[slot*ps : (slot+1)*ps]
		if ms[slot], errs[slot] = page.DecodeMeta(p, page.ID(slot)); errs[slot] == nil && page.MetaVersion(p) > maxVersion {
			errs[slot] = fmt.Errorf("%w: meta page %d has version %d", page.ErrVersion, slot, page.MetaVersion(p))
		}
	}
	switch {
	case errs[0] == nil && errs[1] == nil:
		n := 0
		if ms[1].TxID > ms[0].TxID {
			n = 1
		}
		if err := page.VerifyCommit(img, ps, &ms[n], page.MetaCommitRuns(img[n*ps:], nil)); err != nil {
			return ms[1-n], nil
		}
		return ms[n], nil
	case errs[0] == nil:
		return ms[0], nil
	case errs[1] == nil:
		return ms[1], nil
	case errors.Is(errs[0], page.ErrVersion):
		return page.Meta{}, errs[0]
	case errors.Is(errs[1], page.ErrVersion):
		return page.Meta{}, errs[1]
	}
	return page.Meta{}, fmt.Errorf("no usable meta page: %v; %v", errs[0], errs[1])
}

// checkOlderFolio checks that a folio from before format version 2
// either refuses img or opens the meta of txid want, the one this folio
// opens: never an older one, which would lose the newest commit. It
// reports whether it refused.
func checkOlderFolio(t *testing.T, where string, img []byte, ps int, want page.TxID) bool {
	t.Helper()
	m, err := olderFolioMeta(img, ps)
	if err != nil {
		return true
	}
	if m.TxID != want {
		t.Errorf("%s: a folio before format version 2 opens txid %d; this one opens txid %d", where, m.TxID, want)
	}
	return false
}

// openedTxID is the txid this folio opens img at, read-only.
func openedTxID(t *testing.T, where string, img []byte, opts *Options) page.TxID {
	t.Helper()
	o := *opts
	o.ReadOnly = true
	db, err := openImage(t, "current.db", img, &o)
	if err != nil {
		t.Fatalf("%s: open read-only: %v", where, err)
	}
	defer db.Close()
	in, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	return in.TxID
}

// version1DB returns a version 1 file of pages of ps bytes holding a
// bucket "b" with keys k0..k9, opened through a recording storage.
func version1DB(t *testing.T, ps int, opts *Options) (*DB, *crashStorage) {
	t.Helper()
	st := newCrashStorage(t, tx.InitialImage(ps))
	db, err := tx.Open("v1.db", st, opts)
	if err != nil {
		t.Fatal(err)
	}
	// One commit: the next would list a free list delta.
	mustUpdate(t, db, func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 10 {
			if err := b.Put(fmt.Appendf(nil, "k%d", i), bytes.Repeat([]byte{'v'}, 100)); err != nil {
				return err
			}
		}
		return nil
	})
	img := st.contents(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	st = newCrashStorage(t, toVersion1(t, img, ps))
	if db, err = tx.Open("v1.db", st, opts); err != nil {
		t.Fatalf("open a version 1 file: %v", err)
	}
	db.AllocSize = 64 << 10
	return db, st
}

// After the first commit on a version 1 file, a folio from before format
// version 2 refuses the file: it opened the state before that commit,
// and lost it. For a small commit (its meta lists its runs: one sync), a
// large one (two syncs), and without a persisted free list.
func TestMetaUpgradeOlderFolioRefuses(t *testing.T) {
	const ps = 1024
	for _, c := range []struct {
		name  string
		opts  Options
		value int
	}{
		{"one-sync", Options{}, 10},
		{"two-sync", Options{}, 2 << 20},
		{"nofreelistsync", Options{NoFreelistSync: true}, 10},
		{"nosync", Options{NoSync: true}, 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, st := version1DB(t, ps, &c.opts)
			defer db.Close()
			before := st.contents(t)
			m, err := olderFolioMeta(before, ps)
			if err != nil {
				t.Fatalf("a folio before format version 2 refuses the version 1 file: %v", err)
			}
			if in, _ := db.Info(); m.TxID != in.TxID {
				t.Fatalf("before the commit, a folio before format version 2 opens txid %d, this one %d", m.TxID, in.TxID)
			}
			mustUpdate(t, db, func(tx *Tx) error {
				return tx.Bucket([]byte("b")).Put([]byte("new"), make([]byte, c.value))
			})
			in, err := db.Info()
			if err != nil {
				t.Fatal(err)
			}
			after := st.contents(t)
			for slot := range 2 {
				if v := page.MetaVersion(after[slot*ps:]); v != page.Version {
					t.Errorf("after the commit, meta page %d has version %d", slot, v)
				}
			}
			if m, err := olderFolioMeta(after, ps); err == nil {
				t.Errorf("after the commit of txid %d, a folio before format version 2 opens txid %d: the commit lost", in.TxID, m.TxID)
			} else if !errors.Is(err, ErrVersionMismatch) {
				t.Errorf("a folio before format version 2 refuses the file with %v, want ErrVersionMismatch", err)
			}
			if got := openedTxID(t, "after the commit", after, &c.opts); got != in.TxID {
				t.Errorf("the file opens at txid %d, want %d", got, in.TxID)
			}
			mustCheck(t, db)
		})
	}
}

// TestMetaUpgradePowerLoss is TestPowerLoss on a version 1 file: every
// image a power cut could leave during its first commits (the upgrade
// copy of the current meta, its sync, the commit's pages and meta, torn
// or not) opens at an acknowledged or in-flight state with Check clean,
// and a folio before format version 2 either refuses it or opens the
// same meta: never the one before a commit this folio opens.
func TestMetaUpgradePowerLoss(t *testing.T) {
	const ps, txns = 1024, 6
	for _, opts := range []Options{{}, {NoFreelistSync: true}} {
		t.Run(fmt.Sprintf("nofreelistsync=%v", opts.NoFreelistSync), func(t *testing.T) {
			seed := testSeed(t)
			st := newCrashStorage(t, toVersion1(t, tx.InitialImage(ps), ps))
			db, err := tx.Open("crash.db", st, &opts)
			if err != nil {
				t.Fatal(err)
			}
			db.AllocSize = 4 * ps
			models := workModels(seed, txns, ps)
			done := []int{st.opCount()}
			for i := 1; i <= txns; i++ {
				st.setTag(i)
				ops := workTxn(seed, i, ps)
				if err := db.Update(func(tx *Tx) error { return applyTxn(tx, i, ops) }); err != nil {
					t.Fatalf("txn %d: %v", i, err)
				}
				done = append(done, durableAt(st))
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(seed, 7))
			images, refused := 0, 0
			for k := 0; k <= st.opCount(); k++ {
				lo := 0
				for lo+1 < len(done) && done[lo+1] <= k {
					lo++
				}
				hi := lo
				if k > done[lo] {
					hi = lo + 1
				}
				for i := range 6 {
					mode := imageMode(min(i, int(imageTorn)))
					img := st.image(k, mode, ps, rng)
					maxTxn := hi
					if mode == imageSynced {
						maxTxn = lo
					}
					where := fmt.Sprintf("crash after op %d/%d (%s), image %s", k, st.opCount(), opAt(st.ops, k), mode)
					checkCrashImage(t, where, img, models, lo, maxTxn, &opts)
					if checkOlderFolio(t, where, img, ps, openedTxID(t, where, img, &opts)) {
						refused++
					}
					images++
					if t.Failed() {
						t.FailNow()
					}
				}
			}
			if refused == 0 || refused == images {
				t.Errorf("a folio before format version 2 refused %d of %d images; want those past the upgrade only", refused, images)
			}
			t.Logf("%d images, %d refused by a folio before format version 2", images, refused)
		})
	}
}

// TestMetaUpgradePowerLossWAL is TestPowerLossWAL on a version 1 file:
// its first checkpoint writes the first version 2 meta. At every point, a
// folio before format version 2 refuses the file image or opens the
// checkpoint this folio replays the log from.
func TestMetaUpgradePowerLossWAL(t *testing.T) {
	// At 10 transactions 1 seed in 20 crossed 3 checkpoints (fewer than
	// 2 fails); at 20, at least 6 over 300 seeds.
	const ps, txns = 1024, 20
	seed := testSeed(t)
	opts := &Options{WAL: true, CheckpointBytes: 6 << 10}
	st := newCrashStorage(t, toVersion1(t, tx.InitialImage(ps), ps))
	lg := newCrashLog(st)
	db, err := tx.OpenWithLog("crash.db", st, lg, opts)
	if err != nil {
		t.Fatal(err)
	}
	db.AllocSize = 4 * ps
	db.WALImageLimit = recordsLimit["images"]
	models := workModels(seed, txns, ps)
	done := commitWAL(t, db, st, lg, seed, 1, txns, ps, models, [2]int{})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if n := lg.truncations(); n < 2 {
		t.Fatalf("%d checkpoints in %d transactions; the workload should cross several", n, txns)
	}
	c := newWALChecker(t, opts, models)
	rng := rand.New(rand.NewPCG(seed, 8))
	pts := lg.points(st.opCount())
	refused := 0
	for p, pt := range pts {
		ack := ackedAt(done, p)
		durable, last := lg.tagsAt(pt.log)
		prev := pts[max(p-1, 0)]
		for i := range 4 {
			fm, lm := walImageModes(i, rng)
			li := lg.image(pt.log, lm, rng)
			img := st.image(pt.file, fm, ps, rng)
			lo, hi := walExpect(lm, durable, last)
			where := fmt.Sprintf("crash after call %d/%d (%s), file image %s, log image %s (ack %d)",
				p, len(pts)-1, lg.describe(st, pt, prev), fm, lm, ack)
			c.check(where, img, li, lo, hi, rng)
			// Checkpoints list no runs: this folio replays the log from
			// the newest meta page of the file, as an older one would.
			newest, err := pickMeta(img, ps, false)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if checkOlderFolio(t, where, img, ps, newest.TxID) {
				refused++
			}
			if t.Failed() {
				t.FailNow()
			}
		}
	}
	if refused == 0 {
		t.Error("a folio before format version 2 opened every image, also after checkpoints")
	}
}

// Info.Version is the file's format version on disk: 1 for a version 1
// file until its first commit (a read-only open never writes it), then
// the current version, also after a reopen. In WAL mode a read-write
// open upgrades before it logs its anchor (upgradeBeforeLog).
func TestInfoVersionOfVersion1File(t *testing.T) {
	const ps = 1024
	version := func(db *DB) uint32 {
		t.Helper()
		in, err := db.Info()
		if err != nil {
			t.Fatal(err)
		}
		return in.Version
	}
	t.Run("direct", func(t *testing.T) {
		db, st := version1DB(t, ps, &Options{})
		if v := version(db); v != 1 {
			t.Errorf("a version 1 file open: Info.Version %d, want 1", v)
		}
		img := st.contents(t)
		rdb, err := openImage(t, "ro.db", img, &Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if v := version(rdb); v != 1 {
			t.Errorf("a version 1 file open read-only: Info.Version %d, want 1", v)
		}
		_ = rdb.Close()
		mustUpdate(t, db, func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte("new"), []byte("v")) })
		if v := version(db); v != page.Version {
			t.Errorf("after a commit: Info.Version %d, want %d", v, page.Version)
		}
		img = st.contents(t)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		rdb, err = openImage(t, "reopened.db", img, &Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer rdb.Close()
		if v := version(rdb); v != page.Version {
			t.Errorf("reopened after the commit: Info.Version %d, want %d", v, page.Version)
		}
	})
	t.Run("wal", func(t *testing.T) {
		st := newCrashStorage(t, toVersion1(t, tx.InitialImage(ps), ps))
		db, err := tx.OpenWithLog("v1.db", st, newCrashLog(st), &Options{WAL: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		// The open logged an anchor: both meta pages went first
		// (upgradeBeforeLog).
		if v := version(db); v != page.Version {
			t.Errorf("after a read-write open in WAL mode: Info.Version %d, want %d", v, page.Version)
		}
		mustCreatePut(t, db, "b", "k", "v")
		if in, _ := db.Info(); in.CheckpointTxID == in.TxID {
			t.Fatal("the commit was not logged")
		}
		if v := version(db); v != page.Version {
			t.Errorf("after a logged commit: Info.Version %d, want %d", v, page.Version)
		}
		if err := db.Checkpoint(); err != nil {
			t.Fatal(err)
		}
		if v := version(db); v != page.Version {
			t.Errorf("after a checkpoint: Info.Version %d, want %d", v, page.Version)
		}
		img := st.contents(t)
		for slot := range 2 {
			if v := page.MetaVersion(img[slot*ps:]); v != page.Version {
				t.Errorf("after the checkpoint, meta page %d has version %d", slot, v)
			}
		}
	})
}

// A failed call (a write, a sync, a mapping) anywhere in the first
// commit on a version 1 file, the upgrade's copy of the current meta
// included, fails that commit alone: the file opens at the state before
// it with Check clean, a folio before format version 2 opens no older
// state, and unless a sync failed (the DB then refuses writes), the next
// commit succeeds and leaves both meta pages version 2.
func TestMetaUpgradeFaults(t *testing.T) {
	const ps = 1024
	put := func(db *DB, k string) error {
		return db.Update(func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte(k), []byte("v")) })
	}
	faults := 0
	for n := 0; ; n++ {
		db, st := version1DB(t, ps, &Options{})
		in, err := db.Info()
		if err != nil {
			t.Fatal(err)
		}
		st.mu.Lock()
		st.failAt = st.calls + n
		st.mu.Unlock()
		err = put(db, "new")
		st.mu.Lock()
		failed := st.failedOp
		st.failAt = -1
		st.mu.Unlock()
		if failed == nil {
			if err != nil {
				t.Fatalf("no fault, yet the commit failed: %v", err)
			}
			_ = db.Close()
			break
		}
		faults++
		where := fmt.Sprintf("fault at call %d (%s)", n, failed)
		if err == nil {
			t.Fatalf("%s: the commit succeeded", where)
		}
		img := st.contents(t)
		if got := openedTxID(t, where, img, &Options{}); got != in.TxID {
			t.Errorf("%s: the file opens at txid %d, want %d (before the failed commit)", where, got, in.TxID)
		}
		checkOlderFolio(t, where, img, ps, in.TxID)
		rdb, err := openImage(t, "faulted.db", img, &Options{VerifyChecksums: true, ReadOnly: true})
		if err != nil {
			t.Fatalf("%s: open: %v", where, err)
		}
		for _, err := range checkErrs(rdb) {
			t.Errorf("%s: check: %v", where, err)
		}
		_ = rdb.Close()
		err = put(db, "retry")
		switch {
		case failed.kind == opSync:
			if !errors.Is(err, ErrSyncFailed) {
				t.Errorf("%s: the next commit: %v, want ErrSyncFailed", where, err)
			}
		case err != nil:
			t.Errorf("%s: the next commit: %v", where, err)
		default:
			img := st.contents(t)
			for slot := range 2 {
				if v := page.MetaVersion(img[slot*ps:]); v != page.Version {
					t.Errorf("%s: after the next commit, meta page %d has version %d", where, slot, v)
				}
			}
			if _, err := olderFolioMeta(img, ps); err == nil {
				t.Errorf("%s: after the next commit, a folio before format version 2 opens the file", where)
			}
		}
		_ = db.Close()
		if t.Failed() {
			return
		}
	}
	t.Logf("%d calls of the first commit failed in turn", faults)
}
