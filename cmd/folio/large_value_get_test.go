package main

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/foliodb/folio"
)

// countingWriter keeps the length of what it was given and its last
// bytes, so that the output of a big value costs no memory of its own.
type countingWriter struct {
	n    int
	tail []byte
	sum  uint64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	for _, c := range p {
		w.sum = w.sum*31 + uint64(c)
	}
	w.tail = append(w.tail[:0], p[max(0, len(p)-8):]...)
	return len(p), nil
}

// TestLargeValueCLIGetMemory: get prints a 16 MiB value (4 MiB with
// -short) in every format without building the output whole.
// It allocated 8.5 times the value's size for hex (the encoded string,
// its conversion, and fmt's buffer grown to hold it), 4 times for base64
// and once for raw (the value copied to append the newline). Measured
// with the collector off: everything get allocated. The output is that
// of the encoders run on the whole value.
func TestLargeValueCLIGetMemory(t *testing.T) {
	n := 16 << 20
	if testing.Short() {
		n = 4 << 20
	}
	big := lvBytes(n, 5)
	src := makeDB(t, func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("blobs"))
		if err != nil {
			return err
		}
		return b.Put([]byte("big"), big)
	})
	for _, format := range []string{"raw", "hex", "base64"} {
		want := &countingWriter{}
		nl := "\n"
		if format == "raw" {
			nl = "" // the bytes alone: stdout is no terminal
		}
		want.Write([]byte(lvFormat(format, big) + nl))
		args := []string{"get", "--format", format, src, "blobs", lvFormat(format, []byte("big"))}
		var out countingWriter
		var errb bytes.Buffer
		var m0, m1 runtime.MemStats
		func() {
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			runtime.GC()
			runtime.ReadMemStats(&m0)
			if code := run(args, bytes.NewReader(nil), &out, &errb); code != exitOK {
				t.Fatalf("%q: exit %d: %s", args, code, errb.String())
			}
			runtime.ReadMemStats(&m1)
		}()
		if out.n != want.n || out.sum != want.sum || !bytes.Equal(out.tail, want.tail) {
			t.Errorf("get --format %s: %d bytes out, want %d (or they differ)", format, out.n, want.n)
		}
		copies := float64(m1.TotalAlloc-m0.TotalAlloc) / float64(n)
		t.Logf("get --format %s allocated %.2f times the value", format, copies)
		if copies > 0.25 {
			t.Errorf("get --format %s of a %d-byte value allocated %.2f times its size", format, n, copies)
		}
	}
}
