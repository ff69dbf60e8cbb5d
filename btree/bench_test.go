package btree

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/foliodb/folio/page"
)

// benchPages is a lean Pages for benchmarks: committed runs in one slice,
// freed pages reused after the commit that freed them, one-page buffers
// recycled. Unlike memPages it does no checking, so the tree's own costs
// dominate a profile.
type benchPages struct {
	ps      int
	file    []byte
	high    page.ID
	tx      page.TxID
	free    []page.ID // reusable single pages
	pending []page.ID
	dirty   []benchRun
	spare   [][]byte
}

type benchRun struct {
	id  page.ID
	run []byte
}

func (m *benchPages) Run(id page.ID, kind page.Flags, sum uint32) ([]byte, error) {
	p := m.file[int(id)*m.ps:]
	return p[:int(page.PageOverflow(p)+1)*m.ps], nil
}

func (m *benchPages) Allocate(n int) (page.ID, error) {
	if k := len(m.free); n == 1 && k > 0 {
		id := m.free[k-1]
		m.free = m.free[:k-1]
		return id, nil
	}
	id := m.high
	m.high += page.ID(n)
	return id, nil
}

func (m *benchPages) Free(id page.ID, n int) {
	if n == 1 {
		m.pending = append(m.pending, id)
	}
}

func (m *benchPages) Write(id page.ID, run []byte) { m.dirty = append(m.dirty, benchRun{id, run}) }

func (m *benchPages) Buffer(n int) []byte {
	if k := len(m.spare); n == 1 && k > 0 {
		b := m.spare[k-1]
		m.spare = m.spare[:k-1]
		clear(b)
		return b
	}
	return make([]byte, n*m.ps)
}

func (m *benchPages) PageSize() int   { return m.ps }
func (m *benchPages) TxID() page.TxID { return m.tx }

func (m *benchPages) commit() {
	if need := int(m.high) * m.ps; need > len(m.file) {
		m.file = append(m.file, make([]byte, need-len(m.file)+64*m.ps)...)
	}
	for _, d := range m.dirty {
		copy(m.file[int(d.id)*m.ps:], d.run)
		if len(d.run) == m.ps {
			m.spare = append(m.spare, d.run)
		}
	}
	m.free = append(m.free, m.pending...)
	m.dirty, m.pending = m.dirty[:0], m.pending[:0]
	m.tx++
}

// BenchmarkPutRandom is W2 at the tree level: transactions of 1,000
// random 16-byte keys with 100-byte values into a tree of keys=n, 4 KiB
// pages, each followed by Rebalance and Spill (timed) and a commit to the
// in-memory file (not timed). A transaction starts from a fresh Tree, as
// one in the database does.
func BenchmarkPutRandom(b *testing.B) {
	for _, n := range []int{1e5} { // W2 measures 1e5 to 4e5
		b.Run("keys=1e5/per_txn=1000", func(b *testing.B) {
			m := &benchPages{ps: 4096, high: 2, tx: 1}
			r := rand.New(rand.NewPCG(1, 2))
			key := make([]byte, 16)
			val := make([]byte, 100)
			txn := func(tr *Tree, keys int) {
				for range keys {
					binary.BigEndian.PutUint64(key, r.Uint64())
					binary.BigEndian.PutUint64(key[8:], r.Uint64())
					if err := tr.Put(key, val, 0, nil); err != nil {
						b.Fatal(err)
					}
				}
				if err := tr.Rebalance(); err != nil {
					b.Fatal(err)
				}
				if err := tr.Spill(); err != nil {
					b.Fatal(err)
				}
			}
			var root page.ID
			var sum uint32
			for loaded := 0; loaded < n; loaded += 1000 {
				tr := New(m, root, sum)
				txn(tr, 1000)
				root, sum = tr.Root()
				m.commit()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tr := New(m, root, sum)
				txn(tr, 1000)
				root, sum = tr.Root()
				b.StopTimer()
				m.commit()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/key")
		})
	}
}

// scanTree is the tree BenchmarkScan and BenchmarkScanReverse walk: keys=n
// 16-byte random keys with 100-byte values in 4 KiB pages, grown by
// transactions of 1,000 random puts, so consecutive leaves lie anywhere
// in the file.
func scanTree(b *testing.B, n int) (*benchPages, page.ID, uint32) {
	m := &benchPages{ps: 4096, high: 2, tx: 1}
	r := rand.New(rand.NewPCG(3, 4))
	key := make([]byte, 16)
	val := make([]byte, 100)
	var root page.ID
	var sum uint32
	for loaded := 0; loaded < n; loaded += 1000 {
		tr := New(m, root, sum)
		for range 1000 {
			binary.BigEndian.PutUint64(key, r.Uint64())
			binary.BigEndian.PutUint64(key[8:], r.Uint64())
			if err := tr.Put(key, val, 0, nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := tr.Spill(); err != nil {
			b.Fatal(err)
		}
		root, sum = tr.Root()
		m.commit()
	}
	return m, root, sum
}

// BenchmarkScan is W4 at the tree level: a cursor walks every key of
// scanTree(n) with First and Next, with and without Map's prefetching of
// the leaves ahead. The file is a heap slice, not a file mapping, so the
// TLB costs differ from W4's.
func BenchmarkScan(b *testing.B) {
	benchmarkScan(b, false)
}

// BenchmarkScanReverse is BenchmarkScan backward: Last, then Prev.
func BenchmarkScanReverse(b *testing.B) {
	benchmarkScan(b, true)
}

func benchmarkScan(b *testing.B, reverse bool) {
	for _, n := range []int{1e6} {
		m, root, sum := scanTree(b, n)
		for _, prefetch := range []bool{false, true} {
			b.Run(fmt.Sprintf("keys=1e%d/prefetch=%v", len(fmt.Sprint(n))-1, prefetch), func(b *testing.B) {
				c := New(m, root, sum).NewCursor()
				b.ReportAllocs()
				keys := 0
				for b.Loop() {
					if prefetch {
						c.Map(m.file, m.ps)
					}
					if reverse {
						for k, _, _ := c.Last(); k != nil; k, _, _ = c.Prev() {
							keys++
						}
					} else {
						for k, _, _ := c.First(); k != nil; k, _, _ = c.Next() {
							keys++
						}
					}
					if err := c.Err(); err != nil {
						b.Fatal(err)
					}
				}
				if keys != b.N*n {
					b.Fatalf("scanned %d keys, want %d", keys, b.N*n)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(keys), "ns/key")
			})
		}
	}
}
