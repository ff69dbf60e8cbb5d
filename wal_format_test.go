package folio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A write-ahead log whose segment header is of a newer format than this
// folio reads (version 3, checksum whole) is ErrVersionMismatch, as a
// newer file is, and Open leaves the log as it was: read as a header not
// valid, the segment would have been recycled, its commits with it.
func TestWALNewerLogVersion(t *testing.T) {
	path := tempPath(t)
	db, err := Open(path, 0o600, walOpts(4096))
	if err != nil {
		t.Fatal(err)
	}
	mustPutIn(t, db, "b", []byte("k"), []byte("v"))
	closeChecked(t, db)

	ents, err := os.ReadDir(LogDir(path))
	if err != nil {
		t.Fatal(err)
	}
	var seg string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".wal") {
			seg = filepath.Join(LogDir(path), e.Name())
		}
	}
	if seg == "" {
		t.Fatal("no log segment")
	}
	b := mustRead(t, seg)
	// Package wal's segment header (wal/doc.go): version at byte 8, the
	// CRC-32C of bytes 4 to 32 at byte 0.
	binary.LittleEndian.PutUint16(b[8:], 3)
	binary.LittleEndian.PutUint32(b[0:], crc32.Checksum(b[4:32], crc32.MakeTable(crc32.Castagnoli)))
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}

	for _, ro := range []bool{true, false} {
		opts := walOpts(4096)
		opts.ReadOnly = ro
		db, err := Open(path, 0o600, opts)
		if !errors.Is(err, ErrVersionMismatch) {
			if err == nil {
				db.Close()
			}
			t.Fatalf("read-only %v: Open with a log of a newer format: %v, want ErrVersionMismatch", ro, err)
		}
		t.Log(err)
	}
	after, err := os.ReadFile(seg)
	if err != nil || !bytes.Equal(after, b) {
		t.Fatalf("the refused log's segment changed (%v)", err)
	}
}
