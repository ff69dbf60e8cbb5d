//go:build unix

package folio

import (
	"bytes"
	"errors"
	"syscall"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestWriteToWriteFlagOpenFails: a WriteFlag the file cannot be opened
// with fails WriteTo with the open's error, as bbolt's does (here
// O_DIRECTORY: ENOTDIR), before anything is written.
func TestWriteToWriteFlagOpenFails(t *testing.T) {
	p := newInspectPair(t, nil)
	p.update(func(ftx *Tx, btx *bolt.Tx) error { return both(ftx, btx, []string{"b"}, putN(10, 10)) })
	p.view(func(ftx *Tx, btx *bolt.Tx) {
		ftx.WriteFlag, btx.WriteFlag = syscall.O_DIRECTORY, syscall.O_DIRECTORY
		var fw, bw bytes.Buffer
		fn, ferr := ftx.WriteTo(&fw)
		_, berr := btx.WriteTo(&bw)
		if !errors.Is(ferr, syscall.ENOTDIR) || !errors.Is(berr, syscall.ENOTDIR) {
			t.Errorf("WriteTo with O_DIRECTORY: folio %v, bbolt %v; want ENOTDIR from both", ferr, berr)
		}
		if fn != 0 || fw.Len() != 0 {
			t.Errorf("folio wrote %d bytes (said %d) before failing", fw.Len(), fn)
		}
	})
}
