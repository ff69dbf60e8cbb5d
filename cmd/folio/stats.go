package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/page"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newStatsCmd) }

// bucketStatsJSON is one bucket's row. Its counts are what the listing
// commands list: Keys, the bucket's own keys holding values ("folio
// keys"); Buckets, every bucket below it ("folio buckets DB PATH"). The
// rest, like du, count the bucket and everything nested in it
// (Bucket.Stats does, as bbolt's). NB: Keys counted the nested buckets'
// keys too, so a parent's row showed more keys than keys listed; that
// count is KeysWithNested.
type bucketStatsJSON struct {
	Path           string `json:"path"`
	Keys           int    `json:"keys"`             // its own keys holding values
	KeysWithNested int    `json:"keys_with_nested"` // and those of the buckets below it
	Buckets        int    `json:"nested_buckets"`   // buckets below this one, at any depth
	Depth          int    `json:"depth"`            // levels of the deepest tree
	BranchPages    int    `json:"branch_pages"`     // overflow pages included
	LeafPages      int    `json:"leaf_pages"`       // overflow pages included
	LargePages     int    `json:"large_pages"`      // pages of out-of-line values
	// InlineBuckets counts the buckets stored in their parent's leaf, no
	// page of their own (this one included), InlineBytes their leaves.
	InlineBuckets int     `json:"inline_buckets"`
	InlineBytes   int     `json:"inline_bytes"`
	BytesUsed     int     `json:"bytes_used"` // in branch and leaf pages
	BytesAlloc    int     `json:"bytes_allocated"`
	FillPercent   float64 `json:"fill_percent"`
	TotalPages    int     `json:"total_pages"`
	TotalPageSize int64   `json:"total_bytes"` // all its pages, large ones included
}

// fileStatsJSON is the file-level part.
type fileStatsJSON struct {
	PageSize     int    `json:"page_size"`
	FileSize     int64  `json:"file_size"`
	HighPage     uint64 `json:"high_page"`
	PagesInUse   int64  `json:"pages_in_use"`
	FreePages    int    `json:"free_pages"`
	PendingPages int    `json:"pending_pages"`
	FreeBytes    int64  `json:"free_bytes"`
	// FreeExtents is how many runs the free and pending pages form, as the
	// persisted free list records them; -1 when it is not persisted, or
	// was unusable and Open rebuilt it from the tree.
	FreeExtents    int     `json:"free_extents"`
	LargestExtent  uint64  `json:"largest_free_extent"`
	Fragmentation  float64 `json:"fragmentation_percent"` // 100 × (1 − largest extent / free pages)
	UnallocatedEnd int64   `json:"preallocated_bytes"`    // the file past the high water mark
	// FreelistRebuilt: why FreeExtents is -1 (info --json says it).
	FreelistRebuilt bool `json:"-"`
	// The write-ahead log, when the database has one (as info shows it).
	WAL bool `json:"wal"`
	*WALJSON
}

type statsJSON struct {
	Path    string            `json:"path"`
	Buckets []bucketStatsJSON `json:"buckets"`
	Total   *bucketStatsJSON  `json:"total,omitempty"`
	File    fileStatsJSON     `json:"file"`
}

