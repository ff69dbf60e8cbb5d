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
//	 92     4  free list delta: its length in bytes (version 2; zero in 1)
//	 96        commit runs, 16 bytes each: page u64 | pages u32 | checksum u32
//	           then the free list delta, the rest zero
//
// A commit whose runs fit in its meta page writes pages and meta and
// syncs once; its list lets Open tell whether all of them reached the
// disk (VerifyCommit) and fall back to the other meta if not.
//
// The free list delta says how the free set differs from the one the
// freelist run holds (the base, written by an earlier commit): two extent
// lists in the freelist run's encoding (count | count × (gap | length-1)),
// Taken, then Added. The free set is (base minus Taken) plus Added, where
// Taken lies inside the base and Added outside it. A small commit changes
// a few extents: it writes them here, in the meta page it writes anyway,
// instead of a new run of the whole list (FreeDelta). Version 1 files have
// no delta and read as before. Version 3 changes no meta field: it adds
// inline buckets (bucket.go) and says the file's write-ahead log may hold
// salted segments (package wal), whose records a folio reading only
// versions 1 and 2 takes for garbage and recycles. The first meta written
// to an older file makes both meta pages the current version (tx:
// upgradeMeta, upgradeBeforeLog), so that an older folio refuses the file
// rather than open the meta before it, or drop the log.
const (
	Magic   uint32 = 0xF011_0DB1
	Version uint32 = 3

	metaSize      = 88
	commitRunsOff = 96
	commitRunSize = 16
)

// FreeDelta is how a meta's free set differs from its freelist run's:
// Taken are extents of the run's list no longer free, Added extents free
// that the list does not hold. Both sorted, disjoint, never adjacent.
type FreeDelta struct {
	Taken, Added []Extent
}

// Empty reports whether d changes nothing.
func (d FreeDelta) Empty() bool { return len(d.Taken) == 0 && len(d.Added) == 0 }

// Size is the bytes d encodes to in a meta page (0 when empty).
func (d FreeDelta) Size() int {
	if d.Empty() {
		return 0
	}
	return FreelistSize(d.Taken) + FreelistSize(d.Added)
}

// Encode returns d as a meta page holds it ("" when d is empty).
func (d FreeDelta) Encode() string {
	if d.Empty() {
		return ""
	}
	b := make([]byte, d.Size())
	n := EncodeFreelist(b, d.Taken)
	EncodeFreelist(b[n:], d.Added)
	return string(b)
}

// DecodeFreeDelta decodes the free list delta of m, read from meta page
// id (DecodeMeta checked it).
func DecodeFreeDelta(m Meta, id ID) (FreeDelta, error) {
	if m.FreeDelta == "" {
		return FreeDelta{}, nil
	}
	return decodeFreeDelta([]byte(m.FreeDelta), id, m.High)
}

// MaxFreeDelta is the most bytes of free list delta a meta page of
// pageSize bytes takes: half the room after the fixed fields, so a
// commit keeps at least half of it for its list of runs.
func MaxFreeDelta(pageSize int) int { return (pageSize - commitRunsOff) / 2 }

// MaxCommitRunsBeside is how many runs a meta page of pageSize bytes can
// list beside a free list delta of deltaSize bytes.
func MaxCommitRunsBeside(pageSize, deltaSize int) int {
	return max(pageSize-commitRunsOff-deltaSize, 0) / commitRunSize
}

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
	// FreeDelta is the encoded free list delta (FreeDelta.Encode) that
	// applies to the run at Freelist ("" when that is 0). Encoded, the
	// Meta stays comparable and its copies share nothing mutable.
	FreeDelta string
}

// Errors a meta page can give besides ErrCorrupt.
var (
	ErrNotFolio = fmt.Errorf("folio/page: not a folio database")
	ErrVersion  = fmt.Errorf("folio/page: format version mismatch")
)

// EncodeMeta writes m into the page buffer p (one page) at slot id.
func EncodeMeta(p []byte, id ID, m *Meta) { EncodeMetaCommit(p, id, m, nil) }

