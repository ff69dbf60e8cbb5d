package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/foliodb/folio"
)

// lvBytes is n random bytes from seed.
func lvBytes(n int, seed byte) []byte {
	v := make([]byte, n)
	var key [32]byte
	key[0] = seed
	rand.NewChaCha8(key).Read(v)
	return v
}

// lvFormat encodes b as --format format takes it on the command line.
func lvFormat(format string, b []byte) string {
	switch format {
	case "hex":
		return hex.EncodeToString(b)
	case "base64":
		return base64.StdEncoding.EncodeToString(b)
	}
	return string(b)
}

// TestLargeValueCLIRoundTrip: a 2 MiB value, a key of MaxKeySize
// holding a large value in a nested bucket, and an empty value go
// through dump and load in every format (text, print, binary, zstd)
// unchanged; get prints the big value whole in raw, hex and base64; put
// takes a 3 MiB value on standard input in each format, and the file
// checks afterwards. (Sizes kept small: the race detector pays for every
// byte the text formats encode and decode one at a time.)
func TestLargeValueCLIRoundTrip(t *testing.T) {
	big := lvBytes(2<<20+3, 1)
	longKey := bytes.Repeat([]byte{'k'}, folio.MaxKeySize)
	src := makeDB(t, func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("blobs"))
		if err != nil {
			return err
		}
		n, err := b.CreateBucket([]byte("nested"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("big"), big); err != nil {
			return err
		}
		if err := n.Put(longKey, big[:64<<10]); err != nil {
			return err
		}
		return b.Put([]byte("empty"), nil)
	})
	want := readModel(t, src)
	dir := t.TempDir()
	for _, tc := range []struct {
		format string
		zstd   bool
	}{{"text", false}, {"print", false}, {"binary", true}} {
		name := fmt.Sprintf("%s-zstd=%v", tc.format, tc.zstd)
		t.Run(name, func(t *testing.T) {
			dump := filepath.Join(dir, name+".dump")
			args := []string{"dump", src, "--format", tc.format, "-o", dump}
			if tc.zstd {
				args = append(args, "--zstd")
			}
			if code, out, stderr := runCLI(t, args...); code != exitOK {
				t.Fatalf("dump: exit %d: %s%s", code, out, stderr)
			}
			dst := filepath.Join(dir, name+".db")
			if code, out, stderr := runCLI(t, "load", dst, "-i", dump); code != exitOK {
				t.Fatalf("load: exit %d: %s%s", code, out, stderr)
			}
			sameModel(t, readModel(t, dst), want, true)
		})
	}
	for _, format := range []string{"raw", "hex", "base64"} {
		code, out, stderr := runCLI(t, "get", "--format", format, src, "blobs", lvFormat(format, []byte("big")))
		if code != exitOK || strings.TrimSuffix(out, "\n") != lvFormat(format, big) {
			t.Errorf("get --format %s: exit %d, %d bytes out: %s", format, code, len(out), stderr)
		}
	}
	big2 := lvBytes(3<<20+1, 2)
	for _, format := range []string{"raw", "hex", "base64"} {
		key := lvFormat(format, []byte("in-"+format))
		if code, _, stderr := runCLIIn(t, lvFormat(format, big2), "put", "--format", format, src, "blobs", key); code != exitOK {
			t.Fatalf("put --format %s of %d bytes on stdin: exit %d: %s", format, len(big2), code, stderr)
		}
	}
	got := readModel(t, src) // checks the file too
	for _, format := range []string{"raw", "hex", "base64"} {
		if v := got["blobs"].KV["in-"+format]; v != string(big2) {
			t.Errorf("put --format %s: %d bytes stored, want %d", format, len(v), len(big2))
		}
	}
	if code, out, stderr := runCLI(t, "check", src); code != exitOK {
		t.Errorf("check: exit %d: %s%s", code, out, stderr)
	}
}

// TestLargeValueCLITextDumpMemory: a text dump of a 4 MiB value writes
// its line a slice at a time. Built whole, the line (2 characters a byte
// in hex, up to 4 in print format) and every copy made growing it came to
// 12 times the value's size allocated (9 times in peak RSS for 100 MB).
// Measured with the collector off: everything the dump allocated.
// TestLargeValueCLIRoundTrip loads such dumps back.
func TestLargeValueCLITextDumpMemory(t *testing.T) {
	const n = 4 << 20
	big := lvBytes(n, 3)
	src := makeDB(t, func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("blobs"))
		if err != nil {
			return err
		}
		return b.Put([]byte("big"), big)
	})
	dir := t.TempDir()
	for _, format := range []string{"text", "print"} {
		dump := filepath.Join(dir, format+".dump")
		args := []string{"dump", src, "--format", format, "-o", dump}
		var m0, m1 runtime.MemStats
		func() {
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			runtime.GC()
			runtime.ReadMemStats(&m0)
			if code, out, stderr := runCLI(t, args...); code != exitOK {
				t.Fatalf("%q: exit %d: %s%s", args, code, out, stderr)
			}
			runtime.ReadMemStats(&m1)
		}()
		copies := float64(m1.TotalAlloc-m0.TotalAlloc) / n
		t.Logf("%s: the dump allocated %.2f times the value", format, copies)
		if copies > 0.5 {
			t.Errorf("%s dump of a %d-byte value allocated %.2f times its size", format, n, copies)
		}
		if format == "text" {
			out, err := os.ReadFile(dump)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(out, []byte("\n "+hex.EncodeToString(big)+"\n")) {
				t.Errorf("the text dump does not hold the value's line whole")
			}
		}
	}
}
