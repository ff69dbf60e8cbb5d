package main

import (
	"bytes"
	"os"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the driver's child: drive
// re-executes os.Executable(), which under go test is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestKeysetAscendingAndDistinct(t *testing.T) {
	const n = 10_000
	ks := newKeyset(n)
	var prev, k [keySize]byte
	for i := range n {
		ks.key(k[:], i)
		if i > 0 && bytes.Compare(prev[:], k[:]) >= 0 {
			t.Fatalf("key %d (%x) is not above key %d (%x)", i, k, i-1, prev)
		}
		prev = k
	}
	var f [keySize]byte
	freshKey(f[:], 5, 0)
	for i := range n {
		ks.key(k[:], i)
		if k == f {
			t.Fatalf("fresh key %x is key %d of the set", f, i)
		}
	}
}

func TestHistQuantile(t *testing.T) {
	var h hist
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, 1000 * time.Microsecond}} {
		got := h.quantile(c.q)
		if d := got - c.want; d < -c.want/50 || d > c.want/50 {
			t.Errorf("quantile(%v) = %v, want %v within 2%%", c.q, got, c.want)
		}
	}
	for _, v := range []time.Duration{0, 1, 63, 64, 65, 1 << 20, 1<<40 + 12345} {
		var one hist
		one.add(v)
		if got := one.quantile(1); got < v-v/60 || got > v+v/60 {
			t.Errorf("one sample %v: quantile = %v", v, got)
		}
	}
}

// TestTinyRun runs every engine and workload at a tiny size, through the
// child processes, and checks that every figure of the table is there.
func TestTinyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes and durable commits")
	}
	o := &options{
		engines: "folio,folio-wal,bbolt", workloads: "W1,W2,W3,W4,W5,W6,W7", runs: 1, dir: t.TempDir(),
		config: config{keys: 2000, valSize: 100, seqTx: 500, randTx: 100, dataSet: "W2", reads: 2000, getTx: 100,
			commits: 40, writers: 4, w7: 100 * time.Millisecond, minScan: 10 * time.Millisecond},
	}
	if _, ok := engines["lmdb"]; ok {
		o.engines += ",lmdb"
	}
	res, err := drive(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, eng := range res.Engines {
		for _, r := range rows {
			if _, ok := res.Median[eng][r.key]; !ok && !r.some {
				t.Errorf("%s: no %s", eng, r.key)
			}
		}
	}
}

// TestTinyRunDataSetW1 runs the read and write workloads on the data set
// W1 loads (--data-set W1), untimed and then as a workload of the run, and
// checks the figures are there (W3 fails unless it finds every key).
func TestTinyRunDataSetW1(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes and durable commits")
	}
	for _, wls := range []string{"W3,W5", "W1,W2,W3,W4"} {
		o := &options{
			engines: "folio,folio-wal,bbolt", workloads: wls, runs: 1, dir: t.TempDir(),
			config: config{keys: 2000, valSize: 100, seqTx: 500, randTx: 100, dataSet: "W1", reads: 2000, getTx: 100,
				commits: 40, writers: 4, w7: 100 * time.Millisecond, minScan: 10 * time.Millisecond},
		}
		res, err := drive(o)
		if err != nil {
			t.Fatalf("%s: %v", wls, err)
		}
		for _, eng := range res.Engines {
			for _, key := range []string{"w3.get1_s", "w3.gettx_s"} {
				if res.Median[eng][key] <= 0 {
					t.Errorf("%s %s: %s = %v", wls, eng, key, res.Median[eng][key])
				}
			}
		}
	}
	o := &options{engines: "folio", workloads: "W3", runs: 1, dir: t.TempDir(), config: config{keys: 10, dataSet: "W3"}}
	if _, err := drive(o); err == nil {
		t.Error("--data-set W3 was accepted")
	}
}
