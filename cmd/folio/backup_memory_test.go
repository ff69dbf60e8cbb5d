package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/foliodb/folio"
)

// TestBackupMemory: backup hands Tx.WriteTo the file itself, which then
// writes the mapped pages into it without a buffer: a backup of a 32 MiB
// database allocates less than 1/64 of its size, verifying included
// (127 KB). Through the counting writer the progress bar wrapped it in,
// WriteTo copied through a 1 MiB buffer of its own: 1.18 MB. With
// stderr a terminal the bar is still drawn, and then erased. Each copy
// passes "folio check" and holds what the database does. Measured with
// the collector off: everything backup allocated.
func TestBackupMemory(t *testing.T) {
	src := makeDB(t, func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("blobs"))
		if err != nil {
			return err
		}
		for i := range 32 {
			if err := b.Put(fmt.Appendf(nil, "v%03d", i), lvBytes(1<<20, byte(i))); err != nil {
				return err
			}
		}
		return nil
	})
	want := readModel(t, src)
	fi, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, terminal := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "backup.db")
		var stdout, stderr bytes.Buffer
		a := newApp(strings.NewReader(""), &stdout, &stderr)
		a.isTerminal = terminal // stderr is a terminal: a bar is drawn
		var m0, m1 runtime.MemStats
		func() {
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			runtime.GC()
			runtime.ReadMemStats(&m0)
			if code := a.run([]string{"backup", src, out}); code != exitOK {
				t.Fatalf("backup: exit %d: %s", code, stderr.String())
			}
			runtime.ReadMemStats(&m1)
		}()
		alloc := m1.TotalAlloc - m0.TotalAlloc
		t.Logf("terminal %v: backup of %d bytes allocated %d bytes", terminal, fi.Size(), alloc)
		if alloc > uint64(fi.Size())/64 {
			t.Errorf("terminal %v: backup of %d bytes allocated %d bytes, want at most 1/64 of it", terminal, fi.Size(), alloc)
		}
		bar := strings.HasPrefix(stderr.String(), "\rbackup: bytes [") && strings.HasSuffix(stderr.String(), "\r\x1b[K")
		if bar != terminal {
			t.Errorf("terminal %v: stderr %q", terminal, stderr.String())
		}
		if code, stdout, stderr := runCLI(t, "check", out); code != exitOK {
			t.Errorf("check of the backup: exit %d: %s%s", code, stdout, stderr)
		}
		sameModel(t, readModel(t, out), want, true)
	}
}
