package folio

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/foliodb/folio/tx"
)

// This file is the storage double of the crash and fault tests.
//
// crashStorage wraps the real fileStorage over an in-memory file (memfd on
// Linux), so mappings, msync and fallocate behave as in production, and
// records every WriteAt, SyncRange, Grow and Truncate. From that log it
// builds the images a power cut could leave after the first k calls: only
// what was synced; that plus any subset of the writes not yet synced, each
// page of a write on its own (the page cache writes pages back in any
// order); and such an image with one unsynced page torn at a 512-byte
// boundary (image says what truncation and growth leave). It can also
// fail the n-th call (WriteAt, SyncRange, Grow, Truncate or Map), as a
// full disk or an I/O error would.

type crashOpKind uint8

const (
	opWrite crashOpKind = iota
	opSync
	opGrow
	opMap
	opTruncate
)

func (k crashOpKind) String() string {
	return [...]string{"write", "sync", "grow", "map", "truncate"}[k]
}

// crashOp is one recorded call.
type crashOp struct {
	kind crashOpKind
	off  int64  // write: offset; sync: start; grow: new size
	n    int64  // sync: length
	data []byte // write: the bytes written (a copy)
	sync bool   // grow: whether the new size was to be made durable
	tag  int    // crashStorage.tag when the call was made (a transaction number)
}

func (op crashOp) String() string {
	switch op.kind {
	case opWrite:
		return fmt.Sprintf("write [%d, +%d) (txn %d)", op.off, len(op.data), op.tag)
	case opSync:
		return fmt.Sprintf("sync [%d, +%d) (txn %d)", op.off, op.n, op.tag)
	case opGrow:
		return fmt.Sprintf("grow to %d sync=%v (txn %d)", op.off, op.sync, op.tag)
	case opTruncate:
		return fmt.Sprintf("truncate to %d (txn %d)", op.off, op.tag)
	}
	return fmt.Sprintf("map %d (txn %d)", op.off, op.tag)
}

// errInjected is the error an injected fault returns.
var errInjected = errors.New("injected I/O error")

type crashStorage struct {
	tx.Storage // the real storage, over an in-memory file
	file       *os.File

	mu   sync.Mutex
	base []byte    // the file, all durable, when recording began
	ops  []crashOp // mutating calls since, in order (failed ones excluded)
	tag  int       // label for the calls made from now on
	// failAt, when >= 0, fails the call numbered failAt (counting every
	// WriteAt, SyncRange, Grow, Truncate and Map from 0) with errInjected;
	// a failed WriteAt first writes the first half of its pages, as a
	// short write before an error might. calls counts calls; failedOp is
	// what failed.
	failAt   int
	calls    int
	failedOp *crashOp
	// failMaps, when set, fails the next Map (whatever failAt says).
	failMaps bool
}

// newCrashStorage returns a recording storage over a file holding base.
func newCrashStorage(t testing.TB, base []byte) *crashStorage {
	t.Helper()
	f := memFile(t, base)
	return &crashStorage{
		Storage: openFileStorage(f, false, false, 0),
		file:    f,
		base:    bytes.Clone(base),
		failAt:  -1,
	}
}

// fault reports whether the call being made is the one to fail, counting it.
// REQUIRES: s.mu held.
func (s *crashStorage) faultLocked(op crashOp) bool {
	n := s.calls
	s.calls++
	if n == s.failAt || (op.kind == opMap && s.failMaps) {
		s.failMaps = false
		s.failedOp = &op
		return true
	}
	return false
}

