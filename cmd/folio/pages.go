package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/foliodb/folio"
	"github.com/foliodb/folio/page"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newPagesCmd) }

// The page-inspection commands (pages here, page in page.go) read the
// file's bytes themselves and decode them with package page only: they
// are for looking at damaged files too, where the library would stop at
// the first bad page. The database is opened read-only first, so the
// shared lock keeps writers out and the bytes read are one consistent
// state, and so the meta page the library chose (it may have fallen back
// to the older one) is the one followed here.

func newPagesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pages DB",
		Short: "List every page: what it is, its checksum state and txid",
		Long: `Pages lists the file page by page, following the trees from the current
meta page: one line per page or run of pages, with its id, its kind (meta,
branch, leaf, large value, freelist; free for pages on the free list, free
or pending; unreachable for pages neither reachable nor free, which check
reports as leaked; unallocated for the file's preallocated tail and for
the pages the older meta page still reaches past the current one's high
water mark, which the file keeps while Open may fall back to it), how many
overflow pages follow it, whether its checksum holds (the CRC-32C of its
bytes, and the checksum its parent expects of it) and the transaction that
wrote it. The note says which bucket a tree page belongs to.

Damaged pages are listed with what is wrong with them; the listing goes on.
Of a file cut short, the pages its trees reach past its end are listed
after the others, as problems.
A reachable run the free list names too is listed as the run, the free
pages around it as free, and the conflict after the others, as a problem.
A file the library refuses to open (its root or free list damaged) is
still listed, from its newest valid meta page, with a warning.

Exit status 1 when the listing shows any problem (as check), 0 otherwise.
The database is opened read-only (shared lock); the file is not changed.`,
		Example: `  folio pages app.db
  folio pages app.db | grep -v ' free '   # only the pages in use
  folio page app.db 2                      # then look inside one`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			pf, err := a.openPages(args[0])
			if err != nil {
				return err
			}
			defer closePages(pf, &err)
			m := walkPages(pf)
			n, err := printPages(a.stdout, pf, m)
			if err != nil {
				return err
			}
			if n == 0 && pf.refused != nil {
				// A refusal the walk does not see (a damaged log): a
				// problem still, but not one the listing shows.
				return pathErrorf(pf.path, "the library refuses it (see the warning above), though its pages show no problem")
			}
			if n > 0 {
				// As check: a script must tell a damaged file by the status.
				return checkFailed{n}
			}
			return nil
		},
	}
	return cmd
}

// pageFile reads the pages of a database file.
type pageFile struct {
	f        *os.File
	path     string
	pageSize int
	pages    uint64 // whole pages in the file
	// info is the library's view of the file; when the library refused
	// to open it, only PageSize, MetaSlot, TxID, MetaFallback and
	// OlderMeta are set, from the meta pages read here.
	info folio.Info
	db   *folio.DB // the read-only open holding the shared lock, or nil
	// refused is why the library would not open the file, if it would not.
	refused error
}

// openPageFile opens db's file for reading its pages. REQUIRES: db is
// open read-only, so no writer changes the file while it is read.
func openPageFile(db *folio.DB, path string) (*pageFile, error) {
	in, err := db.Info()
	if err != nil {
		return nil, &pathError{path: path, err: err}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read pages: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("read pages: %w", err)
	}
	return &pageFile{f: f, path: path, pageSize: in.PageSize, pages: uint64(fi.Size()) / uint64(in.PageSize), info: in}, nil
}

func (pf *pageFile) Close() error { return pf.f.Close() }

// applyFreeDelta returns exts, the extents of freelist run fl, with the
// free list delta of the current meta page applied if that meta names
// fl (page.FreeDelta). After a WAL replay the library's state may name a
// run no meta page on disk does; such a state lists no delta.
func (pf *pageFile) applyFreeDelta(exts []page.Extent, fl page.ID) ([]page.Extent, error) {
	slot := page.ID(pf.info.MetaSlot)
	p, err := pf.page(slot)
	if err != nil {
		return nil, err
	}
	m, err := page.DecodeMeta(p, slot)
	if err != nil {
		return nil, err
	}
	if m.Freelist != fl {
		return exts, nil
	}
	return page.ApplyFreeDelta(exts, m, slot)
}