func newStatsCmd(a *app) *cobra.Command {
	var (
		asJSON bool
		bucket string
	)
	cmd := &cobra.Command{
		Use:   "stats DB",
		Short: "Show per-bucket page use and fill, and the file's free space",
		Long: `Stats shows, for every bucket (nested ones by path, as "a/b"), its keys,
nested buckets, tree depth, branch, leaf and large-value pages, and the
bytes its branch and leaf pages use against what they take (fill).

KEYS are the bucket's own keys holding values, those "folio keys DB PATH"
lists; BUCKETS, every bucket below it, those "folio buckets DB PATH"
lists. The other columns, like du, count the bucket and everything nested
in it (--json gives its keys so counted too, as keys_with_nested). The
total row counts every key and every bucket of the database, and sums the
top-level buckets' other columns.

The file part shows free and pending pages, how many extents (runs) they
form and the largest one; fragmentation is the share of free pages outside
the largest extent (0%: all free space is one run). A database in WAL mode
also shows its write-ahead log, as info does: its size, the txid of the
last checkpoint and the commits since ("wal" and "log_*" in --json).

The database is opened read-only (shared lock); the file is not changed.`,
		Example: `  folio stats app.db
  folio stats --bucket users/sessions app.db
  folio stats --json app.db | jq '.buckets[] | select(.fill_percent < 50)'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			var names [][]byte
			if bucket != "" {
				if names, err = parsePath(bucket); err != nil {
					return usageError{err}
				}
			}
			db, err := a.openDB(args[0], true)
			if err != nil {
				return err
			}
			defer closeDB(db, &err)
			st := statsJSON{Path: args[0], Buckets: []bucketStatsJSON{}}
			err = db.View(func(tx *folio.Tx) error {
				if names != nil {
					b, err := lookupBucket(tx, names)
					if err != nil {
						return err
					}
					collectStats(b, names, &st.Buckets)
					return nil
				}
				var total folio.BucketStats
				tops := 0
				err := tx.ForEach(func(name []byte, b *folio.Bucket) error {
					total.Add(collectStats(b, [][]byte{name}, &st.Buckets))
					tops++
					return nil
				})
				row := statsRow("(total)", total, db.PageSize())
				// The top-level names are not keys of any bucket, and
				// every bucket counts in the total's bucket column.
				row.Keys, row.Buckets = total.KeyN-(total.BucketN-tops), total.BucketN
				row.KeysWithNested = row.Keys
				st.Total = &row
				return err
			})
			if err != nil {
				return withPath(args[0], err)
			}
			if st.File, err = fileStats(db, args[0]); err != nil {
				return err
			}
			if asJSON {
				return printJSON(a.stdout, st)
			}
			return printStats(a, st)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&bucket, "bucket", "", "only this bucket and those nested in it (a path: a/b/c)")
	return cmd
}

// collectStats appends the rows of b and the buckets nested in it, in key
// order, and returns b's stats.
func collectStats(b *folio.Bucket, path [][]byte, rows *[]bucketStatsJSON) folio.BucketStats {
	s := b.Stats()
	i := len(*rows)
	*rows = append(*rows, statsRow(formatPath(path), s, b.Tx().DB().PageSize()))
	own := (*rows)[i].KeysWithNested
	_ = b.ForEachBucket(func(name []byte) error {
		n := collectStats(b.Bucket(name), append(path[:len(path):len(path)], name), rows)
		own -= n.KeyN - (n.BucketN - 1)
		return nil
	})
	(*rows)[i].Keys = own
	return s
}

func statsRow(path string, s folio.BucketStats, pageSize int) bucketStatsJSON {
	r := bucketStatsJSON{
		Path: path,
		// KeyN counts nested bucket names too. Keys, the bucket's own,
		// is left to collectStats, which knows those nested.
		KeysWithNested: s.KeyN - (s.BucketN - 1),
		Buckets:        s.BucketN - 1,
		Depth:          s.Depth,
		BranchPages:    s.BranchPageN + s.BranchOverflowN,
		LeafPages:      s.LeafPageN + s.LeafOverflowN,
		LargePages:     s.LargePageN,
		InlineBuckets:  s.InlineBucketN,
		InlineBytes:    s.InlineBucketInuse,
		BytesUsed:      s.BranchInuse + s.LeafInuse,
		BytesAlloc:     s.BranchAlloc + s.LeafAlloc,
	}
	if r.BytesAlloc > 0 {
		r.FillPercent = 100 * float64(r.BytesUsed) / float64(r.BytesAlloc)
	}
	r.TotalPages = r.BranchPages + r.LeafPages + r.LargePages
	r.TotalPageSize = int64(r.TotalPages) * int64(pageSize)
	return r
}

// fileStats reads the file-level numbers from Info and the persisted
// free list.
func fileStats(db *folio.DB, path string) (fileStatsJSON, error) {
	in, err := db.Info()
	if err != nil {
		return fileStatsJSON{}, &pathError{path: path, err: err}
	}
	ps := int64(in.PageSize)
	fs := fileStatsJSON{
		PageSize:       in.PageSize,
		FileSize:       in.FileSize,
		HighPage:       uint64(in.HighPage),
		PagesInUse:     int64(in.HighPage) - int64(in.FreePages) - int64(in.PendingPages),
		FreePages:      in.FreePages,
		PendingPages:   in.PendingPages,
		FreeBytes:      int64(in.FreePages+in.PendingPages) * ps,
		FreeExtents:    -1,
		UnallocatedEnd: max(in.FileSize-int64(in.HighPage)*ps, 0),
		WAL:            in.WAL,
		WALJSON:        walJSON(in),
	}
	// NB: a rebuilt list's page is damaged, and Open counted the free
	// pages without it: reading it failed the whole command.
	if in.Freelist == 0 || in.FreelistRebuilt {
		fs.FreelistRebuilt = in.FreelistRebuilt
		return fs, nil
	}
	pf, err := openPageFile(db, path)
	if err != nil {
		return fs, err
	}
	defer pf.Close()
	p, err := pf.run(in.Freelist)
	if err == nil && page.Checksum(p) != page.PageChecksum(p) {
		err = page.Corruptf(in.Freelist, "free list checksum", fmt.Sprintf("%#08x", page.PageChecksum(p)), fmt.Sprintf("%#08x", page.Checksum(p)))
	}
	var exts []page.Extent
	if err == nil {
		exts, err = page.DecodeFreelist(p[page.HeaderSize:], in.Freelist, in.HighPage)
	}
	if err == nil {
		exts, err = pf.applyFreeDelta(exts, in.Freelist)
	}
	if err != nil {
		return fs, pathErrorf(path, "reading the free list: %w", err)
	}
	var total uint64
	fs.FreeExtents = len(exts)
	for _, e := range exts {
		total += e.Len
		fs.LargestExtent = max(fs.LargestExtent, e.Len)
	}
	if total > 0 {
		fs.Fragmentation = 100 * (1 - float64(fs.LargestExtent)/float64(total))
	}
	return fs, nil
}

func printStats(a *app, st statsJSON) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BUCKET\tKEYS\tBUCKETS\tDEPTH\tBRANCH\tLEAF\tLARGE\tINLINE\tUSED\tALLOCATED\tFILL")
	row := func(r bucketStatsJSON) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%.0f%%\n", r.Path, r.Keys, r.Buckets, r.Depth,
			r.BranchPages, r.LeafPages, r.LargePages, r.InlineBuckets, humanBytes(int64(r.BytesUsed)), humanBytes(int64(r.BytesAlloc)), r.FillPercent)
	}
	for _, r := range st.Buckets {
		row(r)
	}
	if st.Total != nil {
		row(*st.Total)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	f := st.File
	ps := int64(f.PageSize)
	fmt.Fprintf(a.stdout, "\nfile: %s, %d-byte pages: %d in use (%s), high water %d pages, %s preallocated past it\n",
		humanBytes(f.FileSize), f.PageSize, f.PagesInUse, humanBytes(f.PagesInUse*ps), f.HighPage, humanBytes(f.UnallocatedEnd))
	fmt.Fprintf(a.stdout, "free: %d pages free, %d pending (%s)", f.FreePages, f.PendingPages, humanBytes(f.FreeBytes))
	if f.FreelistRebuilt {
		fmt.Fprintf(a.stdout, "; free list rebuilt on open, extents unknown\n")
	} else if f.FreeExtents < 0 {
		fmt.Fprintf(a.stdout, "; free list not persisted, extents unknown\n")
	} else {
		fmt.Fprintf(a.stdout, " in %d extents, largest %d pages; fragmentation %.0f%%\n", f.FreeExtents, f.LargestExtent, f.Fragmentation)
	}
	if f.WAL {
		fmt.Fprintf(a.stdout, "wal: %s, last checkpoint at txid %d, %d commits since\n",
			humanBytes(f.LogBytes), f.CheckpointTxID, f.LogPending)
	}
	return nil
}
