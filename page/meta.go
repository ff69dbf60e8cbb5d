package page

import (
	"encoding/binary"
	"fmt"
)

// Wire format: the meta page. Pages 0 and 1 are meta slots; the commit of
// transaction T writes slot T%2. The body after the common header:
//
//	off  size  field
//	 32     4  magic
//	 36     4  version
//	 40     4  page size
//	 44     4  flags (zero)
//	 48     8  root: root page of the bucket directory tree (0 = empty)
//	 56     4  root checksum
//	 60     4  freelist checksum
//	 64     8  freelist page (0 = not persisted; rebuilt on open)
//	 72     8  high water: pages in use, [0, high) is the file's extent
//	 80     8  txid (also in the header)
//	 88     4  commit runs: how many runs this commit wrote, listed below
//	           (0: its pages were durable before this meta was written)
//	 92     4  zero
//	 96        commit runs, 16 bytes each: page u64 | pages u32 | checksum u32
//
// A commit whose runs fit in its meta page writes pages and meta and
// syncs once; its list lets Open tell whether all of them reached the
// disk (VerifyCommit) and fall back to the other meta if not.
const (
	Magic   uint32 = 0xF011_0DB1
	Version uint32 = 1

	metaSize      = 88
	commitRunsOff = 96
	commitRunSize = 16
)

// CommitRun is a run a commit wrote, as its meta page lists it.
type CommitRun struct {
	ID    ID
	Pages uint32
	Sum   uint32
}

// MaxCommitRuns is how many runs a meta page of pageSize bytes can list.
func MaxCommitRuns(pageSize int) int { return (pageSize - commitRunsOff) / commitRunSize }

// Meta is the decoded meta page: everything a snapshot needs.
type Meta struct {
	PageSize    uint32
	Root        ID
	RootSum     uint32
	Freelist    ID
	FreelistSum uint32
	High        ID // first page id never used
	TxID        TxID
}

// Errors a meta page can give besides ErrCorrupt.
var (
	ErrNotFolio = fmt.Errorf("folio/page: not a folio database")
	ErrVersion  = fmt.Errorf("folio/page: format version mismatch")
)

// EncodeMeta writes m into the page buffer p (one page) at slot id.
func EncodeMeta(p []byte, id ID, m *Meta) { EncodeMetaCommit(p, id, m, nil) }

// EncodeMetaCommit is EncodeMeta with the runs the commit wrote listed.
// REQUIRES: len(runs) <= MaxCommitRuns(len(p)).
func EncodeMetaCommit(p []byte, id ID, m *Meta, runs []CommitRun) {
	clear(p)
	binary.LittleEndian.PutUint32(p[metaSize:], uint32(len(runs)))
	for i, r := range runs {
		e := p[commitRunsOff+i*commitRunSize:]
		binary.LittleEndian.PutUint64(e, uint64(r.ID))
		binary.LittleEndian.PutUint32(e[8:], r.Pages)
		binary.LittleEndian.PutUint32(e[12:], r.Sum)
	}
	PutHeader(p, id, m.TxID, FlagMeta, 0, 0)
	b := p[HeaderSize:]
	binary.LittleEndian.PutUint32(b[0:], Magic)
	binary.LittleEndian.PutUint32(b[4:], Version)
	binary.LittleEndian.PutUint32(b[8:], m.PageSize)
	binary.LittleEndian.PutUint64(b[16:], uint64(m.Root))
	binary.LittleEndian.PutUint32(b[24:], m.RootSum)
	binary.LittleEndian.PutUint32(b[28:], m.FreelistSum)
	binary.LittleEndian.PutUint64(b[32:], uint64(m.Freelist))
	binary.LittleEndian.PutUint64(b[40:], uint64(m.High))
	binary.LittleEndian.PutUint64(b[48:], uint64(m.TxID))
	Seal(p)
}

// ClaimedPageSize is the page size field of a meta page that may not
// decode, or 0 if p is too short or the field is not a valid size: where
// to look for a damaged meta's twin, for an error message.
func ClaimedPageSize(p []byte) int {
	if len(p) < metaSize {
		return 0
	}
	if ps := int(binary.LittleEndian.Uint32(p[HeaderSize+8:])); ValidPageSize(ps) {
		return ps
	}
	return 0
}

