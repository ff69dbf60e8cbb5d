package wal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// ackBook records what Append returned and what SyncTo acknowledged.
type ackBook struct {
	mu       sync.Mutex
	appended map[uint64][]byte // every lsn Append returned, with its payload
	acked    uint64            // the highest lsn a SyncTo returned nil for
	trunc    uint64            // the highest upTo a Truncate returned nil for
}

func newAckBook() *ackBook {
	return &ackBook{appended: map[uint64][]byte{}}
}

func (b *ackBook) add(lsn uint64, p []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.appended[lsn]; dup {
		return fmt.Errorf("lsn %d handed out twice", lsn)
	}
	b.appended[lsn] = bytes.Clone(p)
	return nil
}

func (b *ackBook) ack(lsn uint64) {
	b.mu.Lock()
	b.acked = max(b.acked, lsn)
	b.mu.Unlock()
}

func (b *ackBook) truncated(upTo uint64) {
	b.mu.Lock()
	b.trunc = max(b.trunc, upTo)
	b.mu.Unlock()
}

// check replays a reopened log and holds it to the book: every acknowledged
// record past the truncation point is there, in order, once, as appended;
// every record there was appended with that lsn.
func (b *ackBook) check(t *testing.T, l *Log) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	from := b.trunc + 1
	got := replayAll(t, l, from)
	next := from
	for _, r := range got {
		if r.lsn != next {
			t.Fatalf("replayed lsn %d, want %d (from %d; acked %d)", r.lsn, next, from, b.acked)
		}
		want, ok := b.appended[r.lsn]
		if !ok {
			t.Fatalf("replayed lsn %d, which Append never returned (acked %d)", r.lsn, b.acked)
		}
		if !bytes.Equal(want, r.payload) {
			t.Fatalf("lsn %d: payload differs from the one appended", r.lsn)
		}
		next++
	}
	if b.acked >= from && next <= b.acked {
		t.Fatalf("recovered up to lsn %d, but SyncTo acknowledged up to %d (from %d)", next-1, b.acked, from)
	}
	if l.LastLSN() != next-1 && len(got) > 0 {
		t.Fatalf("LastLSN %d, replay ended at %d", l.LastLSN(), next-1)
	}
}