// openPages opens path for the page-inspection commands: read-only
// through the library, or, when the library refuses a damaged file, by
// reading its meta pages here under the same shared lock (the point of
// inspecting pages is often a file the library will not open).
func (a *app) openPages(path string) (*pageFile, error) {
	db, err := a.openDB(path, true)
	if err == nil {
		pf, err := openPageFile(db, path)
		if err != nil {
			_ = db.Close()
			return nil, err
		}
		pf.db = db
		return pf, nil
	}
	if !errors.Is(err, folio.ErrCorrupt) && !errors.Is(err, folio.ErrChecksum) {
		return nil, err
	}
	pf, rerr := openRawPageFile(path, a.timeout)
	var mse metaSizeError
	var nme noMetaError
	if errors.As(rerr, &mse) || errors.As(rerr, &nme) {
		// The library refuses the file for this reason too (chooseMeta),
		// and its error says so, naming both sizes or both meta pages'
		// problems.
		return nil, err
	}
	if rerr != nil {
		return nil, fmt.Errorf("%w (and reading its meta pages: %v)", err, rerr)
	}
	pf.refused = err
	// The line names the file once: errorMessage drops the library's
	// "folio: ", and its "open PATH: " says what the line says already.
	why := errorMessage(err)
	why = strings.TrimPrefix(why, "open "+path+": ")
	why = strings.TrimPrefix(why, path+": ")
	fmt.Fprintf(a.stderr, "folio: warning: the library refuses %s (%s); reading its pages from meta page %d\n", path, why, pf.info.MetaSlot)
	return pf, nil
}

// closePages closes what openPages opened, reporting an error through
// *err unless the command already failed.
func closePages(pf *pageFile, err *error) {
	if pf.db != nil {
		closeDB(pf.db, err)
	}
	if cerr := pf.Close(); cerr != nil && *err == nil {
		*err = fmt.Errorf("close %s: %w", pf.path, cerr)
	}
}

// openRawPageFile opens path under a shared lock and picks the meta page
// to follow as the library would: the valid one with the higher txid.
func openRawPageFile(path string, timeout time.Duration) (pf *pageFile, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
		}
	}()
	if err := lockShared(f, path, timeout); err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	head := make([]byte, min(fi.Size(), 2*page.MaxPageSize))
	if _, err := f.ReadAt(head, 0); err != nil {
		return nil, err
	}
	metas, errs, err := readMetas(head)
	if err != nil {
		return nil, err
	}
	slot := 0
	switch {
	case errs[0] != nil && errs[1] != nil:
		return nil, noMetaError{fmt.Sprintf("no valid meta page: %v; %v", errs[0], errs[1])}
	case errs[0] != nil || (errs[1] == nil && metas[1].TxID > metas[0].TxID):
		slot = 1
	}
	in := folio.Info{PageSize: int(metas[slot].PageSize), MetaSlot: slot, TxID: metas[slot].TxID}
	if errs[1-slot] != nil {
		in.MetaFallback = fmt.Sprintf("meta page %d unusable: %v", 1-slot, errs[1-slot])
		in.OlderMeta = true
	}
	return &pageFile{f: f, path: path, pageSize: in.PageSize, pages: uint64(fi.Size()) / uint64(in.PageSize), info: in}, nil
}

// readMetas decodes the meta pages at the head of a file as Open does
// (tx's chooseMeta): meta page 1 at the offset of meta page 0's page
// size, or, meta page 0 unreadable, at the first page size where one
// decodes. Two metas that disagree on the page size, or a meta page 1
// not at the offset of the size it says, fail: the page size decides
// where every page is, no crash leaves such metas, and neither reading is
// safe to follow. chooseMeta itself is no use here even were it exported:
// it also checks what the meta points at, which is what a file the
// library refused fails, and the CLI reads pages with page/ alone.
func readMetas(head []byte) (metas [2]page.Meta, errs [2]error, err error) {
	metas[0], errs[0] = page.DecodeMeta(head, 0)
	if errs[0] == nil {
		// NB: DecodeMeta checked that the page size fits in head.
		ps := int(metas[0].PageSize)
		if metas[1], errs[1] = page.DecodeMeta(head[ps:], 1); errs[1] == nil && metas[1].PageSize != metas[0].PageSize {
			return metas, errs, metaSizeError{fmt.Sprintf("the meta pages disagree on the page size (meta page 0: %d, meta page 1: %d)",
				metas[0].PageSize, metas[1].PageSize)}
		}
		return metas, errs, nil
	}
	errs[1] = errors.New("not found")
	for ps := page.MinPageSize; ps <= page.MaxPageSize && 2*ps <= len(head); ps *= 2 {
		if metas[1], errs[1] = page.DecodeMeta(head[ps:], 1); errs[1] == nil {
			if int(metas[1].PageSize) != ps {
				return metas, errs, metaSizeError{fmt.Sprintf("meta page 0 unusable (%s), and meta page 1, found at offset %d (page size %d), says page size %d",
					errText(errs[0]), ps, ps, metas[1].PageSize)}
			}
			break
		}
	}
	return metas, errs, nil
}

