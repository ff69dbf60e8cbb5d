package page

import "testing"

// TestDecodeMetaOverlappingRuns: a commit lists the runs it wrote,
// sorted (tx.dirty is sorted) and disjoint (no page is written twice), so
// together they cover at most High-2 pages. DecodeMeta checks each run
// on its own only: it accepts a list that names one run thousands of
// times (4,090 entries at 64 KiB pages), and VerifyCommit then checksums
// that run once per entry: Open of a hostile file costs up to 4,090
// times its size in CRC work (a 1 GiB file: 4 TiB, many minutes).
func TestDecodeMetaOverlappingRuns(t *testing.T) {
	for _, c := range []struct {
		name string
		runs func(n int) []CommitRun
	}{
		{"duplicate", func(n int) []CommitRun {
			r := make([]CommitRun, n)
			for i := range r {
				r[i] = CommitRun{ID: 2, Pages: 998, Sum: 1}
			}
			return r
		}},
		{"overlapping", func(int) []CommitRun {
			return []CommitRun{{ID: 2, Pages: 10, Sum: 1}, {ID: 5, Pages: 10, Sum: 2}}
		}},
		{"unsorted", func(int) []CommitRun {
			return []CommitRun{{ID: 20, Pages: 1, Sum: 1}, {ID: 5, Pages: 1, Sum: 2}}
		}},
	} {
		const ps = MaxPageSize
		m := Meta{PageSize: ps, High: 1000, TxID: 5}
		runs := c.runs(MaxCommitRuns(ps))
		p := make([]byte, ps)
		EncodeMetaCommit(p, 0, &m, runs)
		if _, err := DecodeMeta(p, 0); err == nil {
			total := uint64(0)
			for _, r := range MetaCommitRuns(p, nil) {
				total += uint64(r.Pages)
			}
			t.Errorf("%s: DecodeMeta accepted %d listed runs covering %d pages in a file of %d: no commit writes a page twice",
				c.name, len(runs), total, m.High)
		}
	}
}
