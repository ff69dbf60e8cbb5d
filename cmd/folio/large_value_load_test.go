package main

import (
	"bytes"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/foliodb/folio"
)

// TestLargeValueCLILoadMemory: loading a dump of a 16 MiB value (4 MiB
// with -short) allocates at most 4 times the value's size in every
// format: the value as read and decoded (grown by doubling: up to twice
// its size), folio's copy of it in Put and the run it is written from at
// commit. It allocated 14.7 times its size from a text dump (the line,
// twice the value in hex, grown a quarter at a time, then decoded into a
// copy), 22.5 in print format, 8 from a binary one (the frame grown a
// quarter at a time); and the loader copied every value into its batch,
// which kept that size to the end of the load. Measured with the
// collector off: everything the load allocated. The loaded value is the
// dumped one.
func TestLargeValueCLILoadMemory(t *testing.T) {
	// 16 MiB with -short too: at 4 MiB the zstd reader's fixed buffers
	// alone took the binary-zstd load past the bound (4.53).
	n := 16 << 20
	big := lvBytes(n, 7)
	// Backslashes too, for the print format's escapes.
	for i := 0; i < n; i += 97 {
		big[i] = '\\'
	}
	src := makeDB(t, func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("blobs"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("a"), []byte("small")); err != nil {
			return err
		}
		if err := b.Put([]byte("big"), big); err != nil {
			return err
		}
		return b.Put([]byte("c"), []byte("small after"))
	})
	dir := t.TempDir()
	for _, tc := range []struct {
		format string
		zstd   bool
	}{{"text", false}, {"print", false}, {"binary", false}, {"binary", true}} {
		name := tc.format
		args := []string{"dump", src, "--format", tc.format, "-o", filepath.Join(dir, name)}
		if tc.zstd {
			name += "-zstd"
			args = append(args, "--zstd")
			args[len(args)-2] = filepath.Join(dir, name)
		}
		if code, out, stderr := runCLI(t, args...); code != exitOK {
			t.Fatalf("%q: exit %d: %s%s", args, code, out, stderr)
		}
		dst := filepath.Join(dir, name+".db")
		var m0, m1 runtime.MemStats
		func() {
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			runtime.GC()
			runtime.ReadMemStats(&m0)
			if code, out, stderr := runCLI(t, "load", dst, "-i", filepath.Join(dir, name)); code != exitOK {
				t.Fatalf("load %s: exit %d: %s%s", name, code, out, stderr)
			}
			runtime.ReadMemStats(&m1)
		}()
		copies := float64(m1.TotalAlloc-m0.TotalAlloc) / float64(n)
		t.Logf("load of a %s dump allocated %.2f times the value", name, copies)
		if copies > 4.25 {
			t.Errorf("a load of a %s dump of a %d-byte value allocated %.2f times its size, want at most 4", name, n, copies)
		}
		got := readModel(t, dst)
		if v := got["blobs"].KV["big"]; !bytes.Equal([]byte(v), big) || got["blobs"].KV["a"] != "small" || got["blobs"].KV["c"] != "small after" {
			t.Errorf("%s: the loaded values differ (%d bytes for big)", name, len(v))
		}
	}
}