// noMetaError is openRawPageFile's refusal of a file neither of whose
// meta pages decodes, which the library refuses too, saying why.
type noMetaError struct{ msg string }

func (e noMetaError) Error() string { return e.msg }

// metaSizeError is readMetas' refusal of meta pages whose page sizes
// do not fit together.
type metaSizeError struct{ msg string }

func (e metaSizeError) Error() string { return e.msg }

// page reads one page.
func (pf *pageFile) page(id page.ID) ([]byte, error) {
	if uint64(id) >= pf.pages {
		return nil, page.Corruptf(id, fmt.Sprintf("beyond the end of the file, which holds %s (cut short?)", wholePages(pf.pages)), "", "")
	}
	p := make([]byte, pf.pageSize)
	if _, err := pf.f.ReadAt(p, int64(id)*int64(pf.pageSize)); err != nil {
		return nil, fmt.Errorf("read page %d: %w", id, err)
	}
	return p, nil
}

// run reads the run starting at page id: its first page and the overflow
// pages its header claims. If the overflow does not fit in the file, it
// returns the first page and the error, so the header can still be shown.
func (pf *pageFile) run(id page.ID) ([]byte, error) {
	p, err := pf.page(id)
	if err != nil {
		return nil, err
	}
	ov := uint64(page.PageOverflow(p))
	if ov == 0 {
		return p, nil
	}
	if ov >= page.MaxRunPages || uint64(id)+1+ov > pf.pages {
		return p, page.Corruptf(id, "overflow", fmt.Sprintf("a run inside the file's %d pages", pf.pages), fmt.Sprintf("%d more pages", ov))
	}
	r := make([]byte, (ov+1)*uint64(pf.pageSize))
	if _, err := pf.f.ReadAt(r, int64(id)*int64(pf.pageSize)); err != nil {
		return p, fmt.Errorf("read pages %d..%d: %w", id, uint64(id)+ov, err)
	}
	return r, nil
}

// maxTreeDepth bounds a tree walk, so a cycle in a damaged file (a child
// pointing back at an ancestor) ends. btree.MaxDepth is the library's
// bound; this one only needs to be no smaller.
const maxTreeDepth = 64

// runUse is what the walk found about one reachable run.
type runUse struct {
	kind     page.Flags
	pages    int // pages in the run (1 + overflow), as far as the file holds it
	txid     page.TxID
	checksum string // "ok", or what is wrong with it
	note     string // whose it is
	problem  string // anything else wrong with it
}

// pageMap is what walkPages found: the current meta, the runs reachable
// from it and the free extents it records.
type pageMap struct {
	meta     page.Meta
	metaErr  [2]error
	runs     map[page.ID]*runUse
	free     []page.Extent
	freeNote string // why free pages are not known from the free list, if they are not
	// starts is the reachable runs' first pages, sorted; freeInUse those
	// of them holding a page the free list names too (check's "both").
	starts    []page.ID
	freeInUse []page.ID
	problems  []string
	// olderHigh is the older meta's high water mark (0 if it does not
	// decode): the file keeps the pages below it, past the current
	// meta's, while Open may still fall back to that meta.
	olderHigh uint64
}

