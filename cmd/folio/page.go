package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/foliodb/folio/page"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() { commands = append(commands, newPageCmd) }

// maxPreview is how many bytes of a large value page shows.
const maxPreview = 64

func newPageCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "page DB ID...",
		Short: "Decode pages: header, checksum and elements",
		Long: `Page decodes the pages with the given ids: the header (kind, element count,
txid, overflow, the id the page claims), whether its CRC-32C holds, and
what it holds: a meta page's fields, its format version among them; a
branch page's separator keys with their child page ids and the checksums
expected of them; a leaf page's keys with their value sizes, nested
bucket headers and large-value descriptors; a free list's extents; the
start of a large value.

Keys are shown quoted and escaped. A page that does not decode is shown as
far as it goes, with the decode error; free pages may hold stale content
from an earlier transaction ("folio pages" says which pages are free).
A page inside a reachable run (a large value's, say) is named as such,
with the page the run starts at.
A file the library refuses to open (its root or free list damaged) can
still be inspected; a warning says so.

Exit status 1 when a page shown is damaged (as check and pages): its
checksum failing, its header or elements not decoding. Every page asked
for is still shown. The older meta page and free or unallocated pages
hold bytes of no acknowledged commit; their damage is shown, exit 0.

The database is opened read-only (shared lock); the file is not changed.`,
		Example: `  folio page app.db 0 1    # both meta pages
  folio page app.db 2`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			ids := make([]page.ID, 0, len(args)-1)
			for _, s := range args[1:] {
				id, err := strconv.ParseUint(s, 10, 64)
				if err != nil {
					return usageError{fmt.Errorf("%w (%s)", notPageID(s), usageHint(cmd, err))}
				}
				ids = append(ids, page.ID(id))
			}
			pf, err := a.openPages(args[0])
			if err != nil {
				return err
			}
			defer closePages(pf, &err)
			for _, id := range ids {
				if uint64(id) >= pf.pages {
					// NB: not usage: which ids exist depends on the file,
					// as which keys do for get (exit 1).
					return fmt.Errorf("page %d is beyond the end of %s (%d pages of %d bytes)", id, args[0], pf.pages, pf.pageSize)
				}
			}
			var m *pageMap // walked once, for a page that is not its own or is damaged
			problems := 0
			for i, id := range ids {
				if i > 0 {
					fmt.Fprintln(a.stdout)
				}
				if p, err := pf.page(id); err == nil && id >= 2 && page.PageID(p) != id {
					// NB: decoded as a header, a run's data read as a
					// corrupt page ("misdirected write").
					if m == nil {
						m = walkPages(pf)
					}
					if start, u := m.runHolding(id); u != nil {
						fmt.Fprintf(a.stdout, "page %d\n  inside the run of page %d (%v, %d pages), its page %d: the run's data, not a page of its own (folio page %s %d)\n",
							id, start, u.kind, u.pages, id-start+1, shellQuote(args[0]), start)
						continue
					}
				}
				if !printPage(a.stdout, pf, id) {
					if m == nil {
						m = walkPages(pf)
					}
					if m.vouchesFor(pf, id) {
						problems++
					}
				}
			}
			if problems > 0 {
				// As check and pages: a script must tell a damaged
				// page by the status.
				return checkFailed{problems}
			}
			return nil
		},
	}
	// NB: pflag reads "-1" as short flag 1. page has no flag named by a
	// digit, so after DB such a word is a page id, refused as "x" is, not
	// as an unknown flag (run adds the usage line).
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		var unknown *pflag.NotExistError
		if errors.As(err, &unknown) && len(c.Flags().Args()) > 0 {
			if s := unknown.GetSpecifiedShortnames(); s != "" && s[0] >= '0' && s[0] <= '9' {
				return usageError{notPageID("-" + s)}
			}
		}
		return usageError{err}
	})
	return cmd
}

// notPageID is the refusal of s, given as a page id.
func notPageID(s string) error {
	if _, err := strconv.ParseUint(s, 10, 64); errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("page id %q is out of range: no file has that many pages", s)
	}
	return fmt.Errorf("page id %q is not a page number", s)
}

