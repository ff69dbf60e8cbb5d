package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"
)

// config is what a child process needs to run one workload.
type config struct {
	keys       int           // size of the data set
	valSize    int           // bytes per value
	seqTx      int           // W1 keys per transaction
	randTx     int           // W2 keys per transaction
	dataSet    string        // the load whose database W3-W7 use: W1 or W2
	reads      int           // W3 gets per measurement
	getTx      int           // W3 gets per read transaction (batched case)
	commits    int           // W5 and W6 transactions
	writers    int           // W6 goroutines
	w7         time.Duration // W7 duration
	minScan    time.Duration // W4 scans repeat for at least this long
	cpuprofile string        // write a CPU profile of the timed part here
}

// metrics are one workload's figures, named as in the rows table.
type metrics map[string]float64

// workload runs against an open engine whose database is at path.
type workload struct {
	name  string
	about string
	fresh bool // needs an empty database (else: the data set, W2's by default)
	run   func(e Engine, c *config) (metrics, error)
}

var workloads = []workload{
	{"W1", "sequential load", true, runW1},
	{"W2", "random load", true, runW2},
	{"W3", "random point reads", false, runW3},
	{"W4", "full scan", false, runW4},
	{"W5", "small durable commits", false, runW5},
	{"W6", "concurrent small commits", false, runW6},
	{"W7", "reads during writes", false, runW7},
}

func findWorkload(name string) (workload, bool) {
	for _, w := range workloads {
		if w.name == name {
			return w, true
		}
	}
	return workload{}, false
}