// walkPages decodes the current meta and follows every tree from it.
func walkPages(pf *pageFile) *pageMap {
	m := &pageMap{runs: make(map[page.ID]*runUse)}
	defer m.findFreeInUse() // on every return: the listing needs starts
	var metas [2]page.Meta
	for slot := range 2 {
		p, err := pf.page(page.ID(slot))
		if err == nil {
			metas[slot], err = page.DecodeMeta(p, page.ID(slot))
		}
		m.metaErr[slot] = err
	}
	cur := pf.info.MetaSlot
	if m.metaErr[cur] != nil {
		m.problems = append(m.problems, fmt.Sprintf("current meta page %d: %v", cur, m.metaErr[cur]))
		return m
	}
	m.meta = metas[cur]
	if m.metaErr[1-cur] == nil {
		m.olderHigh = uint64(metas[1-cur].High)
	}
	w := walker{pf: pf, m: m}
	if m.meta.Root != 0 {
		w.tree(m.meta.Root, m.meta.RootSum, nil, 0)
	}
	if m.meta.Freelist == 0 {
		m.freeNote = "free list not persisted: every unreachable page is free"
		return m
	}
	u := w.visit(m.meta.Freelist, page.FlagFreelist, m.meta.FreelistSum, "free list")
	if u == nil || u.checksum != "ok" {
		m.freeNote = "free list unreadable"
		return m
	}
	p, _ := pf.run(m.meta.Freelist)
	exts, err := page.DecodeFreelist(p[page.HeaderSize:], m.meta.Freelist, m.meta.High)
	if err == nil {
		exts, err = page.ApplyFreeDelta(exts, m.meta, page.ID(cur))
	}
	if err != nil {
		u.problem = errText(err)
		m.freeNote = "free list unreadable"
		return m
	}
	m.free = exts
	return m
}

// findFreeInUse sorts the runs' starts and finds the runs the free list
// overlaps: a list naming a page in use (a buggy or hostile writer) is
// listed as the run it is, and the conflict as a problem.
func (m *pageMap) findFreeInUse() {
	m.starts = make([]page.ID, 0, len(m.runs))
	for id := range m.runs {
		m.starts = append(m.starts, id)
	}
	slices.Sort(m.starts)
	for _, id := range m.starts {
		// NB: the extents are sorted and do not overlap (DecodeFreelist,
		// ApplyFreeDelta): one search per run, not a scan.
		i, _ := slices.BinarySearchFunc(m.free, id, func(e page.Extent, id page.ID) int {
			if uint64(e.Start)+e.Len <= uint64(id) {
				return -1
			}
			return 1
		})
		if i < len(m.free) && uint64(m.free[i].Start) < uint64(id)+uint64(m.runs[id].pages) {
			m.freeInUse = append(m.freeInUse, id)
		}
	}
}

// freeAt returns how many pages from id on the free extent holding id
// covers (0: id is not on the free list).
func (m *pageMap) freeAt(id uint64) uint64 {
	i, found := slices.BinarySearchFunc(m.free, id, func(e page.Extent, id uint64) int {
		switch {
		case uint64(e.Start)+e.Len <= id:
			return -1
		case uint64(e.Start) > id:
			return 1
		}
		return 0
	})
	if !found {
		return 0
	}
	return uint64(m.free[i].Start) + m.free[i].Len - id
}

// nextFree returns the first page after id that starts a free extent or
// lies in one, or end if none does before end.
func (m *pageMap) nextFree(id, end uint64) uint64 {
	i, _ := slices.BinarySearchFunc(m.free, id, func(e page.Extent, id uint64) int {
		if uint64(e.Start)+e.Len <= id+1 {
			return -1
		}
		return 1
	})
	if i < len(m.free) {
		return min(max(uint64(m.free[i].Start), id+1), end)
	}
	return end
}

// nextRun returns the first page after id a reachable run starts at, or
// end if none does before end.
func (m *pageMap) nextRun(id, end uint64) uint64 {
	i, _ := slices.BinarySearch(m.starts, page.ID(id+1))
	if i < len(m.starts) {
		return min(uint64(m.starts[i]), end)
	}
	return end
}

// runHolding returns the reachable run that holds page id past its
// first page, and where it starts; nil if none does.
func (m *pageMap) runHolding(id page.ID) (page.ID, *runUse) {
	for start, u := range m.runs {
		if start < id && uint64(id) < uint64(start)+uint64(u.pages) {
			return start, u
		}
	}
	return 0, nil
}

type walker struct {
	pf *pageFile
	m  *pageMap
	// read counts the pages of the runs visit has read, for it to read
	// no more than the file holds (see visit).
	read uint64
}

