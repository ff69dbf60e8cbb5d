//go:build !linux

package folio

import "os"

// newMemFile makes an unlinked temporary file (Linux uses a memfd).
func newMemFile() (*os.File, error) {
	f, err := os.CreateTemp("", "folio-test-*")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}
