package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foliodb/folio"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newBenchCmd) }

// benchConfig is what folio bench was asked to do.
type benchConfig struct {
	Keys           int           `json:"keys"`
	KeySize        int           `json:"key_size"`
	ValueSize      int           `json:"value_size"`
	Batch          int           `json:"batch"`     // keys per tx, random load; 10× for the sequential load
	SeqBatch       int           `json:"seq_batch"` // derived
	DurableCommits int           `json:"durable_commits"`
	RWTime         time.Duration `json:"rw_time_ns"`
	PageSize       int           `json:"page_size"`
	Seed           uint64        `json:"seed"`
	WAL            bool          `json:"wal"`
	Path           string        `json:"path"`
	GOOS           string        `json:"goos"`
	GOARCH         string        `json:"goarch"`
	CPUs           int           `json:"cpus"`
}

// benchResult is one workload's outcome.
type benchResult struct {
	Name     string  `json:"name"` // W1-seq-load...; the Go benchmark name is BenchmarkFolio/Name
	What     string  `json:"what"`
	Ops      int64   `json:"ops"`
	Unit     string  `json:"unit"` // what an op is: keys, reads, commits
	Seconds  float64 `json:"seconds"`
	OpsPerS  float64 `json:"ops_per_second"`
	MBPerS   float64 `json:"mb_per_second,omitempty"` // key and value bytes moved, 1e6 bytes/MB
	Commits  int     `json:"commits,omitempty"`
	P50Micro float64 `json:"commit_p50_us,omitempty"`
	P99Micro float64 `json:"commit_p99_us,omitempty"`
	// Commits per second during the reads-during-writes workload.
	CommitsPerS float64 `json:"commits_per_second,omitempty"`
	FileSize    int64   `json:"file_size"`
}

type benchJSON struct {
	Config  benchConfig   `json:"config"`
	Results []benchResult `json:"results"`
	Check   string        `json:"check"`
}