// visit reads and records run id, which its parent expects to be of kind
// want with checksum sum. It returns nil when the run cannot be read or
// was seen before (a page reachable twice: not walked again, so a cycle
// ends).
func (w *walker) visit(id page.ID, want page.Flags, sum uint32, note string) *runUse {
	if u, seen := w.m.runs[id]; seen {
		u.problem = appendProblem(u.problem, "reachable twice (also from "+note+")")
		return nil
	}
	if id < 2 || id >= w.m.meta.High {
		w.m.problems = append(w.m.problems, fmt.Sprintf("%s points at page %d, outside [2, %d)", note, id, w.m.meta.High))
		return nil
	}
	u := &runUse{note: note, checksum: "ok", pages: 1}
	w.m.runs[id] = u
	// NB: runs that do not overlap hold the file's pages at most; a
	// hostile file whose runs each lie inside the one before (starting
	// at increasing pages, each reachable once) cost a read of every
	// run's length, quadratic in the file. Past the file's worth, a run
	// is shown from its first page, not read. (A run past the file's
	// end is not read either: run says so.)
	if head, err := w.pf.page(id); err == nil {
		if n := uint64(page.PageOverflow(head)) + 1; n <= page.MaxRunPages && uint64(id)+n <= w.pf.pages {
			if w.read+n > w.pf.pages {
				u.kind, u.txid, u.checksum = page.PageFlags(head), page.PageTxID(head), "unknown"
				u.problem = fmt.Sprintf("not read: a run of %d pages, and the walk has read %d of the file's %d pages (runs that overlap)", n, w.read, w.pf.pages)
				return nil
			}
			w.read += n
		}
	}
	p, err := w.pf.run(id)
	if p == nil {
		u.checksum = "unread"
		u.problem = errText(err)
		return nil
	}
	u.kind, u.txid = page.PageFlags(p), page.PageTxID(p)
	if err != nil {
		u.checksum = "unknown"
		u.problem = errText(err)
		return nil
	}
	u.pages = len(p) / w.pf.pageSize
	switch {
	case page.PageID(p) != id:
		u.problem = appendProblem(u.problem, fmt.Sprintf("header says page %d (misdirected write?)", page.PageID(p)))
	case u.kind&want == 0:
		u.problem = appendProblem(u.problem, fmt.Sprintf("a %v page where a %v page was expected", u.kind, want))
	}
	if got := page.Checksum(p); got != page.PageChecksum(p) {
		u.checksum = fmt.Sprintf("bad: stored %#08x, computed %#08x", page.PageChecksum(p), got)
	} else if got != sum {
		u.checksum = fmt.Sprintf("bad: parent expects %#08x, page has %#08x (lost write?)", sum, got)
	}
	if u.problem != "" || u.checksum != "ok" {
		return nil
	}
	return u
}

func appendProblem(s, p string) string {
	if s == "" {
		return p
	}
	return s + "; " + p
}

// maxNotePath is how many names of a bucket's path a note shows: the
// first two and the last ones, and how many are left out between.
// NB: buckets nest as deep as a program asks, and a note naming every
// one made pages' output and memory quadratic in the depth (a 4 MB file
// of buckets nested 4000 deep: 670 MB and 18 s).
const maxNotePath = 8

// notePath is the path of the bucket at path for a note: quoted, as in
// errors, so that a bucket called "directory" reads apart from the
// bucket directory, and one called "a b" from a bucket "a".
func notePath(path [][]byte) string {
	if len(path) <= maxNotePath {
		return quotePath(path)
	}
	tail := path[len(path)-(maxNotePath-2):]
	return fmt.Sprintf("%s/ ...%d more... /%s", quotePath(path[:2]), len(path)-maxNotePath, quotePath(tail))
}