// EncodeMetaCommit is EncodeMeta with the runs the commit wrote listed.
// REQUIRES: len(m.FreeDelta) <= MaxFreeDelta(len(p)), and 0 if
// m.Freelist is; len(runs) <= MaxCommitRunsBeside(len(p), that length).
func EncodeMetaCommit(p []byte, id ID, m *Meta, runs []CommitRun) {
	clear(p)
	binary.LittleEndian.PutUint32(p[metaSize:], uint32(len(runs)))
	for i, r := range runs {
		e := p[commitRunsOff+i*commitRunSize:]
		binary.LittleEndian.PutUint64(e, uint64(r.ID))
		binary.LittleEndian.PutUint32(e[8:], r.Pages)
		binary.LittleEndian.PutUint32(e[12:], r.Sum)
	}
	if m.FreeDelta != "" {
		copy(p[commitRunsOff+len(runs)*commitRunSize:], m.FreeDelta)
		binary.LittleEndian.PutUint32(p[metaSize+4:], uint32(len(m.FreeDelta)))
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
	version := binary.LittleEndian.Uint32(b[4:])
	if version == 0 || version > Version {
		return m, fmt.Errorf("%w: page %d has version %d, this folio reads 1 to %d", ErrVersion, id, version, Version)
	}
	if f := PageFlags(p); f != FlagMeta {
		return m, corruptInt(id, "meta page flags", FlagMeta, f)
	}
	if PageID(p) != id {
		return m, corruptInt(id, "meta page id", id, PageID(p))
	}
	// Everything EncodeMeta leaves zero must be zero, so a page decodes
	// only one way.
	runs, delta := 0, 0
	if int(ps) >= commitRunsOff {
		// NB: compared before the int conversion, which makes a count of
		// 2^31 or more negative on 32-bit platforms.
		n := binary.LittleEndian.Uint32(p[metaSize:])
		if n > uint32(MaxCommitRuns(int(ps))) {
			return m, corruptInt(id, "meta commit runs", fmt.Sprintf("<= %d", MaxCommitRuns(int(ps))), n)
		}
		runs = int(n)
		d := binary.LittleEndian.Uint32(p[metaSize+4:])
		if version == 1 && d != 0 {
			return m, Corruptf(id, "meta page reserved bytes", "zero", "not zero")
		}
		if limit := min(MaxFreeDelta(int(ps)), int(ps)-commitRunsOff-runs*commitRunSize); d > uint32(limit) {
			return m, corruptInt(id, "meta free list delta length", fmt.Sprintf("<= %d beside %d runs", limit, runs), d)
		}
		delta = int(d)
	}
	end := commitRunsOff + runs*commitRunSize + delta
	if PageCount(p) != 0 || PageOverflow(p) != 0 || binary.LittleEndian.Uint32(p[offOverflow+4:]) != 0 ||
		binary.LittleEndian.Uint32(b[12:]) != 0 || (runs == 0 && delta == 0 && !allZero(p[metaSize:ps])) ||
		((runs > 0 || delta > 0) && !allZero(p[end:ps])) {
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
	if delta > 0 {
		if m.Freelist == 0 {
			return m, corruptInt(id, "meta free list delta length", "0 without a free list page", delta)
		}
		b := p[end-delta : end]
		if _, err := decodeFreeDelta(b, id, m.High); err != nil {
			return m, err
		}
		m.FreeDelta = string(b)
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

// MetaVersion is the format version of meta page p: 1 to Version. An
// older folio reads only the versions up to its own (version 1 pages
// before format version 2, 1 and 2 before 3), so a file opens there
// while one of its meta pages is one of those.
// REQUIRES: p decoded (DecodeMeta) without error.
func MetaVersion(p []byte) uint32 { return binary.LittleEndian.Uint32(p[HeaderSize+4:]) }

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
			return corruptInt(r.ID, "commit run beyond end of file", fmt.Sprintf("a file of at least %d bytes", off+n), fmt.Sprintf("%d bytes (truncated?)", len(data)))
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

// decodeFreeDelta decodes the free list delta b of meta page id: both
// lists whole, in [2, high), and nothing after them.
func decodeFreeDelta(b []byte, id ID, high ID) (FreeDelta, error) {
	var d FreeDelta
	taken, o, err := decodeExtents(b, 0, id, high, "meta free list delta taken")
	if err != nil {
		return d, err
	}
	added, o, err := decodeExtents(b, o, id, high, "meta free list delta added")
	if err != nil {
		return d, err
	}
	if o != len(b) || (len(taken) == 0 && len(added) == 0) {
		return d, corruptInt(id, "meta free list delta length", o, len(b))
	}
	return FreeDelta{Taken: taken, Added: added}, nil
}

// ApplyFreeDelta returns the free set of m, read from meta page id: base
// (its freelist run's extents) minus the delta's Taken plus its Added,
// joined where adjacent. Each taken extent must lie inside one base
// extent and each added one outside all of them: anything else is
// damage, named by the meta page.
func ApplyFreeDelta(base []Extent, m Meta, id ID) ([]Extent, error) {
	d, err := DecodeFreeDelta(m, id)
	if err != nil || d.Empty() {
		return base, err
	}
	out := make([]Extent, 0, len(base)+len(d.Taken)+len(d.Added))
	push := func(e Extent) {
		if n := len(out); n > 0 && out[n-1].Start+ID(out[n-1].Len) == e.Start {
			out[n-1].Len += e.Len
			return
		}
		out = append(out, e)
	}
	// Subtract Taken from base, one base extent at a time.
	var rest []Extent
	t := 0
	for _, b := range base {
		cur := b
		for ; t < len(d.Taken) && d.Taken[t].Start < cur.Start+ID(cur.Len); t++ {
			x := d.Taken[t]
			if x.Start < cur.Start || x.Start+ID(x.Len) > cur.Start+ID(cur.Len) {
				return nil, Corruptf(id, "meta free list delta", "taken extents inside the free list", fmt.Sprintf("[%d, +%d) not inside", x.Start, x.Len))
			}
			if x.Start > cur.Start {
				rest = append(rest, Extent{cur.Start, uint64(x.Start - cur.Start)})
			}
			cur = Extent{x.Start + ID(x.Len), cur.Len - uint64(x.Start-cur.Start) - x.Len}
		}
		if cur.Len > 0 {
			rest = append(rest, cur)
		}
	}
	if t < len(d.Taken) {
		x := d.Taken[t]
		return nil, Corruptf(id, "meta free list delta", "taken extents inside the free list", fmt.Sprintf("[%d, +%d) not inside", x.Start, x.Len))
	}
	// Merge Added in, checked against base, not rest: an added page was
	// not in the list at all.
	i, j := 0, 0
	for _, a := range d.Added {
		for ; j < len(base) && base[j].Start+ID(base[j].Len) <= a.Start; j++ {
		}
		if j < len(base) && base[j].Start < a.Start+ID(a.Len) {
			return nil, Corruptf(id, "meta free list delta", "added extents outside the free list", fmt.Sprintf("[%d, +%d) overlaps [%d, +%d)", a.Start, a.Len, base[j].Start, base[j].Len))
		}
		for ; i < len(rest) && rest[i].Start < a.Start; i++ {
			push(rest[i])
		}
		push(a)
	}
	for ; i < len(rest); i++ {
		push(rest[i])
	}
	return out, nil
}