// TestLogConcurrentChaos: appenders and SyncTo callers on many
// goroutines while segments rotate (small segments, records crossing them,
// records bigger than a segment, empty records), the spare maker runs,
// Truncate recycles, Replay reads, and Close comes in the middle of it
// all. Every record acknowledged by SyncTo comes back after a reopen, in
// order, once. Run with -race.
func TestLogConcurrentChaos(t *testing.T) {
	for round := range 4 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentSize: 4096, NoCompression: round%2 == 0, MaxFreeSegments: 2}
			l := openLog(t, dir, opts)
			book := newAckBook()
			var stop atomic.Bool
			var wg sync.WaitGroup
			errc := make(chan error, 64)
			report := func(err error) {
				select {
				case errc <- err:
				default:
				}
			}
			for w := range 6 {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(round), uint64(w)))
					for i := 0; !stop.Load(); i++ {
						n := r.IntN(1500)
						switch r.IntN(20) {
						case 0:
							n = 0
						case 1:
							n = 4096 + r.IntN(3000) // a segment of its own
						case 2:
							n = 4096 - 64 // exactly fills a fresh segment
						}
						p := payload(w*100000+i, n)
						lsn, err := l.Append(p)
						if errors.Is(err, ErrClosed) {
							return
						}
						if err != nil {
							report(fmt.Errorf("Append: %w", err))
							return
						}
						if err := book.add(lsn, p); err != nil {
							report(err)
							return
						}
						if r.IntN(3) == 0 {
							continue
						}
						if err := l.SyncTo(lsn); err != nil {
							if errors.Is(err, ErrClosed) {
								return
							}
							report(fmt.Errorf("SyncTo(%d): %w", lsn, err))
							return
						}
						if l.SyncedLSN() < lsn {
							report(fmt.Errorf("SyncTo(%d) returned, SyncedLSN %d", lsn, l.SyncedLSN()))
						}
						book.ack(lsn)
					}
				})
			}
			wg.Go(func() { // truncator
				r := rand.New(rand.NewPCG(uint64(round), 99))
				for !stop.Load() {
					d := l.SyncedLSN()
					upTo := d - min(d, uint64(r.IntN(20)))
					if r.IntN(10) == 0 {
						upTo = d + 5 // past what is durable
					}
					// Truncate may drop records up to upTo (those durable
					// when it runs, which may be more than d).
					book.truncated(upTo)
					err := l.Truncate(upTo)
					switch {
					case err == nil:
					case errors.Is(err, ErrReplaying), errors.Is(err, ErrClosed):
					default:
						report(fmt.Errorf("Truncate(%d): %w", upTo, err))
						return
					}
					time.Sleep(time.Duration(r.IntN(300)) * time.Microsecond)
				}
			})
			wg.Go(func() { // replayer
				r := rand.New(rand.NewPCG(uint64(round), 7))
				for !stop.Load() {
					from := l.SyncedLSN() - min(l.SyncedLSN(), uint64(r.IntN(50)))
					var prev uint64
					err := l.Replay(from, func(lsn uint64, p []byte) error {
						if prev != 0 && lsn != prev+1 {
							return fmt.Errorf("Replay(%d): lsn %d after %d", from, lsn, prev)
						}
						if lsn < from {
							return fmt.Errorf("Replay(%d): lsn %d", from, lsn)
						}
						prev = lsn
						book.mu.Lock()
						want, ok := book.appended[lsn]
						book.mu.Unlock()
						if ok && !bytes.Equal(want, p) {
							return fmt.Errorf("Replay: lsn %d payload differs", lsn)
						}
						return nil
					})
					if err != nil && !errors.Is(err, ErrClosed) {
						report(err)
						return
					}
					time.Sleep(time.Duration(r.IntN(500)) * time.Microsecond)
				}
			})
			time.Sleep(300 * time.Millisecond)
			var closeErr error
			for {
				closeErr = l.Close()
				if !errors.Is(closeErr, ErrReplaying) {
					break
				}
				chaosPause()
			}
			stop.Store(true)
			wg.Wait()
			if closeErr != nil {
				t.Fatalf("Close: %v", closeErr)
			}
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			// After Close: every method says so.
			if _, err := l.Append([]byte("x")); !errors.Is(err, ErrClosed) {
				t.Fatalf("Append after Close: %v", err)
			}
			if err := l.Truncate(1); !errors.Is(err, ErrClosed) {
				t.Fatalf("Truncate after Close: %v", err)
			}
			if err := l.Sync(); err != nil {
				t.Fatalf("Sync after Close, all durable: %v", err)
			}
			if l.SyncedLSN() != l.LastLSN() {
				t.Fatalf("after Close: SyncedLSN %d, LastLSN %d", l.SyncedLSN(), l.LastLSN())
			}
			t.Logf("%d records, acked %d, truncated to %d", len(book.appended), book.acked, book.trunc)
			if n := openInDir(t, dir); n > 0 {
				t.Fatalf("%d files of the log still open after Close", n)
			}
			l = openLog(t, dir, opts)
			book.check(t, l)
			// Every record appended was made durable by Close.
			if l.LastLSN() != uint64(len(book.appended)) {
				t.Fatalf("after a clean Close: LastLSN %d, %d appended", l.LastLSN(), len(book.appended))
			}
			closeLog(t, l)
		})
	}
}

func chaosPause() { time.Sleep(time.Millisecond) }

// syncSeams counts the log's durability calls, fails the one numbered
// failAt (1-based; 0: none) with EIO, and may run a hook before each.
type syncSeams struct {
	mu     sync.Mutex
	n      int
	failAt int
	failed bool
	hook   func(n int, what string)
}

var injectedEIO = &os.PathError{Op: "sync", Path: "injected", Err: syscall.EIO}

func (s *syncSeams) call(what string) error {
	s.mu.Lock()
	s.n++
	n := s.n
	hook := s.hook
	fail := n == s.failAt
	if fail {
		s.failed = true
	}
	s.mu.Unlock()
	if hook != nil {
		hook(n, what)
	}
	if fail {
		return injectedEIO
	}
	return nil
}

// dataSync and dirSync make no real syncs: the tests model a process
// crash (every write kept) or undo directory changes themselves.
func (s *syncSeams) dataSync(f *os.File) error {
	return s.call("fdatasync " + filepath.Base(f.Name()))
}

func (s *syncSeams) dirSync(d string) error {
	return s.call("dirsync")
}

// chaosWorkload appends, syncs and truncates on one goroutine across
// many small segments, with spares or without. It records what it was
// told into book and stops at the first error other than a refused
// Truncate. It returns the error that stopped it and the durable LSN when
// it happened.
func chaosWorkload(l *Log, book *ackBook, seed uint64, steps int) (error, uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range steps {
		switch op := r.IntN(12); {
		case op < 8:
			n := r.IntN(1400)
			if r.IntN(15) == 0 {
				n = 4096 + r.IntN(2000)
			}
			p := payload(int(seed)*1000+i, n)
			d := l.SyncedLSN()
			lsn, err := l.Append(p)
			if err != nil {
				return fmt.Errorf("Append: %w", err), d
			}
			if err := book.add(lsn, p); err != nil {
				return err, d
			}
		case op < 11:
			d := l.SyncedLSN()
			last := l.LastLSN()
			if err := l.SyncTo(last); err != nil {
				return fmt.Errorf("SyncTo: %w", err), d
			}
			book.ack(last)
		default:
			d := l.SyncedLSN()
			upTo := d - min(d, uint64(r.IntN(8)))
			// Records up to upTo may go from the moment Truncate is
			// called (a crash image taken during it may lack them).
			book.truncated(upTo)
			if err := l.Truncate(upTo); err != nil {
				return fmt.Errorf("Truncate: %w", err), d
			}
		}
	}
	return nil, l.SyncedLSN()
}