// vouchesFor reports whether the file promises page id's bytes, so that
// damage there is a problem: the current meta page, and every page below
// the high water mark not on the free list. The older meta page may be a
// torn commit never acknowledged, and free and unallocated pages hold
// stale or torn bytes of no commit (pages lists neither as a problem).
func (m *pageMap) vouchesFor(pf *pageFile, id page.ID) bool {
	switch {
	case id < 2:
		return int(id) == pf.info.MetaSlot
	case m.runs[id] != nil:
		return true
	case m.metaErr[pf.info.MetaSlot] != nil || uint64(id) >= uint64(m.meta.High):
		return false
	}
	// NB: with the free list unreadable or not persisted, an unreachable
	// page may be free; pages does not count it either.
	return m.freeNote == "" && m.freeAt(uint64(id)) == 0
}

// printPage decodes page id as far as it goes, a decode error being part
// of what it shows. It reports whether the page is sound: its header
// whole, its checksum holding, its elements decoding (an all-zero page
// is not, as a page folio wrote never is).
func printPage(w io.Writer, pf *pageFile, id page.ID) (sound bool) {
	fmt.Fprintf(w, "page %d\n", id)
	p, err := pf.run(id)
	if p == nil {
		fmt.Fprintf(w, "  error: %s\n", errText(err))
		return false
	}
	if bytes.Count(p, []byte{0}) == len(p) {
		fmt.Fprintf(w, "  all zero: never written\n")
		return false
	}
	flags := page.PageFlags(p)
	fmt.Fprintf(w, "  header: kind %v (%#04x), count %d, txid %d, overflow %d", flags, uint16(flags), page.PageCount(p), page.PageTxID(p), page.PageOverflow(p))
	sound = true
	if got := page.PageID(p); got != id {
		fmt.Fprintf(w, ", claims to be page %d (misdirected write, or stale bytes)", got)
		sound = false
	}
	fmt.Fprintln(w)
	if err != nil {
		fmt.Fprintf(w, "  error: %s\n", errText(err))
		return false
	}
	if id < 2 {
		return printMetaPage(w, p, id) && sound
	}
	if sum := page.Checksum(p); sum == page.PageChecksum(p) {
		fmt.Fprintf(w, "  checksum: ok (%#08x)\n", sum)
	} else {
		fmt.Fprintf(w, "  checksum: bad (stored %#08x, computed %#08x)\n", page.PageChecksum(p), sum)
		sound = false
	}
	switch flags {
	case page.FlagBranch:
		return printBranch(w, p, id) && sound
	case page.FlagLeaf:
		return printLeaf(w, p, id) && sound
	case page.FlagFreelist:
		exts, err := page.DecodeFreelist(p[page.HeaderSize:], id, page.ID(pf.pages))
		if err != nil {
			fmt.Fprintf(w, "  error: %s\n", errText(err))
			return false
		}
		var total uint64
		for _, e := range exts {
			total += e.Len
		}
		fmt.Fprintf(w, "  %d free extents, %d pages:\n", len(exts), total)
		for _, e := range exts {
			fmt.Fprintf(w, "    %s (%d pages)\n", idRange(uint64(e.Start), e.Len), e.Len)
		}
	case page.FlagLarge:
		body := p[page.HeaderSize:]
		fmt.Fprintf(w, "  large value run of %d pages (its size is in the leaf that points here)\n", len(p)/pf.pageSize)
		fmt.Fprintf(w, "  starts: %s\n", preview(body))
	default:
		fmt.Fprintf(w, "  error: unknown page kind %#04x (not a page folio wrote, or stale bytes of a free page)\n", uint16(flags))
		return false
	}
	return sound
}

// preview shows the start of a value.
func preview(v []byte) string {
	if len(v) <= maxPreview {
		return quoteBytes(v)
	}
	return quoteBytes(v[:maxPreview]) + "..."
}