// tree walks the tree of the bucket at path (nil: the bucket directory).
func (w *walker) tree(id page.ID, sum uint32, path [][]byte, depth int) {
	note := "bucket directory"
	if path != nil {
		note = "bucket " + notePath(path)
	}
	if depth >= maxTreeDepth {
		w.m.problems = append(w.m.problems, fmt.Sprintf("%s: tree deeper than %d levels at page %d (a cycle?)", note, maxTreeDepth, id))
		return
	}
	if w.visit(id, page.FlagBranch|page.FlagLeaf, sum, note) == nil {
		return
	}
	p, _ := w.pf.run(id)
	u := w.m.runs[id]
	if page.PageFlags(p) == page.FlagBranch {
		n, err := page.CheckElems(p, id, page.BranchElemSize)
		if err != nil {
			u.problem = errText(err)
			return
		}
		for i := range n {
			child, csum := page.BranchChild(p, i)
			w.tree(child, csum, path, depth+1)
		}
		return
	}
	n, err := page.CheckElems(p, id, page.LeafElemSize)
	if err != nil {
		u.problem = errText(err)
		return
	}
	inline := 0
	defer func() {
		if inline > 0 {
			u.note += fmt.Sprintf(", holding %d inline bucket%s", inline, map[bool]string{true: "s"}[inline > 1])
		}
	}()
	for i := range n {
		k, kok := page.LeafKey(p, i)
		flags, v, vok := page.LeafValue(p, i)
		if !kok || !vok {
			u.problem = appendProblem(u.problem, errText(page.ElemError(id, i)))
			continue
		}
		switch {
		case flags&page.LeafBucket != 0:
			h, err := page.DecodeBucketHeader(v, id)
			if err != nil {
				u.problem = appendProblem(u.problem, errText(err))
				continue
			}
			if h.Inline {
				inline++ // no pages of its own: its leaf is in this one
			}
			if h.Root != 0 {
				// NB: no copy of path (a copy per bucket is quadratic in
				// the nesting): the walk is depth first and keeps no path
				// past the call, so a sibling may overwrite this one's
				// last name once its walk is done.
				w.tree(h.Root, h.RootSum, append(path, k), 0)
			}
		case flags&page.LeafLarge != 0:
			ref, err := page.DecodeLargeRef(v, id)
			if err != nil {
				u.problem = appendProblem(u.problem, errText(err))
				continue
			}
			w.visit(ref.Page, page.FlagLarge, ref.Sum, fmt.Sprintf("%s key %s (%d bytes)", note, quoteBytes(k), ref.Size))
		}
	}
}

// printPages writes one line per run of pages and returns how many of
// the lines show a problem: a run damaged, pages leaked, a problem line.
// A bad older meta page is none (as in check): a torn newest commit,
// which Open fell back from, leaves one.
func printPages(w io.Writer, pf *pageFile, m *pageMap) (problems int, err error) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tOVERFLOW\tCHECKSUM\tTXID\tNOTE")
	high := uint64(m.meta.High)
	if m.metaErr[pf.info.MetaSlot] != nil {
		high = 2
	}
	// NB: the walk does not go past a damaged page, so what it leaves
	// unreached may be under one (check says it so too).
	leaked := "leaked"
	if len(m.problems) > 0 {
		leaked = "leaked, or referenced only from a damaged page"
	}
	for _, u := range m.runs {
		if u.problem != "" || u.checksum != "ok" {
			leaked = "leaked, or referenced only from a damaged page"
			break
		}
	}
	for id := uint64(0); id < pf.pages; {
		switch {
		case id < 2:
			printMetaLine(tw, pf, m, page.ID(id))
			id++
		case m.runs[page.ID(id)] != nil:
			u := m.runs[page.ID(id)]
			note := u.note
			if u.problem != "" {
				note += ": " + u.problem
			}
			if u.problem != "" || u.checksum != "ok" {
				problems++
			}
			fmt.Fprintf(tw, "%d\t%v\t%d\t%s\t%d\t%s\n", id, u.kind, u.pages-1, u.checksum, u.txid, note)
			id += uint64(u.pages)
		case m.freeAt(id) > 0:
			// NB: up to the next reachable run: a free list naming a
			// page in use (listed as a problem below) hid the run.
			n := min(id+m.freeAt(id), m.nextRun(id, pf.pages)) - id // as far as the file holds it
			fmt.Fprintf(tw, "%s\tfree\t-\t-\t-\t%s\n", idRange(id, n), nPages(n))
			id += n
		case id < high:
			// NB: the pages the file holds; a file cut short has fewer
			// than its high water mark says, and they were listed too.
			end := min(high, pf.pages)
			n := min(m.nextRun(id, end), m.nextFree(id, end)) - id
			kind, note := "unreachable", nPages(n)+", neither reachable nor on the free list ("+leaked+")"
			switch {
			case m.meta.Freelist == 0:
				kind, note = "free", nPages(n)+" ("+m.freeNote+")"
			case m.freeNote != "":
				// NB: no problem of its own: the free list's line is one.
				note = nPages(n) + ", not reachable (" + m.freeNote + ": free or leaked)"
			default:
				problems++
			}
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t%s\n", idRange(id, n), kind, note)
			id += n
		case id < m.olderHigh:
			n := min(m.olderHigh, pf.pages) - id
			fmt.Fprintf(tw, "%s\tunallocated\t-\t-\t-\t%s past the high water mark and below the older meta's (%d): kept while Open may fall back to that meta\n",
				idRange(id, n), nPages(n), m.olderHigh)
			id += n
		default:
			n := pf.pages - id
			fmt.Fprintf(tw, "%s\tunallocated\t-\t-\t-\t%s past the high water mark (the file grows in steps)\n", idRange(id, n), nPages(n))
			id += n
		}
	}
	// The listing above tiles the pages the file holds; what the trees
	// reach past its end (a file cut short) is listed after it, or the
	// root of a file cut after its meta pages went unmentioned.
	if pf.pages < high {
		problems++
		fmt.Fprintf(tw, "-\tproblem\t-\t-\t-\tthe file holds %s of the %d its meta page counts (cut short?): pages %s are missing\n",
			wholePages(pf.pages), high, idRange(pf.pages, high-pf.pages))
	}
	var past []page.ID
	for id := range m.runs {
		if uint64(id) >= pf.pages {
			past = append(past, id)
		}
	}
	slices.Sort(past)
	for _, id := range past {
		u := m.runs[id]
		fmt.Fprintf(tw, "-\tproblem\t-\t-\t-\tpage %d (%s): %s\n", id, u.note, u.problemText(id))
	}
	for _, id := range m.freeInUse {
		u := m.runs[id]
		fmt.Fprintf(tw, "-\tproblem\t-\t-\t-\t%s (%s): %s\n", pageRange(uint64(id), uint64(u.pages)), u.note, freeInUseText)
	}
	for _, p := range m.problems {
		fmt.Fprintf(tw, "-\tproblem\t-\t-\t-\t%s\n", p)
	}
	problems += len(past) + len(m.freeInUse) + len(m.problems)
	if err := tw.Flush(); err != nil {
		return problems, fmt.Errorf("write: %w", err)
	}
	return problems, nil
}

