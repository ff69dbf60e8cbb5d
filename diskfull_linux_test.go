//go:build linux

package folio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/foliodb/folio/tx"
	"github.com/foliodb/folio/wal"
	"golang.org/x/sys/unix"
)

// Disk-full tests without a full disk: the test binary, re-run as a
// child, commits under a file size limit (RLIMIT_FSIZE, with SIGXFSZ
// ignored), so growing a file past the limit (fallocate) or writing past
// it (pwrite) fails with EFBIG, as a full disk fails with ENOSPC, and no
// file system need be mounted. The child checks each failure where it
// happens: the error is EFBIG (errors.Is) and not ErrSyncFailed, the DB
// holds what it held, and later commits work, at once or once the limit
// is raised (space freed). It prints "ack N K" for each commit that
// returned nil. The parent then reopens the file, without a limit, and
// checks that it holds exactly the acknowledged commits.
//
// On a real full disk (tried by hand on a small tmpfs and a loop-mounted
// ext4) the same commits fail the same way, with ENOSPC.

const (
	diskFullEnv      = "FOLIO_DISKFULL_CHILD"
	diskFullPageSize = 1024
	// diskFullLimit is between two steps of a growing file (a little
	// over 1 MiB, then over 2 MiB): a file that grows only in steps stops
	// at the first.
	diskFullLimit = 3 << 19
	// diskFullSegment is the log's segment size in WAL mode. Writes at
	// offsets past the limit fail in any file, so the log's segments
	// must be smaller than the limit (Open's are 8 MiB).
	diskFullSegment = 64 << 10
	// segLimit is the limit of the "walseg" child: bigger than a
	// segment, smaller than the segment its big records need.
	segLimit = 1 << 20
)

// fullPut is a put into a top-level bucket.
type fullPut struct {
	bucket, key string
	val         []byte
}

// fullTxn is transaction n of the disk-full tests, of a kind, drawn from
// (seed, n) alone, so that the parent can rebuild it from the child's
// acknowledgement:
//
//	'w' the crash tests' transaction n (it sets the marker), plus 1-3
//	    puts of 200 bytes to 40 KiB into bucket "fill", under keys of
//	    its own
//	'f' those puts alone: Batch callers commit these, in an order no one
//	    sees, so none touches a key another one does
//	's' one put of 1-2 KiB under a key of its own
//	'b' twelve puts of 96 KiB to one key: a logical record (1.1 MiB) too
//	    big for a segment under segLimit, while the file takes one value
func fullTxn(seed uint64, n int, kind byte) ([]workOp, []fullPut) {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	binary.LittleEndian.PutUint64(key[8:], uint64(n))
	src := rand.NewChaCha8(key) // the values: incompressible, and quick to make under -race
	rng := rand.New(src)
	val := func(size int) []byte {
		v := make([]byte, size)
		_, _ = src.Read(v)
		return v
	}
	var work []workOp
	var puts []fullPut
	switch kind {
	case 'w':
		work = workTxn(seed, n, diskFullPageSize)
		fallthrough
	case 'f':
		for i := range 1 + rng.IntN(3) {
			size := 200 + rng.IntN(4000)
			if rng.IntN(3) == 0 {
				size = 8<<10 + rng.IntN(32<<10)
			}
			puts = append(puts, fullPut{"fill", fmt.Sprintf("f%06d-%d", n, i), val(size)})
		}
	case 's':
		puts = append(puts, fullPut{"small", fmt.Sprintf("s%06d", n), val(1024 + rng.IntN(1024))})
	case 'b':
		for range 12 {
			puts = append(puts, fullPut{"big", "v", val(96 << 10)})
		}
	}
	return work, puts
}

func applyFull(tx *Tx, n int, work []workOp, puts []fullPut) error {
	if work != nil {
		if err := applyTxn(tx, n, work); err != nil {
			return err
		}
	}
	for _, p := range puts {
		b, err := tx.CreateBucketIfNotExists([]byte(p.bucket))
		if err != nil {
			return err
		}
		if err := b.Put([]byte(p.key), p.val); err != nil {
			return err
		}
	}
	return nil
}

func modelFull(m *mbucket, n int, work []workOp, puts []fullPut) {
	if work != nil {
		applyModel(m, n, work)
	}
	for _, p := range puts {
		lookupModel(m, []string{p.bucket}, true).kv[p.key] = string(p.val)
	}
}

// fullChild is the child's side: its DB, its model and the limit.
type fullChild struct {
	t     *testing.T
	db    *DB
	path  string
	seed  uint64
	hard  uint64 // the hard limit, which a raised soft limit goes back to
	mu    sync.Mutex
	model *mbucket
	n     int // the last transaction number taken
	acks  int // commits acknowledged, all phases
	fails int // failed commits, all phases
}

