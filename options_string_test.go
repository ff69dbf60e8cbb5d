package folio

import (
	"fmt"
	"log"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestOptionsStringLikeBbolt: Options.String prints bbolt 1.4.3's dump
// of the options it shares with bbolt, word for word (pointers as
// pointers), then folio's own options before the closing brace; a nil
// *Options prints "{}", as bbolt's.
func TestOptionsStringLikeBbolt(t *testing.T) {
	const mapPopulate = 0x8000 // Linux's; String prints any flags
	if got, want := (*Options)(nil).String(), (*bolt.Options)(nil).String(); got != want {
		t.Errorf("nil: folio %q, bbolt %q", got, want)
	}
	openFile := func(name string, flag int, perm os.FileMode) (*os.File, error) { return os.OpenFile(name, flag, perm) }
	logger := &bolt.DefaultLogger{Logger: log.New(os.Stderr, "", 0)}
	cases := []struct {
		f *Options
		b *bolt.Options
		// own is what folio adds.
		own string
	}{
		{&Options{}, &bolt.Options{}, "MaxSize: 0, VerifyChecksums: false, WAL: false, CheckpointBytes: 0, CheckpointInterval: 0s"},
		{
			&Options{
				Timeout: time.Second, NoGrowSync: true, NoFreelistSync: true, PreLoadFreelist: true,
				FreelistType: FreelistMapType, ReadOnly: true, MmapFlags: mapPopulate,
				InitialMmapSize: 1 << 20, PageSize: 4096, NoSync: true, OpenFile: openFile, Mlock: true,
				Logger: logger, MaxSize: 1 << 30, VerifyChecksums: true, WAL: true,
				CheckpointBytes: 1 << 26, CheckpointInterval: 30 * time.Second,
			},
			&bolt.Options{
				Timeout: time.Second, NoGrowSync: true, NoFreelistSync: true, PreLoadFreelist: true,
				FreelistType: bolt.FreelistMapType, ReadOnly: true, MmapFlags: mapPopulate,
				InitialMmapSize: 1 << 20, PageSize: 4096, NoSync: true, OpenFile: openFile, Mlock: true,
				Logger: logger,
			},
			"MaxSize: 1073741824, VerifyChecksums: true, WAL: true, CheckpointBytes: 67108864, CheckpointInterval: 30s",
		},
		{DefaultOptions, bolt.DefaultOptions, "MaxSize: 0, VerifyChecksums: false, WAL: false, CheckpointBytes: 0, CheckpointInterval: 0s"},
	}
	for _, c := range cases {
		got := c.f.String()
		want := strings.TrimSuffix(c.b.String(), "}") + ", " + c.own + "}"
		if got != want {
			t.Errorf("String:\nfolio %s\nwant  %s", got, want)
		}
		if s := fmt.Sprint(c.f); s != got {
			t.Errorf("fmt.Sprint %s, String %s", s, got)
		}
	}
}
