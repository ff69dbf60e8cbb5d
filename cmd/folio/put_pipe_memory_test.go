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
// unknown until its end, allocates at most about twice the value: the
// value in steps a 32nd of what came before, then whole; hex and base64
// are decoded as they are read. io.ReadAll's steps, each half again the
// last, allocated 2.16 times the input (2.30 in hex, 3.05 in base64);
// reading the text whole, then decoding it, twice the text (4.0 times
// the value in hex, 3.7 in base64). A value that ends inside the first
// step is not copied.
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
		copies := float64(alloc) / float64(n)
		t.Logf("%s: reading %d bytes of a %d-byte value from a pipe allocated %.2f times the value", format, len(text), n, copies)
		if copies > 2.1 {
			t.Errorf("%s: reading %d bytes of a %d-byte value from a pipe allocated %.2f times the value, want at most 2.1", format, len(text), n, copies)
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

// TestPutPipeEncodedCommandMemory: put of a hex or base64 value from a
// pipe allocates about what a raw one does (TestPutPipeCommandMemory),
// 4 times the value: the text is decoded as it is read, so only the
// value is read in pieces and copied whole. Reading the text whole
// first, then decoding it (in place for hex, into a value of its own
// for base64), made it 6.0 times the value in hex and 5.6 in base64.
func TestPutPipeEncodedCommandMemory(t *testing.T) {
	n := 16<<20 + 12345 // as TestPutPipeCommandMemory
	big := lvBytes(n, 23)
	src := makeDB(t, func(tx *folio.Tx) error { _, err := tx.CreateBucket([]byte("blobs")); return err })
	for _, format := range []string{"hex", "base64"} {
		text := []byte(" \n" + lvFormat(format, big) + "\n\n") // surrounding white space is ignored
		var out, errb bytes.Buffer
		_, alloc := pipeAlloc(t, text, func(r *os.File) ([]byte, error) {
			if code := run([]string{"put", "--format", format, src, "blobs", lvFormat(format, []byte(format))}, r, &out, &errb); code != exitOK {
				t.Fatalf("put --format %s: exit %d: %s", format, code, errb.String())
			}
			return nil, nil
		})
		copies := float64(alloc) / float64(n)
		t.Logf("put --format %s of %d bytes from a pipe allocated %.2f times them", format, n, copies)
		if copies > 4.1 {
			t.Errorf("put --format %s of %d bytes from a pipe allocated %.2f times them, want at most 4.1", format, n, copies)
		}
	}
	got := readModel(t, src)
	for _, format := range []string{"hex", "base64"} {
		if v := got["blobs"].KV[format]; v != string(big) {
			t.Errorf("put --format %s: %d bytes stored, want %d", format, len(v), n)
		}
	}
}
