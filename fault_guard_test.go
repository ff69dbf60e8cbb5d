//go:build unix

package folio

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// wildPage maps one page no database maps, with PROT_NONE: any read of
// it faults, as a wild pointer in a caller's code would.
func wildPage(t *testing.T) []byte {
	t.Helper()
	b, err := unix.Mmap(-1, 0, os.Getpagesize(), unix.PROT_NONE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Munmap(b) })
	return b
}

// wildSink keeps the faulting reads from being optimised away.
var wildSink byte

// panicOf calls call and returns what it panicked with (nil if it
// returned), and its error.
func panicOf(call func() error) (r any, err error) {
	// NB: set here too, so that a fault outside the guard under test
	// fails this test instead of killing the test binary.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() { r = recover() }()
	return nil, call()
}

// wantFaultPanic fails unless r is the runtime.Error of a fault at addr.
func wantFaultPanic(t *testing.T, what string, r any, err error, addr uintptr) {
	t.Helper()
	if r == nil {
		t.Errorf("%s: returned %v, want a panic with the fault at %#x", what, err, addr)
		return
	}
	_, isRuntime := r.(runtime.Error)
	f, isFault := r.(interface{ Addr() uintptr })
	if !isRuntime || !isFault || f.Addr() != addr {
		t.Errorf("%s: panicked with %v (%T), want the runtime.Error of the fault at %#x", what, r, r, addr)
	}
}

// faultOnWrite is an io.Writer that reads wild in its n-th Write (from
// 0): WriteTo writes the meta pages before its guard begins.
type faultOnWrite struct {
	wild []byte
	n    int
}

func (w *faultOnWrite) Write(p []byte) (int, error) {
	if w.n == 0 {
		wildSink = w.wild[0]
	}
	w.n--
	return len(p), nil
}

// TestFaultOutsideMappingPanics: a memory fault at an address outside
// every mapping of the database, met in the caller's function of View,
// Update or Batch or in the io.Writer given to WriteTo, is the caller's
// bug and panics with the fault's own runtime.Error, as any other panic
// there does. Before, the fault guard turned every fault under it into
// ErrCorrupt ("memory fault ... reading the mapping"), passing a wild
// pointer off as a damaged database. The DB works on afterwards.
func TestFaultOutsideMappingPanics(t *testing.T) {
	db, err := Open(tempPath(t), 0o600, &Options{PageSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fillDeep(0, 1000)); err != nil {
		t.Fatal(err)
	}
	wild := wildPage(t)
	addr := uintptr(unsafe.Pointer(&wild[0]))
	fault := func(*Tx) error { wildSink = wild[0]; return nil }

	r, err := panicOf(func() error { return db.View(fault) })
	wantFaultPanic(t, "View", r, err, addr)
	r, err = panicOf(func() error { return db.Update(fault) })
	wantFaultPanic(t, "Update", r, err, addr)
	r, err = panicOf(func() error { return db.Batch(fault) })
	wantFaultPanic(t, "Batch", r, err, addr)
	for _, writable := range []bool{false, true} {
		tx, err := db.Begin(writable)
		if err != nil {
			t.Fatal(err)
		}
		r, err = panicOf(func() error { _, err := tx.WriteTo(&faultOnWrite{wild: wild, n: 1}); return err })
		wantFaultPanic(t, fmt.Sprintf("WriteTo of Begin(%v)", writable), r, err, addr)
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
	}

	// Each call released what it held: the write lock, the snapshots.
	if err := db.Update(fillDeep(1000, 10)); err != nil {
		t.Fatal(err)
	}
	if err := db.View(readAll); err != nil {
		t.Fatal(err)
	}
	if n := db.Stats().OpenTxN; n != 0 {
		t.Errorf("%d read transactions open after the panics, want 0", n)
	}
}

// TestFaultInOlderMappingIsCorrupt: a fault in a mapping of the
// database that a remap replaced, still alive for a read transaction
// begun before it, is the database's: the View whose function read
// through that transaction returns ErrCorrupt, as for a fault in its
// own mapping (TestTruncatedUnderneath).
func TestFaultInOlderMappingIsCorrupt(t *testing.T) {
	const ps = 4096
	path := tempPath(t)
	db := openPath(t, path, &Options{PageSize: ps, NoSync: true})
	if err := db.Update(fillDeep(0, 100)); err != nil {
		t.Fatal(err)
	}
	old, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Rollback()
	before := valueAddr(t, db)
	// Past the first mapping (16 MiB): the next snapshot maps anew.
	for i := 0; i < 17; i++ {
		if err := db.Update(putBig(i)); err != nil {
			t.Fatal(err)
		}
	}
	if valueAddr(t, db) == before {
		t.Fatal("the file grew past its mapping and was not mapped anew")
	}
	if err := os.Truncate(path, 2*ps); err != nil {
		t.Fatal(err)
	}
	err = db.View(func(*Tx) error {
		old.Bucket([]byte("deep")).Get([]byte("deep-key-000050"))
		return nil
	})
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("View reading a cut page through a transaction on the replaced mapping: %v, want ErrCorrupt", err)
	}
}

// TestFaultGuardRacesRemaps runs Views that fault outside the mapping
// while a writer grows the file past its mapping (a remap) and readers
// end on the replaced one: under -race, the guard's look at the DB's
// mappings races with none of their changes, and every wild fault
// still panics.
func TestFaultGuardRacesRemaps(t *testing.T) {
	db, err := Open(tempPath(t), 0o600, &Options{PageSize: 4096, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fillDeep(0, 100)); err != nil {
		t.Fatal(err)
	}
	before := valueAddr(t, db)
	wild := wildPage(t)
	addr := uintptr(unsafe.Pointer(&wild[0]))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					if n == 0 {
						errs <- errors.New("no View ran")
					}
					return
				default:
				}
				r, err := panicOf(func() error { return db.View(func(*Tx) error { wildSink = wild[0]; return nil }) })
				if f, ok := r.(interface{ Addr() uintptr }); !ok || f.Addr() != addr {
					errs <- fmt.Errorf("View faulting at %#x: panic %v, error %v; want the fault's panic", addr, r, err)
					return
				}
			}
		}()
	}
	for i := 0; i < 17; i++ {
		if err := db.Update(putBig(i)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if valueAddr(t, db) == before {
		t.Error("the file grew past its mapping and was not mapped anew")
	}
}

// putBig puts a 1 MiB value under key i of bucket "big".
func putBig(i int) func(*Tx) error {
	return func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("big"))
		if err != nil {
			return err
		}
		return b.Put([]byte(fmt.Sprint(i)), make([]byte, 1<<20))
	}
}

// valueAddr is where the value of key deep-key-000050 of bucket "deep"
// lies in the mapping of the newest snapshot: a value no commit since
// fillDeep changed moves only if the file is mapped anew.
func valueAddr(t *testing.T, db *DB) (addr uintptr) {
	t.Helper()
	if err := db.View(func(tx *Tx) error {
		v := tx.Bucket([]byte("deep")).Get([]byte("deep-key-000050"))
		if len(v) == 0 {
			return errors.New("no value for deep-key-000050")
		}
		addr = uintptr(unsafe.Pointer(&v[0]))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return addr
}
