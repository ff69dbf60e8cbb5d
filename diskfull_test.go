package folio

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"

	"github.com/foliodb/folio/tx"
)

// fullStorage is a file that cannot grow past room bytes: a Grow beyond
// fails with ENOSPC and changes nothing, as fallocate on a full disk
// does once fileStorage.allocate has given back what it got. With
// failSync, the next Grow grows the file and then fails as a failed
// fdatasync does (fileStorage.Grow). The child processes of
// diskfull_linux_test.go meet the real thing.
type fullStorage struct {
	tx.Storage
	mu       sync.Mutex
	room     int64
	failSync bool
}

func (s *fullStorage) Grow(size int64, sync bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failSync {
		s.failSync = false
		if err := s.Storage.Grow(size, false); err != nil {
			return err
		}
		return fmt.Errorf("%w (%w)", os.NewSyscallError("fdatasync", syscall.EIO), ErrSyncFailed)
	}
	if size > s.room {
		return os.NewSyscallError("fallocate", syscall.ENOSPC)
	}
	return s.Storage.Grow(size, sync)
}

func (s *fullStorage) setRoom(n int64) {
	s.mu.Lock()
	s.room = n
	s.mu.Unlock()
}

func openFullStorage(t *testing.T, room int64) (*DB, *fullStorage) {
	t.Helper()
	const ps = 1024
	st := &fullStorage{Storage: openFileStorage(memFile(t, tx.InitialImage(ps)), false, false, 0), room: room}
	db, err := tx.Open("full.db", st, &Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, st
}

// putValues commits values of 6-10 KiB under keys n, n+1, ... into
// bucket b of db and of the model m, once the commit succeeds.
func putValues(db *DB, m *mbucket, rng *rand.Rand, n, count int) error {
	vals := make([][]byte, count)
	for i := range vals {
		vals[i] = make([]byte, 6<<10+rng.IntN(4<<10))
		for j := range vals[i] {
			vals[i][j] = byte(rng.Uint32())
		}
	}
	err := db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		for i, v := range vals {
			if err := b.Put([]byte(fmt.Sprintf("k%05d", n+i)), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		b := lookupModel(m, []string{"b"}, true)
		for i, v := range vals {
			b.kv[fmt.Sprintf("k%05d", n+i)] = string(v)
		}
	}
	return err
}

// TestDiskFullGrowFallback: a file grows ahead of its data in steps (it
// doubles while small). Once the disk cannot take the step, a commit
// that fits in what is left still commits: the growth falls back to what
// the commit needs. Before, every commit failed once the step did not
// fit (a file of 512 KiB on a disk with 600 KiB asked for 1 MiB), also
// after space was freed, as long as less than a step was. A commit that
// does not fit fails with ENOSPC (errors.Is) and changes nothing.
func TestDiskFullGrowFallback(t *testing.T) {
	const room = 600 << 10 // past the 512 KiB step, short of the next
	db, st := openFullStorage(t, room)
	rng := rand.New(rand.NewPCG(1, 2))
	m := newMBucket()
	n, fails := 0, 0
	for ; fails < 3; n++ {
		if n > 1000 {
			t.Fatal("no commit failed on a full disk")
		}
		err := putValues(db, m, rng, n*2, 2)
		if err == nil {
			continue
		}
		fails++
		if !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrSyncFailed) {
			t.Fatalf("commit on a full disk: %v, want ENOSPC alone", err)
		}
		expectState(t, fmt.Sprintf("after failed commit %d", n), db, m)
	}
	// The commits took the room up to its last 2 values (20 KiB and a
	// few pages of branches and free list), not only up to a step.
	if size := st.Size(); size < room-32<<10 {
		t.Fatalf("the file stopped growing at %d bytes of the %d the disk had", size, int64(room))
	}
	st.setRoom(1 << 30)
	for i := range 3 {
		if err := putValues(db, m, rng, (n+i)*2, 2); err != nil {
			t.Fatalf("commit with room again: %v", err)
		}
	}
	expectState(t, "with room again", db, m)
}

// TestDiskFullGrowSyncFails: a growth whose fdatasync fails (a full thin
// disk, NFS out of quota, an I/O error) synced the pages written since
// the last sync too, and the kernel may have dropped the ones it failed
// to write. As after any failed sync, the DB refuses writes with
// ErrSyncFailed until it is reopened; before, the next commit found the
// file long enough and went on without a sync.
func TestDiskFullGrowSyncFails(t *testing.T) {
	db, st := openFullStorage(t, 1<<30)
	rng := rand.New(rand.NewPCG(3, 4))
	m := newMBucket()
	for n := 0; ; n += 4 {
		if n > 400 {
			t.Fatal("the file never grew")
		}
		before := st.Size()
		if err := putValues(db, m, rng, n, 4); err != nil {
			t.Fatal(err)
		}
		if st.Size() > before {
			break // the next growth is a step away
		}
	}
	st.mu.Lock()
	st.failSync = true
	st.mu.Unlock()
	for n := 1000; ; n += 4 {
		if n > 2000 {
			t.Fatal("the file never grew")
		}
		err := putValues(db, m, rng, n, 4)
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrSyncFailed) {
			t.Fatalf("commit whose growth failed to sync: %v, want ErrSyncFailed", err)
		}
		break
	}
	err := db.Update(func(tx *Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("x")); return err })
	if !errors.Is(err, ErrSyncFailed) {
		t.Fatalf("commit after a failed growth sync: %v, want ErrSyncFailed", err)
	}
	expectState(t, "reads after the failed growth sync", db, m)
}