func (s *crashStorage) WriteAt(bufs [][]byte, off int64) error {
	var data []byte
	for _, b := range bufs {
		data = append(data, b...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	op := crashOp{kind: opWrite, off: off, data: data, tag: s.tag}
	if s.faultLocked(op) {
		half := len(data) / 2 &^ (minSector - 1)
		if half > 0 {
			op.data = data[:half]
			if err := s.Storage.WriteAt([][]byte{op.data}, off); err != nil {
				return err
			}
			s.ops = append(s.ops, op)
		}
		return errInjected
	}
	if err := s.Storage.WriteAt([][]byte{data}, off); err != nil {
		return err
	}
	s.ops = append(s.ops, op)
	return nil
}

func (s *crashStorage) SyncRange(off, n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	op := crashOp{kind: opSync, off: off, n: n, tag: s.tag}
	if s.faultLocked(op) {
		return errInjected
	}
	if err := s.Storage.SyncRange(off, n); err != nil {
		return err
	}
	s.ops = append(s.ops, op)
	return nil
}

func (s *crashStorage) Grow(size int64, sync bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	op := crashOp{kind: opGrow, off: size, sync: sync, tag: s.tag}
	if s.faultLocked(op) {
		return errInjected
	}
	if err := s.Storage.Grow(size, sync); err != nil {
		return err
	}
	s.ops = append(s.ops, op)
	return nil
}

func (s *crashStorage) Map(size int64) (tx.View, error) {
	s.mu.Lock()
	fail := s.faultLocked(crashOp{kind: opMap, off: size, tag: s.tag})
	s.mu.Unlock()
	if fail {
		return nil, errInjected
	}
	return s.Storage.Map(size)
}

func (s *crashStorage) Truncate(size int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	op := crashOp{kind: opTruncate, off: size, tag: s.tag}
	if s.faultLocked(op) {
		return errInjected
	}
	if err := s.Storage.Truncate(size); err != nil {
		return err
	}
	s.ops = append(s.ops, op)
	return nil
}

// setTag labels the calls made from now on.
func (s *crashStorage) setTag(tag int) {
	s.mu.Lock()
	s.tag = tag
	s.mu.Unlock()
}

// opCount is the number of calls recorded so far.
func (s *crashStorage) opCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ops)
}

// contents returns the file as it stands now (what a reopen after a
// clean shutdown, or a process death, would find). REQUIRES: not closed.
func (s *crashStorage) contents(t testing.TB) []byte {
	t.Helper()
	fi, err := s.file.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, fi.Size())
	if _, err := s.file.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// minSector is the unit a disk writes atomically (at least).
const minSector = 512

// metaBytes is how much of a meta page holds data (page/meta.go).
const metaBytes = 88

type imageMode int

const (
	imageSynced imageMode = iota // only synced bytes
	imageAll                     // every write reached the disk (a process death)
	imageSubset                  // synced bytes plus a random subset of unsynced pages
	imageTorn                    // a subset, and one unsynced page torn (see image)
)

func (m imageMode) String() string { return [...]string{"synced", "all", "subset", "torn"}[m] }

// unsynced is one page of a write that no sync has covered yet.
type unsynced struct {
	off  int64
	data []byte
}