// DecodeMeta validates and decodes a meta page read from slot id. It checks
// magic first (ErrNotFolio), then the checksum, then the version, so a file
// from a newer folio is reported as ErrVersion rather than corrupt.
func DecodeMeta(p []byte, id ID) (Meta, error) {
	var m Meta
	if len(p) < metaSize {
		return m, corruptInt(id, "meta page size", ">= 88 bytes", len(p))
	}
	b := p[HeaderSize:]
	if magic := binary.LittleEndian.Uint32(b[0:]); magic != Magic {
		return m, fmt.Errorf("%w: page %d has magic %#x", ErrNotFolio, id, magic)
	}
	ps := binary.LittleEndian.Uint32(b[8:])
	if !ValidPageSize(int(ps)) {
		return m, corruptInt(id, "meta page size field", "power of two 1KiB..64KiB", ps)
	}
	if int(ps) > len(p) {
		// A sound size in a file cut short: say so, not that the size is bad.
		return m, corruptInt(id, "meta page size field", fmt.Sprintf("at most the %d bytes the file has from this page on (truncated?)", len(p)), ps)
	}
	if got, want := PageChecksum(p), Checksum(p[:ps]); got != want {
		return m, corruptInt(id, "meta checksum", fmt.Sprintf("%#08x", want), fmt.Sprintf("%#08x", got))
	}
	if v := binary.LittleEndian.Uint32(b[4:]); v != Version {
		return m, fmt.Errorf("%w: page %d has version %d, this folio reads %d", ErrVersion, id, v, Version)
	}
	if f := PageFlags(p); f != FlagMeta {
		return m, corruptInt(id, "meta page flags", FlagMeta, f)
	}
	if PageID(p) != id {
		return m, corruptInt(id, "meta page id", id, PageID(p))
	}
	// Everything EncodeMeta leaves zero must be zero, so a page decodes
	// only one way.
	runs := 0
	if int(ps) >= commitRunsOff {
		// NB: compared before the int conversion, which makes a count of
		// 2^31 or more negative on 32-bit platforms.
		n := binary.LittleEndian.Uint32(p[metaSize:])
		if n > uint32(MaxCommitRuns(int(ps))) {
			return m, corruptInt(id, "meta commit runs", fmt.Sprintf("<= %d", MaxCommitRuns(int(ps))), n)
		}
		runs = int(n)
	}
	if PageCount(p) != 0 || PageOverflow(p) != 0 || binary.LittleEndian.Uint32(p[offOverflow+4:]) != 0 ||
		binary.LittleEndian.Uint32(b[12:]) != 0 || (runs == 0 && !allZero(p[metaSize:ps])) ||
		(runs > 0 && (binary.LittleEndian.Uint32(p[metaSize+4:]) != 0 || !allZero(p[commitRunsOff+runs*commitRunSize:ps]))) {
		return m, Corruptf(id, "meta page reserved bytes", "zero", "not zero")
	}
	m = Meta{
		PageSize:    ps,
		Root:        ID(binary.LittleEndian.Uint64(b[16:])),
		RootSum:     binary.LittleEndian.Uint32(b[24:]),
		FreelistSum: binary.LittleEndian.Uint32(b[28:]),
		Freelist:    ID(binary.LittleEndian.Uint64(b[32:])),
		High:        ID(binary.LittleEndian.Uint64(b[40:])),
		TxID:        TxID(binary.LittleEndian.Uint64(b[48:])),
	}
	if m.TxID != PageTxID(p) {
		return m, corruptInt(id, "meta txid", PageTxID(p), m.TxID)
	}
	if m.High < 2 || (m.Root != 0 && (m.Root < 2 || m.Root >= m.High)) ||
		(m.Freelist != 0 && (m.Freelist < 2 || m.Freelist >= m.High)) {
		return m, corruptInt(id, "meta page ids", fmt.Sprintf("root, freelist in [2, %d)", m.High), fmt.Sprintf("root %d, freelist %d", m.Root, m.Freelist))
	}
	next := ID(2) // runs are listed in page order and disjoint: a commit writes each page once
	for _, r := range MetaCommitRuns(p, nil) {
		// NB: compare without adding: ID and Pages come from the file.
		if r.ID < next || r.ID >= m.High || r.Pages == 0 || uint64(r.Pages) > uint64(m.High-r.ID) {
			return m, corruptInt(id, "meta commit run", fmt.Sprintf("runs in page order, disjoint, in [%d, %d)", next, m.High), fmt.Sprintf("%d pages at %d", r.Pages, r.ID))
		}
		next = r.ID + ID(r.Pages)
	}
	return m, nil
}

// MetaCommitRuns appends the runs a meta page lists to dst.
// REQUIRES: p decoded (DecodeMeta) without error.
func MetaCommitRuns(p []byte, dst []CommitRun) []CommitRun {
	ps := int(binary.LittleEndian.Uint32(p[HeaderSize+8:]))
	if ps < commitRunsOff {
		return dst
	}
	n := min(int(binary.LittleEndian.Uint32(p[metaSize:])), MaxCommitRuns(ps))
	for i := range n {
		e := p[commitRunsOff+i*commitRunSize:]
		dst = append(dst, CommitRun{
			ID:    ID(binary.LittleEndian.Uint64(e)),
			Pages: binary.LittleEndian.Uint32(e[8:]),
			Sum:   binary.LittleEndian.Uint32(e[12:]),
		})
	}
	return dst
}

// VerifyCommit checks that every run a meta lists is on the disk as that
// commit wrote it: its header names its page and the commit's txid, and
// its bytes match the listed checksum. data is the file from page 0.
// An error names the first run that is not.
func VerifyCommit(data []byte, pageSize int, m *Meta, runs []CommitRun) error {
	for _, r := range runs {
		off := uint64(r.ID) * uint64(pageSize)
		n := uint64(r.Pages) * uint64(pageSize)
		if off > uint64(len(data)) || n > uint64(len(data))-off {
			return corruptInt(r.ID, "commit run beyond end of file", fmt.Sprintf("%d pages", r.Pages), fmt.Sprintf("%d bytes in the file", len(data)))
		}
		run := data[off : off+n]
		if got := PageID(run); got != r.ID {
			return corruptInt(r.ID, "page id in header of a run the last commit wrote", r.ID, got)
		}
		if got := PageTxID(run); got != m.TxID {
			return corruptInt(r.ID, "txid of a run the last commit wrote", m.TxID, got)
		}
		if got := uint64(PageOverflow(run)) + 1; got != uint64(r.Pages) {
			return corruptInt(r.ID, "pages of a run the last commit wrote", r.Pages, got)
		}
		if got := PageChecksum(run); got != r.Sum {
			return corruptInt(r.ID, "checksum of a run the last commit wrote", fmt.Sprintf("%#08x", r.Sum), fmt.Sprintf("%#08x", got))
		}
		if err := VerifyChecksum(run, r.ID, r.Sum); err != nil {
			return err
		}
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// ValidPageSize reports whether n is a power of two in [MinPageSize, MaxPageSize].
func ValidPageSize(n int) bool {
	return n >= MinPageSize && n <= MaxPageSize && n&(n-1) == 0
}
