package freelist

import (
	"slices"
	"testing"

	"github.com/foliodb/folio/page"
)

// pendingAt lists the start pages of l's pending extents.
func pendingAt(l *List) []page.ID {
	var ids []page.ID
	l.ForEachPending(func(_ page.TxID, e page.Extent) { ids = append(ids, e.Start) })
	return ids
}

// TestReleaseUnseen pins which pending extents a long reader keeps: an
// extent written by W and freed by F is seen by snapshots W <= S < F only.
func TestReleaseUnseen(t *testing.T) {
	l := New()
	// A reader holds snapshot 10; the published snapshot is 20.
	l.FreeWritten(12, 5, 100, 1)  // written before the reader: it sees it
	l.FreeWritten(14, 11, 110, 1) // written and freed after it: unseen
	l.FreeWritten(15, 0, 120, 2)  // writer unknown: kept for every reader
	l.FreeWritten(21, 16, 130, 1) // freed after the published snapshot
	l.FreeWritten(9, 3, 140, 1)   // freed before the reader: Release's
	l.Release(10)
	l.ReleaseUnseen([]page.TxID{10}, 20)
	mustVerify(t, l)
	if got, want := pendingAt(l), []page.ID{100, 120, 130}; !slices.Equal(got, want) {
		t.Fatalf("pending after the first release: %v, want %v", got, want)
	}
	if l.FreeCount() != 2 {
		t.Fatalf("free pages %d, want 2 (110 and 140)", l.FreeCount())
	}

	// Later commits (extents are freed by txids past the last call's
	// published one): a second reader on 21 sees a run written at 16 and
	// freed at 22, not one written at 22 and freed at 23. The run freed
	// at 21 goes now that 21 is published.
	l.FreeWritten(22, 16, 150, 1)
	l.FreeWritten(23, 22, 160, 1)
	l.ReleaseUnseen([]page.TxID{10, 21}, 24)
	mustVerify(t, l)
	if got, want := pendingAt(l), []page.ID{100, 120, 150}; !slices.Equal(got, want) {
		t.Fatalf("pending with readers 10 and 21: %v, want %v", got, want)
	}

	// The reader on 21 ends: the run it kept goes at the next call, though
	// it was freed before the previous call's published snapshot.
	l.ReleaseUnseen([]page.TxID{10}, 25)
	mustVerify(t, l)
	if got, want := pendingAt(l), []page.ID{100, 120}; !slices.Equal(got, want) {
		t.Fatalf("pending once reader 21 ended: %v, want %v", got, want)
	}

	// With no reader left, Release takes the rest.
	l.Release(25)
	l.ReleaseUnseen(nil, 25)
	if l.PendingCount() != 0 {
		t.Fatalf("pending %v after every reader ended", pendingAt(l))
	}
}

// TestPendIntoKeepsWriter: the runs a WAL checkpoint held keep their
// writer when they join the free list, so a reader that cannot see them
// does not keep them, even though they were freed before the list's last
// ReleaseUnseen.
func TestPendIntoKeepsWriter(t *testing.T) {
	held, l := New(), New()
	l.ReleaseUnseen([]page.TxID{10}, 20) // scanned up to 20 already
	held.FreeWritten(14, 11, 200, 1)     // unseen by the reader on 10
	held.FreeWritten(15, 8, 210, 1)      // seen by it
	held.PendInto(l)
	l.ReleaseUnseen([]page.TxID{10}, 20)
	mustVerify(t, l)
	if got, want := pendingAt(l), []page.ID{210}; !slices.Equal(got, want) {
		t.Fatalf("pending after PendInto: %v, want %v", got, want)
	}
}
