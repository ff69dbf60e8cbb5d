package folio

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// replayCommits are the commits populateFixture leaves in the log: few,
// so that their replay (and its syncs) take little of Open's time.
const replayCommits = 2

// populateFixture makes a database of about 100 MiB at dir/src.db whose
// last commits are in its write-ahead log only, and copies that state (a
// crash's) to dir/img.db and its log. src.db is left closed, checkpointed.
func populateFixture(b *testing.B, dir string) (src, img string) {
	b.Helper()
	src, img = filepath.Join(dir, "src.db"), filepath.Join(dir, "img.db")
	db, err := Open(src, 0o600, &Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	v := make([]byte, 4000)
	const keys = 25000
	for i := 0; i < keys; i += 1000 {
		err := db.Update(func(tx *Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for j := i; j < i+1000; j++ {
				if err := bk.Put(fmt.Appendf(nil, "k%09d", j), v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	db, err = Open(src, 0o600, &Options{WAL: true, CheckpointBytes: 1 << 40, CheckpointInterval: 1 << 62})
	if err != nil {
		b.Fatal(err)
	}
	// Values as big as the pages they land in: the commits log page
	// images (replayed while Open maps the file), not operations.
	for i := range replayCommits {
		err := db.Update(func(tx *Tx) error {
			for j := range 20 {
				if err := tx.Bucket([]byte("b")).Put(fmt.Appendf(nil, "k%09d", j*keys/20+i), v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	copyFile(b, src, img)
	copyDir(b, LogDir(src), LogDir(img))
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	return src, img
}

// BenchmarkOpenPopulate opens a 100 MiB database with MAP_POPULATE:
// "direct" a clean file, "wal-replay" the file of a WAL-mode crash with
// replayCommits commits in the log to replay (copied into place and synced,
// untimed, before each open). Only Open is timed.
func BenchmarkOpenPopulate(b *testing.B) {
	dir := b.TempDir()
	src, img := populateFixture(b, dir)
	opts := &Options{MmapFlags: unix.MAP_POPULATE}
	b.Run("direct", func(b *testing.B) {
		var faults int64
		for i := 0; i < b.N; i++ {
			before := minorFaults(b)
			db, err := Open(src, 0o600, opts)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			faults += minorFaults(b) - before
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(faults)/float64(b.N), "faults/op")
	})
	b.Run("wal-replay", func(b *testing.B) {
		work := filepath.Join(dir, "work.db")
		wopts := *opts
		wopts.WAL = true
		var faults int64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			if err := os.RemoveAll(LogDir(work)); err != nil {
				b.Fatal(err)
			}
			copyFile(b, img, work)
			copyDir(b, LogDir(img), LogDir(work))
			syncPath(b, work) // or Open's sync of the file would write it all
			b.StartTimer()
			before := minorFaults(b)
			db, err := Open(work, 0o600, &wopts)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			faults += minorFaults(b) - before
			if in, err := db.Info(); err != nil || in.Replayed != replayCommits {
				b.Fatalf("replayed %d commits (%v), want %d", in.Replayed, err, replayCommits)
			}
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(faults)/float64(b.N), "faults/op")
	})
}

func syncPath(b *testing.B, path string) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
}

// minorFaults is the process's page faults so far (MAP_POPULATE's among
// them): the work of mapping, which the time of a shared machine blurs.
func minorFaults(b *testing.B) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return int64(ru.Minflt) + int64(ru.Majflt)
}
