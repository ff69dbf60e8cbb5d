package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/foliodb/folio"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newInfoCmd) }

// infoJSON is info's --json output; field names are part of the tool's
// interface for scripts.
type infoJSON struct {
	Path          string `json:"path"`
	FormatVersion uint32 `json:"format_version"`
	PageSize      int    `json:"page_size"`
	FileSize      int64  `json:"file_size"`
	FilePages     int64  `json:"file_pages"`
	TxID          uint64 `json:"txid"`
	MetaSlot      int    `json:"meta_slot"`
	HighPage      uint64 `json:"high_page"`
	PagesInUse    int64  `json:"pages_in_use"`
	FreePages     int    `json:"free_pages"`
	PendingPages  int    `json:"pending_pages"`
	RootPage      uint64 `json:"root_page"`
	FreelistPage  uint64 `json:"freelist_page"`
	// MetaFallback is the library's note of how its open deviated, for
	// people; OlderMeta and FreelistRebuilt say which way, for scripts
	// (folio.Info's fields of those names).
	MetaFallback    string `json:"meta_fallback,omitempty"`
	OlderMeta       bool   `json:"older_meta"`
	FreelistRebuilt bool   `json:"freelist_rebuilt"`
	// The write-ahead log, when the database has one.
	WAL bool `json:"wal"`
	*WALJSON
}

// WALJSON is the write-ahead log's part of info's and stats' --json,
// all of it, 0s included, in WAL mode (nil, and none of it, otherwise):
// omitempty fields left out the 0 of a count a script reads.
// NB: exported, as encoding/json sets an embedded pointer only then.
type WALJSON struct {
	LogBytes       int64  `json:"log_bytes"`
	CheckpointTxID uint64 `json:"checkpoint_txid"`
	LogPending     int    `json:"log_pending"`
}

// walJSON is in's log part: nil without a log.
func walJSON(in folio.Info) *WALJSON {
	if !in.WAL {
		return nil
	}
	return &WALJSON{LogBytes: in.LogBytes, CheckpointTxID: uint64(in.CheckpointTxID), LogPending: in.LogPending}
}

func newInfoCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info DB",
		Short: "Show a database's format, size, last transaction and page use",
		Long: `Info shows the database's format version, page size, file size, last
committed transaction, which meta page (0 or 1) is current, and how its
pages are used: in use (reachable, meta pages included), free for reuse,
and pending (freed but possibly still seen by a reader).

With a write-ahead log (WAL mode), info shows its size, the txid of the
last checkpoint and the commits since. A log with commits not yet in the
file (a WAL-mode program crashed) must be replayed by a read-write open
first; read-only commands say so.

If the newest meta page was unusable (torn, zeroed, or pointing at a bad
root) and the older one was opened instead, or the free list was
unusable and rebuilt from the tree, info says why.

The database is opened read-only (shared lock); the file is not changed.`,
		Example: `  folio info app.db
  folio info --json app.db | jq .txid
  folio info --timeout 1s app.db   # give up after 1s if a writer holds it`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			a.showsFallback = true // "meta fallback:"
			db, err := a.openDB(args[0], true)
			if err != nil {
				return err
			}
			defer closeDB(db, &err)
			in, err := db.Info()
			if err != nil {
				return pathErrorf(args[0], "info: %w", err)
			}
			out := infoJSON{
				Path:          args[0],
				FormatVersion: in.Version,
				PageSize:      in.PageSize,
				FileSize:      in.FileSize,
				FilePages:     in.FileSize / int64(in.PageSize),
				TxID:          uint64(in.TxID),
				MetaSlot:      in.MetaSlot,
				HighPage:      uint64(in.HighPage),
				PagesInUse:    int64(in.HighPage) - int64(in.FreePages) - int64(in.PendingPages),
				FreePages:     in.FreePages,
				PendingPages:  in.PendingPages,
				RootPage:      uint64(in.Root),
				FreelistPage:  uint64(in.Freelist),
				MetaFallback:  in.MetaFallback,

				OlderMeta:       in.OlderMeta,
				FreelistRebuilt: in.FreelistRebuilt,

				WAL:     in.WAL,
				WALJSON: walJSON(in),
			}
			if asJSON {
				return printJSON(a.stdout, out)
			}
			return printInfo(a, out)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printInfo(a *app, in infoJSON) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	ps := int64(in.PageSize)
	fmt.Fprintf(tw, "path:\t%s\n", in.Path)
	fmt.Fprintf(tw, "format version:\t%d\n", in.FormatVersion)
	fmt.Fprintf(tw, "page size:\t%d\n", in.PageSize)
	fmt.Fprintf(tw, "file size:\t%s (%d bytes, %d pages)\n", humanBytes(in.FileSize), in.FileSize, in.FilePages)
	fmt.Fprintf(tw, "last txid:\t%d\n", in.TxID)
	fmt.Fprintf(tw, "current meta:\tpage %d\n", in.MetaSlot)
	// What lies past the mark: room a writer grew into ahead of its
	// data. A file cut back at Close ends at the mark, and saying "the
	// file beyond is preallocated" there named space that is not there.
	past := "nothing past it"
	if n := in.FileSize - int64(in.HighPage)*ps; n > 0 {
		past = humanBytes(n) + " past it preallocated"
	}
	fmt.Fprintf(tw, "high water:\t%d pages (%s); %s\n", in.HighPage, humanBytes(int64(in.HighPage)*ps), past)
	fmt.Fprintf(tw, "pages in use:\t%d (%s, 2 meta pages included)\n", in.PagesInUse, humanBytes(in.PagesInUse*ps))
	fmt.Fprintf(tw, "pages free:\t%d (%s)\n", in.FreePages, humanBytes(int64(in.FreePages)*ps))
	fmt.Fprintf(tw, "pages pending:\t%d (%s)\n", in.PendingPages, humanBytes(int64(in.PendingPages)*ps))
	fmt.Fprintf(tw, "root page:\t%s\n", pageOrNone(in.RootPage, "none (no buckets)"))
	fl := pageOrNone(in.FreelistPage, "none (not persisted; rebuilt on open)")
	if in.FreelistRebuilt {
		fl += " (unusable: the free list was rebuilt from the tree)"
	}
	fmt.Fprintf(tw, "freelist page:\t%s\n", fl)
	// The note says what open did, a rebuilt free list too: it goes on
	// this line whatever it holds, after a "no" when the newest meta
	// page was opened.
	fb := in.MetaFallback
	switch {
	case fb == "":
		fb = "no (the newest meta page is good)"
	case !in.OlderMeta:
		fb = "no (the newest meta page is good); " + fb
	}
	fmt.Fprintf(tw, "meta fallback:\t%s\n", fb)
	if in.WAL {
		fmt.Fprintf(tw, "wal:\t%s, last checkpoint at txid %d, %d commits since\n",
			humanBytes(in.LogBytes), in.CheckpointTxID, in.LogPending)
	} else {
		fmt.Fprintf(tw, "wal:\tnone\n")
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func pageOrNone(id uint64, none string) string {
	if id == 0 {
		return none
	}
	return fmt.Sprint(id)
}