func (c *fullChild) limit(n uint64) {
	c.t.Helper()
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: min(n, c.hard), Max: c.hard}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *fullChild) next() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

// commit runs transaction n of kind in Update, or in Batch, and reports
// it: "ack", or "fail" after checking the error is the limit's.
func (c *fullChild) commit(n int, kind byte, batch bool) error {
	work, puts := fullTxn(c.seed, n, kind)
	run := c.db.Update
	if batch {
		run = c.db.Batch
	}
	err := run(func(tx *Tx) error { return applyFull(tx, n, work, puts) })
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.acks++
		modelFull(c.model, n, work, puts)
		// One write, so the parent never reads half a line.
		if _, werr := fmt.Fprintf(os.Stdout, "ack %d %c\n", n, kind); werr != nil {
			c.t.Error(werr)
		}
		return nil
	}
	c.fails++
	if !errors.Is(err, syscall.EFBIG) || errors.Is(err, ErrSyncFailed) {
		c.t.Errorf("commit %d (%c) past the file size limit: %v; want EFBIG, and not ErrSyncFailed", n, kind, err)
	}
	fmt.Fprintf(os.Stdout, "fail %d %c: %v\n", n, kind, err)
	return err
}

// unchanged checks that the DB holds the model: a failed commit changed
// nothing, and reads work.
func (c *fullChild) unchanged(where string) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.db.View(func(tx *Tx) error { return diffDB(tx, c.model) }); err != nil {
		c.t.Fatalf("%s: %v", where, err)
	}
}

func (c *fullChild) mustCommit(kind byte, where string) {
	c.t.Helper()
	if err := c.commit(c.next(), kind, false); err != nil {
		c.t.Fatalf("%s: %v", where, err)
	}
}

// runFill is the child of modes direct and wal.
func (c *fullChild) runFill() {
	t := c.t
	// Update until three commits failed at the limit; smaller ones may
	// fit in between.
	c.limit(diskFullLimit)
	for c.fails < 3 {
		if c.n > 5000 {
			t.Fatal("no commit failed under the file size limit")
		}
		if c.commit(c.next(), 'w', false) != nil {
			c.unchanged("after a commit failed at the limit")
		}
	}
	// The commits filled the room up to the limit (less a transaction,
	// of at most ~160 KiB), not up to a growth step below it.
	fi, err := os.Stat(c.path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() < diskFullLimit-256<<10 {
		t.Fatalf("the file stopped at %d bytes, limit %d", fi.Size(), diskFullLimit)
	}

	// Space freed: commits work again, and the file grows past the old
	// limit, by a step.
	c.limit(unix.RLIM_INFINITY)
	for range 5 {
		c.mustCommit('w', "commit once the limit is raised")
	}

	// A limit a little past the used pages, below the file's end: pages
	// allocated past it fail to be written (pwrite), not to be grown
	// into. Batch callers, four at a time.
	in, err := c.db.Info()
	if err != nil {
		t.Fatal(err)
	}
	c.limit(uint64(in.HighPage)*diskFullPageSize + 192<<10)
	fails, acks := c.fails, c.acks
	for round := 0; c.fails < fails+3; round++ {
		if round > 500 {
			t.Fatal("no batch failed under the file size limit")
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { _ = c.commit(c.next(), 'f', true) })
		}
		wg.Wait()
		c.unchanged("after a batch round")
	}
	if c.acks == acks {
		t.Fatal("no batch committed under the limit")
	}

	c.limit(unix.RLIM_INFINITY)
	c.mustCommit('w', "commit once the limit is raised again")
	c.limit(diskFullLimit) // for Close, in the closing children
}

// runSegments is the child of mode walseg: a logged commit whose record
// needs a new segment too big for the limit fails alone, and the log
// goes on. Before, the log refused every later append and the DB every
// later write (ErrSyncFailed) until reopened.
func (c *fullChild) runSegments() {
	t := c.t
	c.db.WALImageLimit = -1 // records hold operations: 'b' logs 1.1 MiB
	c.limit(segLimit)
	for round := range 3 {
		for range 20 {
			c.mustCommit('s', "small commit")
		}
		err := c.commit(c.next(), 'b', false)
		if !errors.Is(err, wal.ErrNotAppended) {
			t.Fatalf("round %d: commit of a record too big for a segment under the limit: %v, want wal.ErrNotAppended", round, err)
		}
		c.unchanged("after the failed append")
	}
	c.limit(unix.RLIM_INFINITY)
	c.mustCommit('b', "big commit once the limit is raised")
	c.mustCommit('s', "small commit after it")
	c.limit(segLimit)
}