// profile starts a CPU profile of the timed part if one was asked for;
// the returned function stops it.
func (c *config) profile() func() {
	if c.cpuprofile == "" {
		return func() {}
	}
	f, err := os.Create(c.cpuprofile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cpuprofile:", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "cpuprofile:", err)
		_ = f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

// load puts keys order(0..n-1) in transactions of perTx; only the
// transactions themselves are timed, not making the values.
func load(e Engine, c *config, perTx int, order func(int) int) (time.Duration, error) {
	ks := newKeyset(c.keys)
	s := newSlab(perTx, c.valSize, 1)
	var total time.Duration
	stop := c.profile()
	defer stop()
	for start := 0; start < c.keys; start += perTx {
		m := min(perTx, c.keys-start)
		for j := range m {
			ks.key(s.keys[j], order(start+j))
		}
		s.fillValues(m)
		t0 := time.Now()
		if err := e.PutTx(s.keys[:m], s.vals[:m]); err != nil {
			return 0, err
		}
		total += time.Since(t0)
	}
	return total, nil
}

func loadMetrics(e Engine, c *config, prefix string, d time.Duration) (metrics, error) {
	file, used, err := e.Sizes()
	if err != nil {
		return nil, err
	}
	m := metrics{
		prefix + ".keys_s":  float64(c.keys) / d.Seconds(),
		prefix + ".file_mb": float64(file) / (1 << 20),
		prefix + ".used_mb": float64(used) / (1 << 20),
	}
	if ls, ok := e.(logSizer); ok {
		n, err := ls.LogSize()
		if err != nil {
			return nil, err
		}
		if n > 0 {
			m[prefix+".log_mb"] = float64(n) / (1 << 20)
		}
	}
	return m, nil
}

// W1: keys ascending, c.seqTx per transaction.
func runW1(e Engine, c *config) (metrics, error) {
	d, err := load(e, c, c.seqTx, func(i int) int { return i })
	if err != nil {
		return nil, err
	}
	return loadMetrics(e, c, "w1", d)
}

// randomOrder is a random permutation of [0, n), the same in every process.
func randomOrder(n int) []uint32 {
	p := make([]uint32, n)
	for i := range p {
		p[i] = uint32(i)
	}
	r := rand.New(rand.NewPCG(seed, 2))
	r.Shuffle(n, func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p
}

// W2: the same keys in random order, c.randTx per transaction. Its
// database is the data set the later workloads read and write.
func runW2(e Engine, c *config) (metrics, error) {
	perm := randomOrder(c.keys)
	d, err := load(e, c, c.randTx, func(i int) int { return int(perm[i]) })
	if err != nil {
		return nil, err
	}
	return loadMetrics(e, c, "w2", d)
}

// warm walks the whole data set once, untimed, so that every engine's
// mapping is faulted in before a read workload is timed (the file is in
// the page cache already: the load wrote it). It checks the count too.
func warm(e Engine, c *config) error {
	n, _, err := e.Scan()
	if err != nil {
		return err
	}
	if n < c.keys {
		return fmt.Errorf("data set has %d keys, want at least %d", n, c.keys)
	}
	return nil
}

// getters runs c.reads single-get read transactions on g goroutines,
// each getting existing keys at random, and returns gets per second.
func getters(e Engine, c *config, g int) (float64, error) {
	ks := newKeyset(c.keys)
	var wg sync.WaitGroup
	var failed atomic.Value
	per := c.reads / g
	t0 := time.Now()
	for w := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(100+w)))
			var k [keySize]byte
			for range per {
				ks.key(k[:], r.IntN(c.keys))
				found, err := e.Get1(k[:])
				if err == nil && !found {
					err = fmt.Errorf("key %x not found", k)
				}
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	if err, _ := failed.Load().(error); err != nil {
		return 0, err
	}
	return float64(per*g) / d.Seconds(), nil
}

// W3: random point reads of existing keys: one get per read transaction
// on one and on two goroutines, and c.getTx gets per transaction.
func runW3(e Engine, c *config) (metrics, error) {
	if err := warm(e, c); err != nil {
		return nil, err
	}
	stop := c.profile()
	defer stop()
	m := metrics{}
	var err error
	if m["w3.get1_s"], err = getters(e, c, 1); err != nil {
		return nil, err
	}
	if m["w3.get1_2g_s"], err = getters(e, c, 2); err != nil {
		return nil, err
	}
	m["w3.scale_2g"] = m["w3.get1_2g_s"] / m["w3.get1_s"]

	ks := newKeyset(c.keys)
	r := rand.New(rand.NewPCG(seed, 3))
	s := newSlab(c.getTx, 0, 3)
	var total time.Duration
	done := 0
	for done < c.reads {
		n := min(c.getTx, c.reads-done)
		for j := range n {
			ks.key(s.keys[j], r.IntN(c.keys))
		}
		t0 := time.Now()
		found, err := e.GetTx(s.keys[:n])
		total += time.Since(t0)
		if err != nil {
			return nil, err
		}
		if found != n {
			return nil, fmt.Errorf("found %d of %d keys", found, n)
		}
		done += n
	}
	m["w3.gettx_s"] = float64(done) / total.Seconds()
	return m, nil
}

// W4: full scans with a cursor, repeated for at least c.minScan (and at
// least three times), so one scan's timer noise does not decide it.
func runW4(e Engine, c *config) (metrics, error) {
	if err := warm(e, c); err != nil {
		return nil, err
	}
	stop := c.profile()
	defer stop()
	var keys int
	t0 := time.Now()
	for i := 0; i < 3 || time.Since(t0) < c.minScan; i++ {
		n, _, err := e.Scan()
		if err != nil {
			return nil, err
		}
		keys += n
	}
	return metrics{"w4.keys_s": float64(keys) / time.Since(t0).Seconds()}, nil
}

// W5: c.commits durable transactions of one put of a new key each.
func runW5(e Engine, c *config) (metrics, error) {
	s := newSlab(1, c.valSize, 5)
	var h hist
	var total time.Duration
	stop := c.profile()
	defer stop()
	for j := range c.commits {
		freshKey(s.keys[0], 5, j)
		s.fillValues(1)
		t0 := time.Now()
		if err := e.PutTx(s.keys[:1], s.vals[:1]); err != nil {
			return nil, err
		}
		d := time.Since(t0)
		total += d
		h.add(d)
	}
	return metrics{
		"w5.txn_s":  float64(c.commits) / total.Seconds(),
		"w5.p50_ms": ms(h.quantile(0.50)),
		"w5.p99_ms": ms(h.quantile(0.99)),
	}, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// W6: c.writers goroutines make c.commits single-put durable
// transactions in all, through each engine's BatchPut.
func runW6(e Engine, c *config) (metrics, error) {
	var wg sync.WaitGroup
	var failed atomic.Value
	hs := make([]hist, c.writers)
	stop := c.profile()
	defer stop()
	t0 := time.Now()
	for w := range c.writers {
		// Spread c.commits over the writers, the first ones taking the rest.
		n := c.commits / c.writers
		if w < c.commits%c.writers {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newSlab(1, c.valSize, uint64(600+w))
			for j := range n {
				freshKey(s.keys[0], 600+w, j)
				s.fillValues(1)
				t := time.Now()
				if err := e.BatchPut(s.keys[0], s.vals[0]); err != nil {
					failed.Store(err)
					return
				}
				hs[w].add(time.Since(t))
			}
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	if err, _ := failed.Load().(error); err != nil {
		return nil, err
	}
	var h hist
	for i := range hs {
		h.merge(&hs[i])
	}
	return metrics{
		"w6.txn_s":  float64(h.n) / d.Seconds(),
		"w6.p50_ms": ms(h.quantile(0.50)),
		"w6.p99_ms": ms(h.quantile(0.99)),
	}, nil
}

// W7: one goroutine gets existing keys at random, one read transaction
// each, while another makes W5's commits, for c.w7.
func runW7(e Engine, c *config) (metrics, error) {
	if err := warm(e, c); err != nil {
		return nil, err
	}
	ks := newKeyset(c.keys)
	var rh hist
	var reads int
	var stopReads atomic.Bool
	var rerr error
	var wg sync.WaitGroup
	stop := c.profile()
	defer stop()
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(seed, 7))
		var k [keySize]byte
		for !stopReads.Load() {
			ks.key(k[:], r.IntN(c.keys))
			t := time.Now()
			found, err := e.Get1(k[:])
			rh.add(time.Since(t))
			if err == nil && !found {
				err = fmt.Errorf("key %x not found", k)
			}
			if err != nil {
				rerr = err
				return
			}
			reads++
		}
	}()
	s := newSlab(1, c.valSize, 7)
	writes := 0
	t0 := time.Now()
	var werr error
	for time.Since(t0) < c.w7 {
		freshKey(s.keys[0], 7, writes)
		s.fillValues(1)
		if werr = e.PutTx(s.keys[:1], s.vals[:1]); werr != nil {
			break
		}
		writes++
	}
	d := time.Since(t0)
	stopReads.Store(true)
	wg.Wait()
	if werr != nil {
		return nil, werr
	}
	if rerr != nil {
		return nil, rerr
	}
	return metrics{
		"w7.reads_s":     float64(reads) / d.Seconds(),
		"w7.read_p99_us": float64(rh.quantile(0.99)) / float64(time.Microsecond),
		"w7.writes_s":    float64(writes) / d.Seconds(),
	}, nil
}
