package wal

import (
	"errors"
	"testing"
)

// TestAllowHole: with Options.AllowHole, damage to durable
// records is passed over once, when a whole frame of the same segment or
// the next vouches for them: Replay starts after it, Hole reports it,
// Replay from before it returns it, and appends go on. Without the
// option, or with the evidence further on, Open fails as before.
func TestAllowHole(t *testing.T) {
	t.Run("same segment", func(t *testing.T) {
		opts := Options{SegmentSize: 64 << 10, noSpares: true}
		dir := t.TempDir()
		want := buildLog(t, dir, opts, 20, 1000, true)
		live, _ := segFiles(t, dir)
		fr := frames(t, live[0])
		flip(t, live[0], fr[9].off+frameHeaderSize+1) // record 10

		if _, err := Open(dir, opts); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open without AllowHole: %v, want ErrCorrupt", err)
		}
		opts.AllowHole = true
		for round := range 2 {
			l := openLog(t, dir, opts)
			next, herr := l.Hole()
			var ce *CorruptError
			if next != 11 || !errors.As(herr, &ce) || ce.LSN != 10 || ce.Offset != fr[9].off {
				t.Fatalf("round %d: Hole() = %d, %v; want 11 and the damage at lsn 10", round, next, herr)
			}
			if err := l.Replay(5, func(uint64, []byte) error { return nil }); err != herr {
				t.Fatalf("Replay from before the hole: %v, want the hole's error", err)
			}
			checkRecords(t, replayAll(t, l, 11), 11, want[10:])
			if round == 0 {
				p := payload(77, 500)
				want = append(want, p)
				if lsn := appendT(t, l, p); lsn != 21 {
					t.Fatalf("append after the hole: lsn %d, want 21", lsn)
				}
			}
			closeLog(t, l)
		}
	})
	t.Run("next segment", func(t *testing.T) {
		opts := Options{SegmentSize: 4096, NoCompression: true, noSpares: true}
		dir := t.TempDir()
		want := buildLog(t, dir, opts, 40, 400, true)
		live, _ := segFiles(t, dir)
		if len(live) < 4 {
			t.Fatalf("only %d segments", len(live))
		}
		fr := frames(t, live[1])
		flip(t, live[1], fr[len(fr)-1].off+frameHeaderSize) // its last record
		first := frames(t, live[2])[0]
		opts.AllowHole = true
		l := openLog(t, dir, opts)
		defer closeLog(t, l)
		next, herr := l.Hole()
		if herr == nil {
			t.Fatal("no hole reported")
		}
		if next != first.lsn {
			t.Fatalf("Hole() next %d, want %d, the next segment's first", next, first.lsn)
		}
		checkRecords(t, replayAll(t, l, next), next, want[next-1:])
	})
	t.Run("damaged segment header", func(t *testing.T) {
		opts := Options{SegmentSize: 4096, NoCompression: true, noSpares: true, AllowHole: true}
		dir := t.TempDir()
		buildLog(t, dir, opts, 40, 400, true)
		live, _ := segFiles(t, dir)
		flip(t, live[2], offSegFirst) // no hole: no chain past it
		if _, err := Open(dir, opts); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open: %v, want ErrCorrupt", err)
		}
	})
	t.Run("two holes", func(t *testing.T) {
		opts := Options{SegmentSize: 64 << 10, noSpares: true, AllowHole: true}
		dir := t.TempDir()
		buildLog(t, dir, opts, 20, 1000, true)
		live, _ := segFiles(t, dir)
		fr := frames(t, live[0])
		flip(t, live[0], fr[4].off+frameHeaderSize+1)
		flip(t, live[0], fr[12].off+frameHeaderSize+1)
		if _, err := Open(dir, opts); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open with two holes: %v, want ErrCorrupt", err)
		}
	})
	t.Run("read-only", func(t *testing.T) {
		opts := Options{SegmentSize: 64 << 10, noSpares: true}
		dir := t.TempDir()
		want := buildLog(t, dir, opts, 20, 1000, true)
		live, _ := segFiles(t, dir)
		flip(t, live[0], frames(t, live[0])[3].off+frameHeaderSize+1)
		l := openLog(t, dir, Options{ReadOnly: true, AllowHole: true, SegmentSize: 64 << 10})
		defer closeLog(t, l)
		if next, err := l.Hole(); next != 5 || err == nil {
			t.Fatalf("Hole() = %d, %v, want 5 and an error", next, err)
		}
		checkRecords(t, replayAll(t, l, 5), 5, want[4:])
	})
}