// openFullChild opens the child's database: in WAL mode with the log's
// segments of size seg, as Open would with its own (8 MiB).
func openFullChild(path string, opts *Options, seg int64) (*DB, error) {
	if !opts.WAL {
		return Open(path, 0o600, opts)
	}
	f, _, err := openFileUntil(path, 0o600, opts, openDeadline(opts))
	if err != nil {
		return nil, err
	}
	st := openFileStorage(f, false, false, 0)
	lg, err := wal.Open(LogDir(path), wal.Options{SegmentSize: seg})
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	db, err := tx.OpenWithLog(path, st, lg, opts)
	if err != nil {
		_ = lg.Close()
		_ = st.Close()
		return nil, err
	}
	return db, nil
}

// TestDiskFullChild is the child of TestDiskFull; it runs only when that
// test starts it, with FOLIO_DISKFULL_CHILD naming the database and
// _MODE (direct, wal, walseg), _SEED and _CLOSE set.
func TestDiskFullChild(t *testing.T) {
	path := os.Getenv(diskFullEnv)
	if path == "" {
		t.Skip("the child of TestDiskFull; runs only when it starts it")
	}
	mode := os.Getenv(diskFullEnv + "_MODE")
	seed, err := strconv.ParseUint(os.Getenv(diskFullEnv+"_SEED"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	// NB: otherwise the first write past the limit kills the process.
	signal.Ignore(syscall.SIGXFSZ)
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Max < 16<<20 {
		t.Skipf("the hard file size limit is %d bytes", rl.Max)
	}
	db, err := openFullChild(path, &Options{PageSize: diskFullPageSize, WAL: mode != "direct"}, diskFullSegment)
	if err != nil {
		t.Fatal(err)
	}
	c := &fullChild{t: t, db: db, path: path, seed: seed, hard: rl.Max, model: newMBucket()}
	if mode == "walseg" {
		c.runSegments()
	} else {
		c.runFill()
	}
	if os.Getenv(diskFullEnv+"_CLOSE") != "1" {
		return // the process ends with the DB open, as if killed
	}
	// Under the limit: in WAL mode the checkpoint may not fit, and then
	// the log keeps the commits.
	err = db.Close()
	if err != nil && !errors.Is(err, syscall.EFBIG) {
		t.Errorf("close: %v", err)
	}
	fmt.Fprintf(os.Stdout, "closed: %v\n", err)
}

// TestDiskFull runs TestDiskFullChild in each mode, closing the database
// at the end or not, then reopens the file and checks that it holds
// exactly the commits the child acknowledged.
func TestDiskFull(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	seed := testSeed(t)
	for _, mode := range []string{"direct", "wal", "walseg"} {
		for _, closing := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/close=%v", mode, closing), func(t *testing.T) {
				t.Parallel()
				runDiskFullChild(t, exe, mode, closing, seed)
			})
		}
	}
}

func runDiskFullChild(t *testing.T, exe, mode string, closing bool, seed uint64) {
	path := filepath.Join(t.TempDir(), "full.db")
	cmd := exec.Command(exe, "-test.run=^TestDiskFullChild$", "-test.count=1", "-test.v")
	closeEnv := diskFullEnv + "_CLOSE="
	if closing {
		closeEnv += "1"
	}
	cmd.Env = append(os.Environ(), diskFullEnv+"="+path, diskFullEnv+"_MODE="+mode,
		diskFullEnv+"_SEED="+strconv.FormatUint(seed, 10), closeEnv,
		// A race-enabled child otherwise sleeps a second as it exits.
		"GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err == nil && strings.Contains(string(out), "--- SKIP: TestDiskFullChild") {
		t.Skipf("the child skipped:\n%s", lastLines(string(out), 5))
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestDiskFullChild") {
		t.Fatalf("child: %v\n%s\n%s", err, lastLines(string(out), 40), stderr.String())
	}

	m := newMBucket()
	acks, fails := 0, 0
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "fail ") {
			fails++
			continue
		}
		var n int
		var kind byte
		if _, err := fmt.Sscanf(line, "ack %d %c", &n, &kind); err != nil {
			continue
		}
		acks++
		work, puts := fullTxn(seed, n, kind)
		modelFull(m, n, work, puts)
	}
	if fails == 0 || acks == 0 {
		t.Fatalf("the child acknowledged %d commits and saw %d fail", acks, fails)
	}
	db, err := Open(path, 0o600, &Options{WAL: mode != "direct", VerifyChecksums: true})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	for _, err := range checkErrs(db) {
		t.Errorf("check: %v", err)
	}
	if err := db.View(func(tx *Tx) error { return diffDB(tx, m) }); err != nil {
		t.Fatalf("the file does not hold exactly the %d acknowledged commits: %v", acks, err)
	}
	t.Logf("%d commits acknowledged, %d failed at the limit", acks, fails)
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
