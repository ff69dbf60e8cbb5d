package folio

import (
	"fmt"
	"testing"

	"github.com/foliodb/folio/page"
)

// FuzzFreeDelta puts arbitrary bytes as the free list delta of the
// newest meta of fuzzSeedDB's variant 2 (resealed: only the delta lies),
// opens it with and without VerifyChecksums, reads everything, runs
// Check and writes everywhere. A delta DecodeMeta refuses makes Open
// fall back to the older meta. Nothing may panic or hang, every error is
// ErrCorrupt, and a file Check passes must read and take writes, and
// pass Check after them. The seeds: the seed's own delta, one naming
// the free list run's pages (TestFreeListNamingItsRunIsRebuilt), one
// naming a page in use, and one taking a page the run does not hold.
func FuzzFreeDelta(f *testing.F) {
	seed := fuzzSeedDB(f, 2)
	ps := page.ClaimedPageSize(seed)
	var m page.Meta
	for slot := range 2 {
		if s, err := page.DecodeMeta(seed[slot*ps:], page.ID(slot)); err == nil && s.TxID >= m.TxID {
			m = s
		}
	}
	if m.FreeDelta == "" {
		f.Fatal("the seed's newest meta lists no delta")
	}
	f.Add([]byte(m.FreeDelta))
	runPages := 1 + uint64(page.PageOverflow(seed[int(m.Freelist)*ps:]))
	f.Add([]byte(page.FreeDelta{Added: []page.Extent{{Start: m.Freelist, Len: runPages}}}.Encode()))
	f.Add([]byte(page.FreeDelta{Added: []page.Extent{{Start: m.Root, Len: 1}}}.Encode()))
	f.Add([]byte(page.FreeDelta{Taken: []page.Extent{{Start: m.Root, Len: 1}}}.Encode()))
	f.Fuzz(func(t *testing.T, delta []byte) {
		if len(delta) > page.MaxFreeDelta(ps) {
			return
		}
		defer slowGuard("FuzzFreeDelta", delta)()
		e := newEditImage(t, seed)
		e.meta.FreeDelta = string(delta)
		page.EncodeMetaCommit(e.b[e.slot*e.ps:(e.slot+1)*e.ps], page.ID(e.slot), &e.meta, e.runs)
		for _, opts := range []*Options{{}, {VerifyChecksums: true}} {
			db, err := openImage(t, "fuzz.db", e.b, opts)
			if err != nil {
				wantDamageErr(t, "open", err, true)
				continue
			}
			wantDamageContained(t, db, fmt.Sprintf("%+v: ", *opts))
			_ = db.Close()
		}
	})
}