// errText is err's text for a note in the listing, without the
// library's "folio: " in the middle of the table.
func errText(err error) string { return strings.TrimPrefix(err.Error(), libPrefix) }

// problemText is u.problem for a line that names page id already: a
// corrupt error about that page is cut to what it says of it.
func (u *runUse) problemText(id page.ID) string {
	return strings.TrimPrefix(u.problem, fmt.Sprintf("corrupt page %d: ", id))
}

// wholePages is "N whole page(s)".
func wholePages(n uint64) string {
	if n == 1 {
		return "1 whole page"
	}
	return fmt.Sprintf("%d whole pages", n)
}

func nPages(n uint64) string {
	if n == 1 {
		return "1 page"
	}
	return fmt.Sprintf("%d pages", n)
}

// freeInUseText is the problem of a run the free list names too.
const freeInUseText = "on the free list and in use"

// pageRange is "page N" or "pages N-M".
func pageRange(id, n uint64) string {
	if n == 1 {
		return fmt.Sprint("page ", id)
	}
	return "pages " + idRange(id, n)
}

func idRange(id, n uint64) string {
	if n == 1 {
		return fmt.Sprint(id)
	}
	return fmt.Sprintf("%d-%d", id, id+n-1)
}

func printMetaLine(w io.Writer, pf *pageFile, m *pageMap, id page.ID) {
	note := "older meta"
	if int(id) == pf.info.MetaSlot {
		note = "current meta"
	}
	p, err := pf.page(id)
	if err != nil {
		fmt.Fprintf(w, "%d\tmeta\t-\tunread\t-\t%s: %v\n", id, note, err)
		return
	}
	sum := "ok"
	if err := m.metaErr[id]; err != nil {
		sum = "bad"
		note += ": " + errText(err)
	}
	fmt.Fprintf(w, "%d\t%v\t%d\t%s\t%d\t%s\n", id, page.PageFlags(p), page.PageOverflow(p), sum, page.PageTxID(p), note)
}
