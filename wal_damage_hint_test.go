package folio

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestOpenLogDamageSaysWayPast: Open's refusal of a damaged log ends
// with the way past it, whichever layer found the damage (package wal
// reading a frame header, or replay a record's payload): no Options
// field skips it, and moving the log aside opens the file, losing only
// the commits the log alone holds. The message said only that the log
// was damaged, leaving a program's user nowhere to go; the way past was
// in the folio tool's message alone. errors.Is still finds both
// sentinels, and doing what the message says opens the file.
func TestOpenLogDamageSaysWayPast(t *testing.T) {
	for _, tc := range []struct {
		name string
		db   func(t *testing.T) string
	}{
		{"replay", func(t *testing.T) string { return damagedLogFile(t, "c") }},
		{"frame header", func(t *testing.T) string { return damagedLogFile(t, "c header") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.db(t)
			logDir := LogDir(path)
			_, err := Open(path, 0o600, walOpts(4096))
			if !errors.Is(err, ErrLogCorrupt) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrLogCorrupt and ErrCorrupt", err)
			}
			want := "; to open the file without it, losing the commits only the log holds (none if the database was closed cleanly), move " + logDir + " aside"
			if msg := err.Error(); !strings.HasSuffix(msg, want) || strings.Count(msg, "aside") != 1 {
				t.Errorf("Open: %q\nwant it to end, once, with %q", msg, want)
			}
			if err := os.Rename(logDir, logDir+".damaged"); err != nil {
				t.Fatal(err)
			}
			db, err := Open(path, 0o600, walOpts(4096))
			if err != nil {
				t.Fatalf("Open with the log moved aside: %v", err)
			}
			if err := db.View(func(tx *Tx) error {
				if tx.Bucket([]byte("b")) == nil {
					t.Error("bucket b, which the last checkpoint holds, is missing")
				}
				return nil
			}); err != nil {
				t.Error(err)
			}
			closeChecked(t, db)
		})
	}
}