// image returns the file a power cut right after the first k recorded
// calls could leave, for mode (rng picks the subset, the torn page and,
// where growth or a truncation was not synced, the length). pageSize is
// the unit in which writes reach the disk independently.
//
// A sync makes the writes it covers durable, and the file length up to
// the end of its range (fdatasync semantics); a synced Grow that grows the
// file makes the new length durable (a Grow to no more than the length is
// a no-op, as in fileStorage). Unsynced growth may or may not survive.
//
// A Truncate below the durable length is durable only once a sync or a
// synced Grow makes the length durable; until then the image is either
// the old file (the old length, with whatever of its tail was durable) or
// the new one. In the new one, and once the truncation is durable, the
// bytes past the lowest cut read zero wherever the file has grown back
// (by Grow or by a write past the end) and they were not written again:
// the kernel drops the cut pages and their blocks, and the regrown range
// is a hole or fallocated, unwritten blocks. (A real file may also be
// left in a state in between, such as the cut length before it grew back;
// the double makes only the two ends. None holds the old bytes in a
// regrown range.)
func (s *crashStorage) image(k int, mode imageMode, pageSize int, rng *rand.Rand) []byte {
	s.mu.Lock()
	ops := s.ops[:k]
	s.mu.Unlock()
	// INVARIANT: len(durable) <= dsize; the durable file reads zero in
	// [len(durable), dsize).
	durable := bytes.Clone(s.base)
	dsize := int64(len(durable)) // durable length
	cur := dsize                 // length the program saw
	var pend []unsynced
	// cut, when >= 0, is the lowest length a truncation not yet durable
	// cut the file to: the new file holds none of durable past it.
	cut := int64(-1)
	// settleCut makes a pending truncation durable, with the length the
	// file has now (the caller sets dsize).
	settleCut := func() {
		if cut >= 0 {
			durable = durable[:min(int64(len(durable)), cut)]
			cut = -1
		}
	}
	for _, op := range ops {
		switch op.kind {
		case opWrite:
			for i := 0; i < len(op.data); i += pageSize {
				end := min(i+pageSize, len(op.data))
				pend = append(pend, unsynced{op.off + int64(i), op.data[i:end]})
			}
			cur = max(cur, op.off+int64(len(op.data)))
		case opSync:
			// Syncing data syncs the length too (fdatasync), truncations
			// included. NB: the cut first: writes synced now may lie in
			// a range that was cut and has grown back.
			if cut >= 0 {
				settleCut()
				dsize = cur
			}
			kept := pend[:0]
			for _, u := range pend {
				if u.off >= op.off && u.off+int64(len(u.data)) <= op.off+op.n {
					durable = writeInto(durable, u.off, u.data)
				} else {
					kept = append(kept, u)
				}
			}
			clear(pend[len(kept):])
			pend = kept
			dsize = max(dsize, min(op.off+op.n, cur))
		case opGrow:
			if op.off <= cur {
				break // fileStorage.Grow leaves a long enough file alone, unsynced
			}
			cur = op.off
			if op.sync {
				settleCut()
				dsize = cur
			}
		case opTruncate:
			if op.off >= cur {
				cur = op.off // extended sparsely: zeros, and not durable
				break
			}
			// The bytes past the new end are gone from the page cache
			// (a page the cut splits keeps its part below it); the
			// shorter length is durable only once something syncs the
			// file's size, so until then either file may survive.
			cur = op.off
			kept := pend[:0]
			for _, u := range pend {
				if u.off < cur {
					u.data = u.data[:min(int64(len(u.data)), cur-u.off)]
					kept = append(kept, u)
				}
			}
			clear(pend[len(kept):])
			pend = kept
			if dsize > cur && (cut < 0 || cur < cut) {
				cut = cur
			}
		}
	}
	// Either the old length (and with a pending truncation the old file)
	// or the program's, which is the new file.
	size := dsize
	if mode == imageAll || (mode != imageSynced && rng.IntN(2) == 0) {
		size = cur
		settleCut()
	}
	img := make([]byte, size)
	copy(img, durable)
	if mode == imageSynced {
		return img
	}
	torn, unit := -1, minSector
	if mode == imageTorn && len(pend) > 0 {
		torn = rng.IntN(len(pend))
		// A meta page holds 88 bytes, inside its first sector, so tearing
		// it at a sector changes nothing: half the time, pick an unsynced
		// meta page if there is one and tear it inside those bytes, at 8,
		// as a device without atomic sectors could.
		if rng.IntN(2) == 0 {
			for i, u := range pend {
				if u.off < 2*int64(pageSize) {
					torn, unit = i, 8
				}
			}
		}
	}
	for i, u := range pend {
		switch {
		case i == torn:
			// The first j units of the page made it, the rest did not.
			n := len(u.data) / unit
			if unit < minSector {
				n = metaBytes / unit
			}
			if n > 1 {
				img = writeInto(img, u.off, u.data[:(1+rng.IntN(n-1))*unit])
			}
		case mode == imageAll || rng.IntN(2) == 0:
			img = writeInto(img, u.off, u.data)
		}
	}
	return img
}

// writeInto copies data into b at off, growing b as a write past the end
// of a file would.
func writeInto(b []byte, off int64, data []byte) []byte {
	if end := off + int64(len(data)); end > int64(len(b)) {
		b = append(b, make([]byte, end-int64(len(b)))...)
	}
	copy(b[off:], data)
	return b
}

// openImage opens a database file image with tx.Open over an in-memory
// file. The caller closes the DB.
func openImage(t testing.TB, name string, img []byte, opts *Options) (*DB, error) {
	t.Helper()
	f := memFile(t, img)
	st := openFileStorage(f, false, false, 0)
	db, err := tx.Open(name, st, opts)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	// Grow in small steps: the default (16 MiB, allocated for real by
	// fallocate) would cost more than everything else a test does here.
	db.AllocSize = 64 << 10
	return db, nil
}

// memFile returns a read-write file holding data, closed (and gone) when
// the test ends unless its owner closed it first.
func memFile(t testing.TB, data []byte) *os.File {
	t.Helper()
	f, err := newMemFile()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	return f
}
