package main

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/foliodb/folio"
)

// pipeAlloc feeds text through an os.Pipe to read and returns what read
// returned and the bytes allocated meanwhile, with the collector off:
// everything read allocated (the writer writes text as it is).
func pipeAlloc(t *testing.T, text []byte, read func(*os.File) ([]byte, error)) ([]byte, uint64) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan error, 1)
	var m0, m1 runtime.MemStats
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC()
	runtime.ReadMemStats(&m0)
	go func() {
		_, err := w.Write(text)
		w.Close()
		done <- err
	}()
	got, err := read(r)
	runtime.ReadMemStats(&m1)
	if werr := <-done; werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	return got, m1.TotalAlloc - m0.TotalAlloc
}

// TestPutPipeReadMemory: put reading a value from a pipe, whose size is
// unknown until its end, allocates at most about twice the input: the
// input in steps a 32nd of what came before, then the value whole.
// io.ReadAll's steps, each half again the last, allocated 2.16 times
// (2.30 in hex, 3.05 in base64). A value that ends inside the first step
// is not copied.
func TestPutPipeReadMemory(t *testing.T) {
	n := 24<<20 + 12345
	if testing.Short() {
		n = 6<<20 + 12345
	}
	big := lvBytes(n, 21)
	for _, format := range []string{"raw", "hex", "base64"} {
		text := []byte(lvFormat(format, big))
		if format != "raw" {
			text = append(append([]byte(" \n"), text...), "\n\n"...)
		}
		got, alloc := pipeAlloc(t, text, func(r *os.File) ([]byte, error) { return readValue(r, dataFormat(format)) })
		if !bytes.Equal(got, big) {
			t.Fatalf("%s: read %d bytes, not the %d written", format, len(got), n)
		}
		copies := float64(alloc) / float64(len(text))
		t.Logf("%s: reading %d bytes from a pipe allocated %.2f times them", format, len(text), copies)
		// base64 decodes into a value of its own, 3/4 of the input.
		want := 2.1
		if format == "base64" {
			want += 0.75
		}
		if copies > want {
			t.Errorf("%s: reading %d bytes from a pipe allocated %.2f times them, want at most %.2f", format, len(text), copies, want)
		}
	}
	small := []byte("a small value")
	if got, alloc := pipeAlloc(t, small, func(r *os.File) ([]byte, error) { return readValue(r, formatRaw) }); !bytes.Equal(got, small) || alloc > 128<<10 {
		t.Errorf("a small value: read %q, allocated %d bytes", got, alloc)
	}
}

// TestPutPipeLimit: a value from a pipe longer than the largest value is
// refused after reading one byte past it, its steps never taking more.
func TestPutPipeLimit(t *testing.T) {
	defer func(m int64) { maxValueInput = m }(maxValueInput)
	maxValueInput = 1<<20 + 7
	for _, n := range []int{1<<20 + 7, 1<<20 + 8, 3 << 20} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			w.Write(make([]byte, n))
			w.Close()
		}()
		v, err := readValue(r, formatRaw)
		r.Close()
		if n <= int(maxValueInput) {
			if err != nil || len(v) != n {
				t.Errorf("%d bytes, the most: %d read, %v", n, len(v), err)
			}
		} else if !errors.Is(err, folio.ErrValueTooLarge) {
			t.Errorf("%d bytes, over the most: %v, want ErrValueTooLarge", n, err)
		}
	}
}

// TestPutPipeCommandMemory: put of a value from a pipe allocates about 4
// times the value: twice reading it (TestPutPipeReadMemory), folio's copy
// in Put and the run it is written from at commit (the last two as from
// a file: TestLargeValueCLIPutMemory).
func TestPutPipeCommandMemory(t *testing.T) {
	// NB: not smaller with -short: at 4 MiB the command's fixed costs
	// came to 0.05 of the value, close to the margin.
	n := 16<<20 + 12345
	big := lvBytes(n, 22)
	src := makeDB(t, func(tx *folio.Tx) error { _, err := tx.CreateBucket([]byte("blobs")); return err })
	var out, errb bytes.Buffer
	_, alloc := pipeAlloc(t, big, func(r *os.File) ([]byte, error) {
		if code := run([]string{"put", src, "blobs", "big"}, r, &out, &errb); code != exitOK {
			t.Fatalf("put: exit %d: %s", code, errb.String())
		}
		return nil, nil
	})
	copies := float64(alloc) / float64(n)
	t.Logf("put of %d bytes from a pipe allocated %.2f times them", n, copies)
	if copies > 4.1 {
		t.Errorf("put of %d bytes from a pipe allocated %.2f times them, want at most 4.1", n, copies)
	}
	if v := readModel(t, src)["blobs"].KV["big"]; v != string(big) {
		t.Errorf("%d bytes stored, want %d", len(v), n)
	}
}
