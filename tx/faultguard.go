package tx

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"unsafe"
)

// The fault guard. View, Update and Batch (their commits too), Check,
// WriteTo, every checkpoint and Close's read of the meta pages run under
// debug.SetPanicOnFault, so a read of the mapping past the end of a file
// cut underneath it (or an I/O error paging it in) panics instead of
// killing the process, and the guard returns that panic as ErrCorrupt.
// Only a fault inside one of the DB's own mappings is folio's: a fault
// anywhere else under the guard (a wild pointer in the caller's function,
// or in an io.Writer given to WriteTo) is a bug, not damage, and goes on
// as the panic it is (TestFaultOutsideMappingPanics).
//
// mapSet keeps the address ranges of the DB's live views. Only Map and a
// view's Close (a remap, a retired mapping, the short mappings of the
// meta pages) touch it, and only a recovered fault reads it: the read
// path pays nothing. A view's range is added before Map hands it out and
// removed only after it is unmapped, so a fault in a mapping being
// retired still counts as folio's, whatever remap runs concurrently.
// Rejected: comparing the address with the faulting Tx's own mapping
// alone. A function may read through another transaction of the DB
// still open on an older mapping (TestFaultInOlderMappingIsCorrupt), and
// a checkpoint or Close reads mappings no Tx holds.
type mapSet struct {
	mu    sync.Mutex
	spans []mapSpan // guarded by mu
}

// mapSpan is one live view's bytes, [start, end).
type mapSpan struct {
	start, end uintptr
	v          *trackedView
}

// contains reports whether addr lies in a live view of the DB.
func (s *mapSet) contains(addr uintptr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sp := range s.spans {
		if addr >= sp.start && addr < sp.end {
			return true
		}
	}
	return false
}

// trackedView is a View of the storage whose range is in the DB's
// mapSet until it is closed.
type trackedView struct {
	View
	set  *mapSet
	once sync.Once
}

// Close unmaps the view, then forgets its range (once: a second Close
// must not drop the range of a later view mapped at the same address).
func (v *trackedView) Close() error {
	err := v.View.Close()
	v.once.Do(func() {
		v.set.mu.Lock()
		defer v.set.mu.Unlock()
		v.set.spans = slices.DeleteFunc(v.set.spans, func(sp mapSpan) bool { return sp.v == v })
	})
	return err
}

// mapFile is db.st.Map with the view's range kept in db.maps until its
// Close: every mapping the DB reads goes through it.
func (db *DB) mapFile(size int64) (View, error) {
	v, err := db.st.Map(size)
	if err != nil {
		return nil, err
	}
	b := v.Bytes()
	if len(b) == 0 {
		return v, nil
	}
	tv := &trackedView{View: v, set: &db.maps}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	db.maps.mu.Lock()
	db.maps.spans = append(db.maps.spans, mapSpan{start: start, end: start + uintptr(len(b)), v: tv})
	db.maps.mu.Unlock()
	return tv, nil
}

// faultError is the ErrCorrupt for r, recovered from a memory fault
// reading a mapping of db while doing what (SetPanicOnFault makes the
// fault a panic), or nil if r is any other panic, a fault outside db's
// mappings included: the caller then panics with r again.
func faultError(db *DB, r any, what string) error {
	re, ok := r.(runtime.Error)
	f, isFault := r.(interface{ Addr() uintptr })
	if !ok || !isFault || !db.maps.contains(f.Addr()) {
		return nil
	}
	return fmt.Errorf("%w: %s: memory fault at %#x reading the mapping%s (file truncated or I/O error?): %v",
		ErrCorrupt, db.path, f.Addr(), what, re)
}