// TestLogFailEachSync fails each fdatasync and directory sync the
// log makes in turn (the header sync of a rotation, a commit's sync, the
// directory sync of a rotation or of a Truncate's recycling). After the
// failure nothing new is acknowledged unless the log says the failure left
// it usable, Close returns, no file stays open, and a reopen recovers every
// acknowledged record.
func TestLogFailEachSync(t *testing.T) {
	const steps = 150
	for _, spares := range []bool{false, true} {
		opts := Options{SegmentSize: 4096, NoCompression: true, MaxFreeSegments: 2, noSpares: !spares}
		// Count the calls of an undisturbed run.
		total := func() int {
			s := &syncSeams{}
			l, err := open(t.TempDir(), opts, s.dataSync, s.dirSync)
			if err != nil {
				t.Fatal(err)
			}
			if err, _ := chaosWorkload(l, newAckBook(), 3, steps); err != nil {
				t.Fatal(err)
			}
			closeLog(t, l)
			return s.n
		}()
		for failAt := 1; failAt <= total; failAt++ {
			t.Run(fmt.Sprintf("spares=%v/fail=%d", spares, failAt), func(t *testing.T) {
				dir := t.TempDir()
				s := &syncSeams{failAt: failAt}
				l, err := open(dir, opts, s.dataSync, s.dirSync)
				if err != nil {
					if !errors.Is(err, syscall.EIO) {
						t.Fatalf("open: %v", err)
					}
					return
				}
				book := newAckBook()
				werr, durableAtFail := chaosWorkload(l, book, 3, steps)
				usable := false
				if werr != nil {
					if !errors.Is(werr, syscall.EIO) {
						t.Fatalf("workload: %v", werr)
					}
					// A failed Truncate leaves the log usable; every
					// other failure stops appends and syncs for good.
					usable = bytes.HasPrefix([]byte(werr.Error()), []byte("Truncate"))
					lsn, aerr := l.Append([]byte("after the failure"))
					switch {
					case usable && aerr != nil:
						t.Fatalf("Append after %v: %v", werr, aerr)
					case !usable && aerr == nil:
						t.Fatalf("Append after %v succeeded (lsn %d)", werr, lsn)
					}
					if aerr == nil {
						if err := book.add(lsn, []byte("after the failure")); err != nil {
							t.Fatal(err)
						}
					}
					serr := l.Sync()
					switch {
					case usable && serr != nil:
						t.Fatalf("Sync after %v: %v", werr, serr)
					case !usable && serr == nil && l.LastLSN() > durableAtFail:
						t.Fatalf("Sync after %v acknowledged lsn %d, durable was %d", werr, l.LastLSN(), durableAtFail)
					}
					if serr == nil {
						book.ack(l.LastLSN())
					}
					if usable { // and a later Truncate works
						if err := l.Truncate(l.SyncedLSN()); err != nil {
							t.Fatalf("Truncate after %v: %v", werr, err)
						}
						book.truncated(l.SyncedLSN())
					}
				}
				cerr := l.Close()
				if cerr != nil && !errors.Is(cerr, syscall.EIO) {
					t.Fatalf("Close: %v", cerr)
				}
				if usable && cerr != nil {
					t.Fatalf("Close of a usable log: %v", cerr)
				}
				if n := openInDir(t, dir); n > 0 {
					t.Fatalf("%d files of the log still open after Close", n)
				}
				l2 := openLog(t, dir, opts)
				defer closeLog(t, l2)
				book.check(t, l2)
				// And the log carries on.
				lsn := appendT(t, l2, []byte("next session"))
				syncT(t, l2)
				if lsn != l2.LastLSN() {
					t.Fatalf("lsn %d, LastLSN %d", lsn, l2.LastLSN())
				}
			})
		}
	}
}

// inodeOf returns the inode number of the file at path.
func inodeOf(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// dirListing is the directory as names to inodes, with each inode's
// contents as they are now.
type dirListing struct {
	names    map[string]uint64
	contents map[uint64][]byte
}

func listDir(t *testing.T, dir string) dirListing {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ls := dirListing{names: map[string]uint64{}, contents: map[uint64][]byte{}}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue // a spare the maker gave up on
		}
		if err != nil {
			t.Fatal(err)
		}
		ino := inodeOf(t, p)
		ls.names[e.Name()] = ino
		ls.contents[ino] = b
	}
	return ls
}

