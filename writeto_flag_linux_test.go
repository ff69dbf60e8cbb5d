package folio

import (
	"bytes"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWriteToWriteFlagDirect copies with O_DIRECT, where the file system
// takes it, in 4 KiB pages (O_DIRECT wants reads aligned to the
// device's blocks).
func TestWriteToWriteFlagDirect(t *testing.T) {
	db := openTest(t, &Options{PageSize: 4096})
	mustUpdate(t, db, fillDeep(0, 3000))
	probe := filepath.Join(filepath.Dir(db.Path()), "probe")
	if fd, err := syscall.Open(probe, syscall.O_CREAT|syscall.O_RDWR|syscall.O_DIRECT, 0o600); err != nil {
		t.Skipf("O_DIRECT: %v", err)
	} else {
		syscall.Close(fd)
	}
	plain, flagged, _ := writeFlagCopies(t, db, syscall.O_DIRECT, nil)
	if !bytes.Equal(plain, flagged) {
		t.Errorf("copies differ: %d bytes from the map, %d with O_DIRECT", len(plain), len(flagged))
	}
}