// printMetaPage, printBranch and printLeaf report whether what they
// show decodes.
func printMetaPage(w io.Writer, p []byte, id page.ID) bool {
	m, err := page.DecodeMeta(p, id)
	if err != nil {
		fmt.Fprintf(w, "  error: %s\n", errText(err))
		return false
	}
	fmt.Fprintf(w, "  checksum: ok (%#08x)\n", page.PageChecksum(p))
	// The version is the page's own: a file a version 1 folio wrote keeps
	// version 1 meta pages until its first meta write (Info.Version).
	fmt.Fprintf(w, "  meta: format version %d, page size %d, txid %d, high water %d pages\n", page.MetaVersion(p), m.PageSize, m.TxID, m.High)
	if m.Root == 0 {
		fmt.Fprintf(w, "  bucket directory root: none (no buckets)\n")
	} else {
		fmt.Fprintf(w, "  bucket directory root: page %d (checksum %#08x)\n", m.Root, m.RootSum)
	}
	if m.Freelist == 0 {
		fmt.Fprintf(w, "  free list: none (not persisted; rebuilt on open)\n")
	} else {
		fmt.Fprintf(w, "  free list: page %d (checksum %#08x)\n", m.Freelist, m.FreelistSum)
	}
	if m.FreeDelta != "" {
		if d, err := page.DecodeFreeDelta(m, 0); err == nil {
			fmt.Fprintf(w, "  free list changes since that page: %d extents taken, %d added\n", len(d.Taken), len(d.Added))
		}
	}
	return true
}

func printBranch(w io.Writer, p []byte, id page.ID) (sound bool) {
	n, err := page.CheckElems(p, id, page.BranchElemSize)
	if err != nil {
		fmt.Fprintf(w, "  error: %s\n", errText(err))
		return false
	}
	sound = true
	for i := range n {
		child, sum := page.BranchChild(p, i)
		k, ok := page.BranchKey(p, i)
		if !ok {
			fmt.Fprintf(w, "  %d: error: %s (child %d)\n", i, errText(page.ElemError(id, i)), child)
			sound = false
			continue
		}
		fmt.Fprintf(w, "  %d: key %s -> child %d (checksum %#08x)\n", i, quoteBytes(k), child, sum)
	}
	return sound
}

// printInline lists an inline bucket's keys and values, indented under
// its element. DecodeBucketHeader checked the leaf: plain values only.
func printInline(w io.Writer, leaf []byte) {
	n := page.PageCount(leaf)
	for i := range n {
		_, k, v, _ := page.LeafElem(leaf, n, i)
		fmt.Fprintf(w, "      %d: key %s value %d bytes: %s\n", i, quoteBytes(k), len(v), preview(v))
	}
}

func printLeaf(w io.Writer, p []byte, id page.ID) (sound bool) {
	n, err := page.CheckElems(p, id, page.LeafElemSize)
	if err != nil {
		fmt.Fprintf(w, "  error: %s\n", errText(err))
		return false
	}
	sound = true
	for i := range n {
		k, kok := page.LeafKey(p, i)
		flags, v, vok := page.LeafValue(p, i)
		if !kok || !vok {
			fmt.Fprintf(w, "  %d: error: %s\n", i, errText(page.ElemError(id, i)))
			sound = false
			continue
		}
		switch {
		case flags&page.LeafBucket != 0:
			h, err := page.DecodeBucketHeader(v, id)
			if err != nil {
				fmt.Fprintf(w, "  %d: key %s bucket: error: %s\n", i, quoteBytes(k), errText(err))
				sound = false
				continue
			}
			root := "empty"
			switch {
			case h.Inline:
				leaf := page.BucketLeaf(v)
				root = fmt.Sprintf("inline, %d keys in %d bytes", page.PageCount(leaf), len(leaf))
			case h.Root != 0:
				root = fmt.Sprintf("root page %d (checksum %#08x)", h.Root, h.RootSum)
			}
			fmt.Fprintf(w, "  %d: key %s bucket: %s, sequence %d\n", i, quoteBytes(k), root, h.Sequence)
			if h.Inline {
				printInline(w, page.BucketLeaf(v))
			}
		case flags&page.LeafLarge != 0:
			ref, err := page.DecodeLargeRef(v, id)
			if err != nil {
				fmt.Fprintf(w, "  %d: key %s large value: error: %s\n", i, quoteBytes(k), errText(err))
				sound = false
				continue
			}
			fmt.Fprintf(w, "  %d: key %s large value: %d bytes at page %d (checksum %#08x)\n", i, quoteBytes(k), ref.Size, ref.Page, ref.Sum)
		default:
			fmt.Fprintf(w, "  %d: key %s value %d bytes: %s", i, quoteBytes(k), len(v), preview(v))
			if flags != 0 {
				fmt.Fprintf(w, " (unknown flags %#x)", flags)
			}
			fmt.Fprintln(w)
		}
	}
	return sound
}