// write makes a directory holding names as they were in ls, each with the
// newest contents its inode had (in now, if it is still there).
func (ls dirListing) write(t *testing.T, now dirListing) string {
	t.Helper()
	dst := t.TempDir()
	for name, ino := range ls.names {
		b, ok := now.contents[ino]
		if !ok {
			b = ls.contents[ino]
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestLogCrashAtEachStep stops the log at each fdatasync and
// directory sync it makes (before the call) during rotations, recycling
// and truncation, and opens what a crash there could leave: the directory
// as it is, and the directory as of its last sync (renames, creations and
// removals since undone; file contents as they are). Open must accept each
// and recover every record acknowledged by then.
func TestLogCrashAtEachStep(t *testing.T) {
	for _, spares := range []bool{false, true} {
		t.Run(fmt.Sprintf("spares=%v", spares), func(t *testing.T) {
			opts := Options{SegmentSize: 4096, NoCompression: true, MaxFreeSegments: 2, noSpares: !spares}
			dir := t.TempDir()
			book := newAckBook()
			var durableDir dirListing // as of the last directory sync
			type image struct {
				n     int
				what  string
				dirs  [2]string
				acked uint64
				trunc uint64
			}
			var images []image
			var l *Log
			s := &syncSeams{}
			s.hook = func(n int, what string) {
				if l == nil { // Open's own syncs
					if what == "dirsync" {
						durableDir = listDir(t, dir)
					}
					return
				}
				now := listDir(t, dir)
				book.mu.Lock()
				acked, trunc := book.acked, book.trunc
				book.mu.Unlock()
				images = append(images, image{n, what, [2]string{now.write(t, now), durableDir.write(t, now)}, acked, trunc})
				if what == "dirsync" {
					durableDir = now
				}
			}
			var err error
			l, err = open(dir, opts, s.dataSync, s.dirSync)
			if err != nil {
				t.Fatal(err)
			}
			durableDir = listDir(t, dir)
			if err, _ := chaosWorkload(l, book, 5, 120); err != nil {
				t.Fatal(err)
			}
			closeLog(t, l)
			t.Logf("%d crash points", len(images))
			for _, im := range images {
				for k, d := range im.dirs {
					l2, err := Open(d, opts)
					if err != nil {
						t.Fatalf("crash at call %d (%s), dir as %s: Open: %v", im.n, im.what, [2]string{"is", "last synced"}[k], err)
					}
					sub := &ackBook{appended: book.appended, acked: im.acked, trunc: im.trunc}
					t.Run(fmt.Sprintf("call%d-%s-%d", im.n, im.what, k), func(t *testing.T) { sub.check(t, l2) })
					closeLog(t, l2)
				}
			}
		})
	}
}

// TestLogBoundaries: a record that exactly fills a segment, an
// empty record, a record over MaxRecordSize, records bigger than a
// segment, Replay from each LSN around segment boundaries and past the
// end, Truncate at 0, at the last record and past it.
func TestLogBoundaries(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 4096, NoCompression: true, MaxFreeSegments: 2, noSpares: true}
	l := openLog(t, dir, opts)
	if _, err := l.Append(make([]byte, MaxRecordSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append over MaxRecordSize: %v", err)
	}
	fill := 4096 - segHeaderSize - frameHeaderSize // a frame that fills a segment exactly
	var want [][]byte
	add := func(p []byte) {
		t.Helper()
		want = append(want, p)
		if lsn := appendT(t, l, p); lsn != uint64(len(want)) {
			t.Fatalf("lsn %d, want %d", lsn, len(want))
		}
	}
	add(payload(1, fill)) // fills segment 1
	add(nil)              // an empty record opens segment 2
	add(payload(3, fill-frameHeaderSize-frameHeaderSize))
	add(nil)                  // exactly fills segment 2
	add(payload(5, fill+1))   // needs a segment of its own (8 KiB)
	add(payload(6, 8192-96))  // does not fit the rest: another
	add(payload(7, 0))        // an empty record: a segment of its own again
	add(payload(8, 3*4096+5)) // one more big one
	syncT(t, l)
	l.mu.Lock()
	var firsts []uint64
	for _, s := range l.segs {
		firsts = append(firsts, s.first)
		if s.end > s.size {
			t.Errorf("segment %d: end %d past size %d", s.num, s.end, s.size)
		}
	}
	l.mu.Unlock()
	t.Logf("segment firsts %v", firsts)
	if len(firsts) < 4 || firsts[1] != 2 || firsts[2] != 5 {
		t.Fatalf("segment firsts %v, want 1, 2, 5, ...", firsts)
	}
	for from := uint64(0); from <= uint64(len(want))+2; from++ {
		first := max(from, 1)
		var w [][]byte
		if first <= uint64(len(want)) {
			w = want[first-1:]
		}
		checkRecords(t, replayAll(t, l, from), first, w)
	}
	if err := l.Truncate(0); err != nil {
		t.Fatal(err)
	}
	checkRecords(t, replayAll(t, l, 1), 1, want)
	closeLog(t, l)
	l = openLog(t, dir, opts)
	checkRecords(t, replayAll(t, l, 1), 1, want)
	if err := l.Truncate(1); err != nil { // segment 1 holds only lsn 1
		t.Fatal(err)
	}
	checkRecords(t, replayAll(t, l, 2), 2, want[1:])
	last := l.LastLSN()
	if err := l.Truncate(last); err != nil {
		t.Fatal(err)
	}
	checkRecords(t, replayAll(t, l, last), last, want[last-1:])
	if err := l.Truncate(last + 100); err != nil {
		t.Fatal(err)
	}
	add([]byte("after truncating everything"))
	syncT(t, l)
	closeLog(t, l)
	l = openLog(t, dir, opts)
	defer closeLog(t, l)
	if l.LastLSN() != uint64(len(want)) {
		t.Fatalf("LastLSN %d after truncating all but the active segment, want %d", l.LastLSN(), len(want))
	}
	checkRecords(t, replayAll(t, l, last+1), last+1, want[last:])
	checkRecords(t, replayAll(t, l, uint64(len(want))+1), uint64(len(want))+1, nil)
}

// TestLogObstacles: rotations that cannot make their file (a
// directory where the new segment's name, or a free segment's, would go)
// fail cleanly with ErrNotAppended when the record does not fit, and the
// log goes on; a Truncate that cannot rename a segment into the pool
// keeps it. A reopen recovers everything.
func TestLogObstacles(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 4096, NoCompression: true, MaxFreeSegments: 2, noSpares: true}
	l := openLog(t, dir, opts)
	book := newAckBook()
	app := func(n int) (uint64, error) {
		p := payload(n, n)
		lsn, err := l.Append(p)
		if err == nil {
			if err := book.add(lsn, p); err != nil {
				t.Fatal(err)
			}
		}
		return lsn, err
	}
	for i := range 5 {
		if _, err := app(600 + i); err != nil {
			t.Fatal(err)
		}
	}
	// The next segment's name is taken by a directory.
	l.mu.Lock()
	next := l.nextNum
	l.mu.Unlock()
	for k := range uint64(3) {
		if err := os.Mkdir(filepath.Join(dir, liveName(next+k)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for k := range 3 {
		if _, err := app(2000 + k); !errors.Is(err, ErrNotAppended) {
			t.Fatalf("Append needing a new segment, name taken: %v, want ErrNotAppended", err)
		}
	}
	if _, err := app(100); err != nil { // fits in the old segment
		t.Fatalf("small Append after a clean failure: %v", err)
	}
	syncT(t, l)
	book.ack(l.LastLSN())
	for i := range 20 {
		if _, err := app(700 + i); err != nil {
			t.Fatal(err)
		}
	}
	syncT(t, l)
	book.ack(l.LastLSN())
	// The oldest segment cannot go to the pool: a directory holds its
	// free name.
	l.mu.Lock()
	oldest := l.segs[0].num
	nsegs := len(l.segs)
	l.mu.Unlock()
	obstacle := filepath.Join(dir, freeName(oldest))
	if err := os.Mkdir(obstacle, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(obstacle, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(l.SyncedLSN()); err == nil {
		t.Fatal("Truncate renaming onto a directory succeeded")
	}
	l.mu.Lock()
	if len(l.segs) != nsegs {
		t.Errorf("after a failed Truncate: %d live segments, had %d", len(l.segs), nsegs)
	}
	l.mu.Unlock()
	book.check(t, l)
	if err := os.RemoveAll(obstacle); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(l.SyncedLSN()); err != nil {
		t.Fatal(err)
	}
	book.truncated(l.SyncedLSN())
	for i := range 10 {
		if _, err := app(800 + i); err != nil {
			t.Fatal(err)
		}
	}
	closeLog(t, l)
	book.ack(uint64(len(book.appended)))
	for k := range uint64(3) {
		os.Remove(filepath.Join(dir, liveName(next+k)))
	}
	l = openLog(t, dir, opts)
	defer closeLog(t, l)
	book.check(t, l)
}

// TestLogTruncateRaceRotation: a Truncate has renamed the oldest
// segment into the pool but not yet synced the directory when an Append
// switches segments and takes that very file, writing its new header. A
// crash then may keep the directory as it was before both renames: the
// oldest segment's old name with the new segment's header in it. Open must
// accept it and recover every acknowledged record.
func TestLogTruncateRaceRotation(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 4096, NoCompression: true, MaxFreeSegments: 2, noSpares: true}
	var armed, capture atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	var durable dirListing
	var images []string
	dirSync := func(d string) error {
		if armed.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
		if d == dir {
			durable = listDir(t, d)
		}
		return SyncDir(d)
	}
	dataSync := func(f *os.File) error {
		if capture.Load() {
			now := listDir(t, dir)
			images = append(images, durable.write(t, now), now.write(t, now))
		}
		return fdatasync(f)
	}
	l, err := open(dir, opts, dataSync, dirSync)
	if err != nil {
		t.Fatal(err)
	}
	durable = listDir(t, dir)
	book := newAckBook()
	for i := range 14 {
		p := payload(i, 900)
		lsn := appendT(t, l, p)
		if err := book.add(lsn, p); err != nil {
			t.Fatal(err)
		}
	}
	syncT(t, l)
	book.ack(l.LastLSN())
	l.mu.Lock()
	nsegs, upTo := len(l.segs), l.segs[1].first-1
	l.mu.Unlock()
	if nsegs < 3 {
		t.Fatalf("%d segments", nsegs)
	}
	armed.Store(true)
	book.truncated(upTo)
	done := make(chan error, 1)
	go func() { done <- l.Truncate(upTo) }()
	<-entered
	l.mu.Lock()
	nfree, active := len(l.free), l.segs[len(l.segs)-1]
	l.mu.Unlock()
	t.Logf("%d free segments while Truncate syncs", nfree)
	// Fill the active segment until the log switches segments (taking the
	// free file, if the pool offers it).
	capture.Store(true)
	for i := 0; ; i++ {
		l.mu.Lock()
		switched := l.segs[len(l.segs)-1] != active
		l.mu.Unlock()
		if switched {
			break
		}
		p := payload(100+i, 900)
		lsn := appendT(t, l, p)
		if err := book.add(lsn, p); err != nil {
			t.Fatal(err)
		}
	}
	capture.Store(false)
	syncT(t, l)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	closeLog(t, l)
	if len(images) == 0 {
		t.Fatal("no crash image taken during the switch")
	}
	// One image holds the oldest segment under its live name with the new
	// segment's header: the case this test is for.
	renamed := 0
	for _, img := range images {
		ents, _ := os.ReadDir(img)
		for _, e := range ents {
			if num, free, ok := parseName(e.Name()); ok && !free {
				s, err := openSegment(img, num, true, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				if s.renamed {
					renamed++
				}
				s.f.Close()
			}
		}
	}
	t.Logf("%d images hold a live-named segment with another's header", renamed)
	// Acknowledged when the images were taken: everything before the race.
	for i, img := range images {
		l2, err := Open(img, opts)
		if err != nil {
			t.Fatalf("image %d: Open: %v", i, err)
		}
		book.check(t, l2)
		closeLog(t, l2)
	}
}

// TestLogFailConcurrent fails one durability call, at varying
// points, while appenders sync on several goroutines, a truncator runs
// and the spare maker makes spares. No SyncTo acknowledges an lsn past
// what was durable when the failure happened, unless the failure was a
// Truncate's directory sync (which leaves the log usable); a reopen
// recovers every acknowledged record.
func TestLogFailConcurrent(t *testing.T) {
	opts := Options{SegmentSize: 4096, NoCompression: true, MaxFreeSegments: 2}
	for failAt := 3; failAt < 120; failAt += 7 {
		t.Run(fmt.Sprint(failAt), func(t *testing.T) {
			dir := t.TempDir()
			s := &syncSeams{failAt: failAt}
			var failDurable atomic.Uint64
			failDurable.Store(1<<64 - 1)
			var lp atomic.Pointer[Log]
			s.hook = func(n int, what string) {
				if l := lp.Load(); n == failAt && l != nil {
					failDurable.Store(l.SyncedLSN())
				}
			}
			l, err := open(dir, opts, func(f *os.File) error { return s.call("fdatasync") }, func(string) error { return s.call("dirsync") })
			if err != nil {
				return // the failure hit Open
			}
			lp.Store(l)
			book := newAckBook()
			var appenders, truncator sync.WaitGroup
			var stop atomic.Bool
			errc := make(chan error, 16)
			var lateMu sync.Mutex
			var late []error // acknowledgements after the failure
			for w := range 4 {
				appenders.Go(func() {
					r := rand.New(rand.NewPCG(uint64(failAt), uint64(w)))
					for i := range 40 {
						p := payload(w*1000+i, r.IntN(1500))
						lsn, err := l.Append(p)
						if err != nil {
							if errors.Is(err, ErrNotAppended) {
								continue
							}
							return
						}
						if err := book.add(lsn, p); err != nil {
							errc <- err
							return
						}
						if err := l.SyncTo(lsn); err != nil {
							continue
						}
						if d := failDurable.Load(); lsn > d {
							lateMu.Lock()
							late = append(late, fmt.Errorf("SyncTo(%d) succeeded after a failure at durable %d", lsn, d))
							lateMu.Unlock()
						}
						book.ack(lsn)
					}
				})
			}
			truncator.Go(func() {
				for !stop.Load() {
					d := l.SyncedLSN()
					upTo := d - min(d, 3)
					book.truncated(upTo)
					l.Truncate(upTo)
					time.Sleep(200 * time.Microsecond)
				}
			})
			appenders.Wait()
			stop.Store(true)
			truncator.Wait()
			l.mu.Lock()
			logFailed := l.failed != nil
			l.mu.Unlock()
			l.syncMu.Lock()
			logFailed = logFailed || l.syncErr != nil
			l.syncMu.Unlock()
			l.Close()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			if logFailed && len(late) > 0 {
				t.Fatal(late[0])
			}
			l2 := openLog(t, dir, opts)
			defer closeLog(t, l2)
			book.check(t, l2)
		})
	}
}

// TestLogReopenReusesUnsyncedName: a segment switch made the new
// segment's file (name, header synced) but its directory sync failed, or
// the process died just before it. The reopen reuses that empty segment
// for appends (recovery: no header of its own past its end) and a Sync
// acknowledges records in it, yet nothing ever syncs the directory, so a
// power loss can take the segment's name and every acknowledged record in
// it: the log then ends, without a word, at the previous segment (recovery
// invariant 2: "its name before a record in it is synced").
func TestLogReopenReusesUnsyncedName(t *testing.T) {
	for _, how := range []string{"dirsync-fails", "crash-before-dirsync"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentSize: 4096, NoCompression: true, MaxFreeSegments: -1, noSpares: true}
			// durable is the directory as of its last successful sync.
			var durable dirListing
			var armed atomic.Bool
			var crashImg string
			dirSync := func(d string) error {
				if d != dir {
					return nil
				}
				if armed.CompareAndSwap(true, false) {
					if how == "crash-before-dirsync" {
						now := listDir(t, dir)
						crashImg = now.write(t, now) // the process dies here
					}
					return injectedEIO
				}
				durable = listDir(t, dir)
				return nil
			}
			l, err := open(dir, opts, noDataSync, dirSync)
			if err != nil {
				t.Fatal(err)
			}
			durable = listDir(t, dir)
			book := newAckBook()
			for i := range 10 {
				p := payload(i, 200)
				if err := book.add(appendT(t, l, p), p); err != nil {
					t.Fatal(err)
				}
			}
			syncT(t, l)
			book.ack(l.LastLSN())
			armed.Store(true)
			if _, err := l.Append(payload(99, 3000)); !errors.Is(err, syscall.EIO) {
				t.Fatalf("Append needing a new segment: %v", err)
			}
			l.Close()
			if how == "crash-before-dirsync" {
				// The next process finds the directory as the dead one left
				// it; what is durable of it is unchanged.
				dir2 := crashImg
				durable = dirListing{names: map[string]uint64{}, contents: durable.contents}
				now := listDir(t, dir2)
				// Same names, new inodes: map the durable names to them.
				old := durable.contents
				durable.contents = map[uint64][]byte{}
				for name, ino := range now.names {
					if _, ok := old[inoOf(t, dir, name)]; ok {
						durable.names[name] = ino
						durable.contents[ino] = now.contents[ino]
					}
				}
				dir = dir2
			}

			// The next session: reopen, append, Sync. Acknowledged.
			l, err = open(dir, opts, noDataSync, dirSync)
			if err != nil {
				t.Fatal(err)
			}
			l.mu.Lock()
			reused := len(l.segs) >= 2 && l.segs[len(l.segs)-1].end == segHeaderSize
			l.mu.Unlock()
			p := []byte("acknowledged after the reopen")
			lsn := appendT(t, l, p)
			if err := book.add(lsn, p); err != nil {
				t.Fatal(err)
			}
			syncT(t, l)
			book.ack(lsn)
			t.Logf("reopen reused the empty segment: %v; acknowledged lsn %d", reused, lsn)

			// Power loss now: directory entries as of the last directory
			// sync, file contents as they are (all synced).
			img := durable.write(t, listDir(t, dir))
			closeLog(t, l)
			l2, err := Open(img, opts)
			if err != nil {
				t.Fatalf("Open after the power loss: %v", err)
			}
			defer closeLog(t, l2)
			if l2.LastLSN() < lsn {
				t.Fatalf("Sync acknowledged lsn %d; after a power loss the log ends at lsn %d "+
					"(the segment it went into was never named durably)", lsn, l2.LastLSN())
			}
			book.check(t, l2)
		})
	}
}

// inoOf is the inode of dir/name, or 0 if it is not there.
func inoOf(t *testing.T, dir, name string) uint64 {
	fi, err := os.Stat(filepath.Join(dir, name))
	if err != nil {
		return 0
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestLogMaxRecordSize appends a record of exactly MaxRecordSize
// between small ones, reopens and replays it. It writes a GiB, so it runs
// only with FOLIO_WAL_BIG=1.
func TestLogMaxRecordSize(t *testing.T) {
	if os.Getenv("FOLIO_WAL_BIG") == "" {
		t.Skip("writes a GiB; set FOLIO_WAL_BIG=1")
	}
	dir := t.TempDir()
	opts := Options{SegmentSize: 4096, NoCompression: true, noSpares: true}
	l := openLog(t, dir, opts)
	appendT(t, l, []byte("before"))
	big := make([]byte, MaxRecordSize)
	big[0], big[len(big)-1] = 1, 2
	if lsn := appendT(t, l, big); lsn != 2 {
		t.Fatalf("lsn %d", lsn)
	}
	appendT(t, l, []byte("after"))
	closeLog(t, l)
	l = openLog(t, dir, opts)
	defer closeLog(t, l)
	n := 0
	err := l.Replay(1, func(lsn uint64, p []byte) error {
		n++
		if lsn == 2 && (len(p) != MaxRecordSize || p[0] != 1 || p[len(p)-1] != 2) {
			return fmt.Errorf("lsn 2: %d bytes", len(p))
		}
		return nil
	})
	if err != nil || n != 3 || l.LastLSN() != 3 {
		t.Fatalf("replay: %v, %d records, LastLSN %d", err, n, l.LastLSN())
	}
}

// TestLogTruncateRaceTornHeader: as in
// TestLogTruncateRaceRotation, a switch takes the file a Truncate
// has just renamed into the pool, before the Truncate's directory sync.
// A power loss while the new header is being written (not yet synced) may
// leave the file under its old live name, which is still the durable one,
// with the header torn (its bytes garbage, as crash_test.go's powerLoss
// models unsynced writes) and the segment's own old frames behind it.
// Open reads that as a damaged header before the log (ErrCorrupt) and
// refuses the log, though nothing of it was damaged: the file held only
// records the Truncate had dropped.
func TestLogTruncateRaceTornHeader(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 4096, NoCompression: true, MaxFreeSegments: 2, noSpares: true}
	var armed, capture atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	var durable dirListing
	var image string
	var oldest, oldestIno uint64
	dirSync := func(d string) error {
		if armed.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
		if d == dir {
			durable = listDir(t, d)
		}
		return SyncDir(d)
	}
	dataSync := func(f *os.File) error {
		if capture.Load() && image == "" {
			// The switch's header sync, about to run: power loss. The
			// header write (32 bytes at 0) did not make it whole; it
			// matters if the switch took the oldest segment's file.
			image = durable.write(t, listDir(t, dir))
			fi, err := f.Stat()
			if err != nil {
				t.Error(err)
			} else if fi.Sys().(*syscall.Stat_t).Ino == oldestIno {
				patch(t, filepath.Join(image, liveName(oldest)), 0, payload(7, segHeaderSize))
			}
		}
		return fdatasync(f)
	}
	l, err := open(dir, opts, dataSync, dirSync)
	if err != nil {
		t.Fatal(err)
	}
	durable = listDir(t, dir)
	for i := range 14 {
		appendT(t, l, payload(i, 900))
	}
	syncT(t, l)
	acked := l.LastLSN()
	l.mu.Lock()
	oldest, upTo := l.segs[0].num, l.segs[1].first-1
	l.mu.Unlock()
	oldestIno = inodeOf(t, filepath.Join(dir, liveName(oldest)))
	armed.Store(true)
	done := make(chan error, 1)
	go func() { done <- l.Truncate(upTo) }()
	<-entered
	capture.Store(true)
	for i := 0; image == ""; i++ {
		if i == 50 { // a switch comes every four or five records
			close(release)
			<-done
			t.Fatalf("%d records appended and no segment switch synced a header (recovery 2)", i)
		}
		appendT(t, l, payload(100+i, 900))
	}
	capture.Store(false)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	closeLog(t, l)
	l2, err := Open(image, opts)
	if err != nil {
		t.Fatalf("Open after a power loss during a segment switch racing a Truncate: %v", err)
	}
	defer closeLog(t, l2)
	if l2.LastLSN() < acked {
		t.Fatalf("LastLSN %d, acknowledged %d", l2.LastLSN(), acked)
	}
}