func newBenchCmd(a *app) *cobra.Command {
	cfg := benchConfig{}
	var (
		asJSON, gobench, keep bool
		dir                   string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run the built-in benchmark on a temporary database",
		Long: `Bench creates a temporary database and runs, one after the other:

  W1 seq-load     insert --keys keys in key order, 10×--batch per transaction
  W2 rand-load    insert --keys keys in random order, --batch per transaction
  W3 get          random point reads, one read per read transaction
  W3 get-batch    random point reads, --batch reads per read transaction
  W4 scan         a cursor over every key of the sequential load
  W5 durable      --durable-commits transactions of one put each, each synced
  W7 read-write   for --rw-time, one goroutine reading (one read per
                  transaction) while another commits one put at a time, synced

(the numbering of the side-by-side comparison in bench/, whose W6 is
concurrent commits through Batch) and prints one line per workload: what
it did, how many operations, how fast (operations and MB of keys and
values per second), commit latency (p50/p99) where it commits, and the
file size after it. It ends with a full check of the database. Commits are
synced (durable) throughout, as a program would run with default options.

--wal runs the same workloads in WAL mode (Options.WAL): each commit writes
its pages into the file without syncing them, appends one record of it
(its operations, or its page images) to a write-ahead log (the directory
beside the database, bench.db.wal) and syncs only the log:
one sequential sync per commit instead of syncing scattered pages, and
concurrent commits share it. Checkpoints (by log size
or age, and on close) make the file durable and let the log drop its
records. It is meant for small durable commits (W5, W7) and random loads
(W2); reads (W3, W4) go through the file's map as before.

--gobench also prints Go benchmark lines (BenchmarkFolio/W1-seq-load ...),
so runs can be compared with benchstat. The database is removed at the
end unless --keep is given; an interrupted run (SIGINT, SIGTERM) removes
it even then.`,
		Example: `  folio bench
  folio bench --keys 1000000 --value-size 256 --dir /mnt/nvme
  folio bench --wal --keys 200000   # the same, in WAL mode
  for i in $(seq 10); do folio bench --gobench | grep ^Benchmark; done > new.txt
  benchstat old.txt new.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			switch {
			case cfg.Keys < 1:
				return usagef("--keys %d: want at least 1", cfg.Keys)
			case cfg.KeySize < 8 || cfg.KeySize > folio.MaxKeySize:
				// Keys hold an 8-byte counter, so they are unique.
				return usagef("--key-size %d: want 8 to %d", cfg.KeySize, folio.MaxKeySize)
			case cfg.ValueSize < 0 || cfg.ValueSize > 64<<20:
				return usagef("--value-size %d: want 0 to 64 MiB", cfg.ValueSize)
			case cfg.Batch < 1:
				return usagef("--batch %d: want at least 1", cfg.Batch)
			case checkPageSizeFlag(cfg.PageSize) != nil:
				return checkPageSizeFlag(cfg.PageSize)
			case cfg.DurableCommits < 0:
				return usagef("--durable-commits %d: want 0 (skip) or more", cfg.DurableCommits)
			case cfg.RWTime < 0:
				return usagef("--rw-time %v: want 0 (skip) or more", cfg.RWTime)
			case asJSON && gobench:
				return usagef("--json and --gobench both write to standard output: choose one")
			}
			cfg.SeqBatch = 10 * cfg.Batch
			cfg.GOOS, cfg.GOARCH, cfg.CPUs = runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0)
			if cfg.Seed == 0 {
				cfg.Seed = rand.Uint64()
			}
			var tmp string
			cl, err := a.cleanups.track(func() (func(), error) {
				var err error
				if tmp, err = os.MkdirTemp(dir, "folio-bench-"); err != nil {
					return nil, err
				}
				return func() { _ = os.RemoveAll(tmp) }, nil
			})
			if err != nil {
				return benchDirError(dir, err)
			}
			// An interrupted run removes the database, --keep or not.
			defer cl.done(func() error {
				if !keep {
					_ = os.RemoveAll(tmp)
				}
				return nil
			})
			cfg.Path = filepath.Join(tmp, "bench.db")
			out := benchJSON{Config: cfg}
			if !asJSON {
				mode := "synced commits"
				if cfg.WAL {
					mode = "synced commits through the write-ahead log"
				}
				fmt.Fprintf(a.stdout, "folio bench: %d keys of %d bytes, values of %d bytes, %s, %d CPUs, seed %d\n",
					cfg.Keys, cfg.KeySize, cfg.ValueSize, mode, cfg.CPUs, cfg.Seed)
			}
			b := &bencher{a: a, cfg: cfg}
			b.onResult = func(r benchResult) {
				out.Results = append(out.Results, r)
				if !asJSON {
					printBenchLine(a.stdout, r)
				}
			}
			check, err := b.run()
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			out.Check = check
			switch {
			case asJSON:
				return printJSON(a.stdout, out)
			default:
				fmt.Fprintf(a.stdout, "check: %s\n", check)
				if keep {
					fmt.Fprintf(a.stdout, "kept %s\n", cfg.Path)
				}
				if gobench {
					fmt.Fprintln(a.stdout)
					printGoBench(a.stdout, cfg, out.Results)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Keys, "keys", 100000, "keys to load (each load)")
	f.IntVar(&cfg.KeySize, "key-size", 16, "key size in bytes")
	f.IntVar(&cfg.ValueSize, "value-size", 100, "value size in bytes")
	f.IntVar(&cfg.Batch, "batch", 1000, "keys per transaction in the random load and reads per transaction in W3 get-batch; the sequential load uses 10 times as many")
	f.IntVar(&cfg.DurableCommits, "durable-commits", 1000, "synced one-put commits in W5 (0: skip)")
	f.DurationVar(&cfg.RWTime, "rw-time", 3*time.Second, "how long W7 reads while writing (0: skip)")
	f.IntVar(&cfg.PageSize, "page-size", 0, "page size of the database (0: the OS page size)")
	f.Uint64Var(&cfg.Seed, "seed", 0, "random seed (0: a random one, printed)")
	f.BoolVar(&cfg.WAL, "wal", false, "WAL mode: commit by appending to a write-ahead log and syncing it once, checkpointing the file now and then")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	f.BoolVar(&gobench, "gobench", false, "also print Go benchmark lines for benchstat")
	f.StringVar(&dir, "dir", "", "directory for the temporary database (default: the system's temporary directory)")
	f.BoolVar(&keep, "keep", false, "keep the database after the run")
	return cmd
}

// bencher runs the workloads on one database.
type bencher struct {
	a        *app
	cfg      benchConfig
	db       *folio.DB
	rng      *rand.Rand
	value    []byte // values are windows of this random buffer
	onResult func(benchResult)
}

// Bucket names.
var (
	seqBucket  = []byte("seq")
	randBucket = []byte("rand")
	durBucket  = []byte("durable")
	rwBucket   = []byte("rw")
)

// run runs every workload and returns the final check's summary.
func (b *bencher) run() (check string, err error) {
	b.rng = rand.New(rand.NewPCG(b.cfg.Seed, 0x666f6c696f))
	// Random bytes, so the file holds what real data would, not zeros a
	// file system might compress; twice the value size so values differ.
	b.value = make([]byte, 2*b.cfg.ValueSize+64)
	for i := range b.value {
		b.value[i] = byte(b.rng.Uint32())
	}
	b.db, err = folio.Open(b.cfg.Path, 0o600, &folio.Options{PageSize: b.cfg.PageSize, WAL: b.cfg.WAL})
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := b.db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	steps := []func() error{b.seqLoad, b.randLoad, b.getOnePerTx, b.getBatch, b.scan}
	if b.cfg.DurableCommits > 0 {
		steps = append(steps, b.durable)
	}
	if b.cfg.RWTime > 0 {
		steps = append(steps, b.readWrite)
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return "", err
		}
	}
	return b.check()
}

// key writes the key of counter i into k: its 8-byte big-endian form at
// the front (so key order is counter order), zero padding after.
func (b *bencher) key(k []byte, i uint64) []byte {
	k = k[:b.cfg.KeySize]
	clear(k)
	binary.BigEndian.PutUint64(k, i)
	return k
}

// randCounter scrambles i: multiplying by an odd constant is a bijection
// on 64-bit integers, so the random load's keys are distinct and land all
// over the key space, without a table of them.
func randCounter(i uint64) uint64 { return i * 0x9e3779b97f4a7c15 }

func (b *bencher) valueFor(i uint64) []byte {
	off := int(i % 64)
	return b.value[off : off+b.cfg.ValueSize]
}

func (b *bencher) fileSize() int64 {
	fi, err := os.Stat(b.cfg.Path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (b *bencher) kvBytes(n int64) int64 { return n * int64(b.cfg.KeySize+b.cfg.ValueSize) }

// result fills in the rates and file size and reports r.
func (b *bencher) result(r benchResult, el time.Duration, bytes int64, lat []time.Duration) {
	r.Seconds = el.Seconds()
	if r.Seconds > 0 {
		r.OpsPerS = float64(r.Ops) / r.Seconds
		if bytes > 0 {
			r.MBPerS = float64(bytes) / 1e6 / r.Seconds
		}
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		r.Commits = len(lat)
		r.P50Micro = float64(lat[len(lat)*50/100]) / 1e3
		r.P99Micro = float64(lat[min(len(lat)-1, len(lat)*99/100)]) / 1e3
	}
	r.FileSize = b.fileSize()
	b.onResult(r)
}

// load inserts keys counter(0..n) into bucket, per keys per transaction.
func (b *bencher) load(name string, bucket []byte, per int, counter func(uint64) uint64, what string) error {
	n := b.cfg.Keys
	if err := b.db.Update(func(tx *folio.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	prog := newProgress(b.a, int64(n), name)
	defer prog.Done()
	k := make([]byte, b.cfg.KeySize)
	var lat []time.Duration
	start := time.Now()
	for lo := 0; lo < n; lo += per {
		hi := min(lo+per, n)
		t0 := time.Now()
		err := b.db.Update(func(tx *folio.Tx) error {
			bk := tx.Bucket(bucket)
			for i := lo; i < hi; i++ {
				c := counter(uint64(i))
				if err := bk.Put(b.key(k, c), b.valueFor(c)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		lat = append(lat, time.Since(t0))
		prog.Add(int64(hi - lo))
	}
	el := time.Since(start)
	prog.Done() // erase the bar first: stdout may be the same terminal
	b.result(benchResult{Name: name, What: what, Ops: int64(n), Unit: "keys"}, el, b.kvBytes(int64(n)), lat)
	return nil
}

func (b *bencher) seqLoad() error {
	return b.load("W1-seq-load", seqBucket, b.cfg.SeqBatch, func(i uint64) uint64 { return i },
		fmt.Sprintf("insert in key order, %d per tx", b.cfg.SeqBatch))
}

func (b *bencher) randLoad() error {
	return b.load("W2-rand-load", randBucket, b.cfg.Batch, randCounter,
		fmt.Sprintf("insert in random order, %d per tx", b.cfg.Batch))
}

// errMissing means a read did not find a key the loads wrote.
var errMissing = errors.New("a loaded key was not found")

// reads does n random point reads of the random load's keys, per reads
// per read transaction.
func (b *bencher) reads(name string, n, per int, what string) error {
	prog := newProgress(b.a, int64(n), name)
	defer prog.Done()
	k := make([]byte, b.cfg.KeySize)
	start := time.Now()
	for done := 0; done < n; done += per {
		m := min(per, n-done)
		err := b.db.View(func(tx *folio.Tx) error {
			bk := tx.Bucket(randBucket)
			for range m {
				c := randCounter(b.rng.Uint64N(uint64(b.cfg.Keys)))
				if v := bk.Get(b.key(k, c)); len(v) != b.cfg.ValueSize {
					return fmt.Errorf("%w: key %x (got %d bytes)", errMissing, k, len(v))
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		prog.Add(int64(m))
	}
	el := time.Since(start)
	prog.Done() // erase the bar first: stdout may be the same terminal
	b.result(benchResult{Name: name, What: what, Ops: int64(n), Unit: "reads"}, el, b.kvBytes(int64(n)), nil)
	return nil
}

func (b *bencher) getOnePerTx() error {
	return b.reads("W3-get", b.cfg.Keys, 1, "random point reads, 1 per tx")
}

func (b *bencher) getBatch() error {
	return b.reads("W3-get-batch", b.cfg.Keys, b.cfg.Batch, fmt.Sprintf("random point reads, %d per tx", b.cfg.Batch))
}

func (b *bencher) scan() error {
	const name = "W4-scan"
	prog := newProgress(b.a, int64(b.cfg.Keys), name)
	defer prog.Done()
	var n, size int64
	start := time.Now()
	err := b.db.View(func(tx *folio.Tx) error {
		c := tx.Bucket(seqBucket).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			n++
			size += int64(len(k) + len(v))
			if n%4096 == 0 {
				prog.Add(4096)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if n != int64(b.cfg.Keys) {
		return fmt.Errorf("%s: scanned %d keys, loaded %d", name, n, b.cfg.Keys)
	}
	el := time.Since(start)
	prog.Done() // erase the bar first: stdout may be the same terminal
	b.result(benchResult{Name: name, What: "cursor over the W1 keys, 1 read tx", Ops: n, Unit: "keys"}, el, size, nil)
	return nil
}

func (b *bencher) durable() error {
	const name = "W5-durable"
	n := b.cfg.DurableCommits
	prog := newProgress(b.a, int64(n), name)
	defer prog.Done()
	if err := b.db.Update(func(tx *folio.Tx) error {
		_, err := tx.CreateBucketIfNotExists(durBucket)
		return err
	}); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	k := make([]byte, b.cfg.KeySize)
	lat := make([]time.Duration, 0, n)
	start := time.Now()
	for i := range n {
		t0 := time.Now()
		err := b.db.Update(func(tx *folio.Tx) error {
			return tx.Bucket(durBucket).Put(b.key(k, uint64(i)), b.valueFor(uint64(i)))
		})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		lat = append(lat, time.Since(t0))
		prog.Add(1)
	}
	el := time.Since(start)
	prog.Done() // erase the bar first: stdout may be the same terminal
	b.result(benchResult{Name: name, What: "1 put per tx", Ops: int64(n), Unit: "commits"}, el, b.kvBytes(int64(n)), lat)
	return nil
}

// readWrite reads (one read per transaction) in one goroutine while this
// one commits single puts, for cfg.RWTime. It reports reads; the commits
// go in CommitsPerS and the latencies.
func (b *bencher) readWrite() error {
	const name = "W7-read-write"
	if err := b.db.Update(func(tx *folio.Tx) error {
		_, err := tx.CreateBucketIfNotExists(rwBucket)
		return err
	}); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	var (
		stop    atomic.Bool
		reads   int64
		readErr error
		wg      sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Its own generator: b.rng belongs to this goroutine.
		rng := rand.New(rand.NewPCG(b.cfg.Seed, 7))
		k := make([]byte, b.cfg.KeySize)
		for !stop.Load() {
			err := b.db.View(func(tx *folio.Tx) error {
				c := randCounter(rng.Uint64N(uint64(b.cfg.Keys)))
				if v := tx.Bucket(randBucket).Get(b.key(k, c)); len(v) != b.cfg.ValueSize {
					return fmt.Errorf("%w: key %x", errMissing, k)
				}
				return nil
			})
			if err != nil {
				readErr = err
				return
			}
			reads++
		}
	}()
	k := make([]byte, b.cfg.KeySize)
	var lat []time.Duration
	var werr error
	start := time.Now()
	for i := uint64(0); time.Since(start) < b.cfg.RWTime && werr == nil; i++ {
		t0 := time.Now()
		werr = b.db.Update(func(tx *folio.Tx) error {
			return tx.Bucket(rwBucket).Put(b.key(k, i), b.valueFor(i))
		})
		lat = append(lat, time.Since(t0))
	}
	stop.Store(true)
	wg.Wait()
	el := time.Since(start)
	if err := errors.Join(werr, readErr); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	r := benchResult{
		Name: name, Ops: reads, Unit: "reads",
		What: fmt.Sprintf("reads, 1 per tx, during %d 1-put commits", len(lat)),
	}
	if s := el.Seconds(); s > 0 {
		r.CommitsPerS = float64(len(lat)) / s
	}
	b.result(r, el, b.kvBytes(reads), lat)
	return nil
}

// check runs Tx.Check over the whole database.
func (b *bencher) check() (string, error) {
	res, err := checkDB(b.db, b.cfg.Path)
	if err != nil {
		return "", err
	}
	if !res.OK {
		return "", fmt.Errorf("check found %d problems, the first: %w", len(res.Problems), res.Problems[0].cause())
	}
	return fmt.Sprintf("ok (%d pages, %s, txid %d)", *res.Pages, keysInBuckets(*res.Keys, "in", *res.Buckets), *res.TxID), nil
}

// printBenchLine prints one workload's line. Fixed widths rather than a
// tabwriter: each line is printed as its workload ends, so a slow run
// shows progress, and a tabwriter aligns only what it holds at once.
func printBenchLine(w io.Writer, r benchResult) {
	rate := fmt.Sprintf("%s %s/s", si(r.OpsPerS), r.Unit)
	mb := ""
	if r.MBPerS > 0 {
		mb = fmt.Sprintf("%.1f MB/s", r.MBPerS)
	}
	lat := ""
	if r.Commits > 0 {
		lat = fmt.Sprintf("commit p50 %s p99 %s", micros(r.P50Micro), micros(r.P99Micro))
		if r.CommitsPerS > 0 {
			lat = fmt.Sprintf("%s commits/s, %s", si(r.CommitsPerS), lat)
		}
	}
	el := shortDuration(time.Duration(r.Seconds * 1e9))
	fmt.Fprintf(w, "%-14s %-14s %-44s %8s %17s %12s  %-44s file %s\n", r.Name, fmt.Sprintf("%d %s", r.Ops, r.Unit), r.What,
		el, rate, mb, lat, humanBytes(r.FileSize))
}

// micros shows a latency given in microseconds.
func micros(us float64) string { return shortDuration(time.Duration(us * 1e3)) }

// shortDuration shows d to about three significant digits.
func shortDuration(d time.Duration) string {
	switch {
	case d >= 100*time.Second:
		return d.Round(time.Second).String()
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// printGoBench writes the results in Go's benchmark format: one op is one
// key, read or commit, as the result's unit says.
func printGoBench(w io.Writer, cfg benchConfig, rs []benchResult) {
	fmt.Fprintf(w, "goos: %s\ngoarch: %s\npkg: github.com/foliodb/folio/cmd/folio\n", cfg.GOOS, cfg.GOARCH)
	for _, r := range rs {
		if r.Ops == 0 {
			continue
		}
		fmt.Fprintf(w, "BenchmarkFolio/%s\t%d\t%.0f ns/op\t%.4g %s/s", r.Name, r.Ops, r.Seconds*1e9/float64(r.Ops), r.OpsPerS, r.Unit)
		if r.MBPerS > 0 {
			fmt.Fprintf(w, "\t%.2f MB/s", r.MBPerS)
		}
		if r.Commits > 0 {
			fmt.Fprintf(w, "\t%.0f commit-p50-ns\t%.0f commit-p99-ns", r.P50Micro*1e3, r.P99Micro*1e3)
		}
		if r.CommitsPerS > 0 {
			fmt.Fprintf(w, "\t%.4g commits/s", r.CommitsPerS)
		}
		fmt.Fprintln(w)
	}
}

// benchDirError is err, the failure to make bench's directory in dir
// (--dir), said of dir: MkdirTemp's error names the directory it tried
// to make, which the user never gave.
func benchDirError(dir string, err error) error {
	if dir == "" {
		return fmt.Errorf("bench: temporary directory: %w", err)
	}
	switch fi, serr := os.Stat(dir); {
	case errors.Is(serr, fs.ErrNotExist):
		return fmt.Errorf("bench: --dir %s: no such directory", dir)
	case serr == nil && !fi.IsDir():
		return fmt.Errorf("bench: --dir %s: a file, not a directory", dir)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("bench: --dir %s: cannot make the database there: %w", dir, err)
}
