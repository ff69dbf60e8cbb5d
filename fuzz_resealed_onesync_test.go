package folio

import (
	"bytes"
	"strings"
	"testing"

	"github.com/foliodb/folio/page"
)

// TestResealedOneSyncSeeds pins what FuzzResealed's one-sync seeds
// reach. Resealing keeps the runs a one-sync commit's meta lists, each
// with its page's new checksum, so Open verifies the edited runs
// (VerifyCommit) as it would a commit folio wrote that way: the value
// edit passes, and the newest meta serves the edited value; the txid edit
// fails it, and Open falls back to the older meta. The reseal wrote the
// meta with no runs, so Open verified nothing: the edited images never
// reached that path, whatever the fuzzer tried.
func TestResealedOneSyncSeeds(t *testing.T) {
	var seeds [4][]byte
	for v := range seeds {
		seeds[v] = fuzzSeedDB(t, v)
	}
	img := resealedSeed(seeds, 5)
	if !bytes.Equal(img, seeds[3]) {
		t.Fatal("variant 5 is not the one-sync image")
	}
	for _, v := range []uint8{0, 1, 2, 3, 4, 6, 7, 8, 0x22, 0x32, 0x67, 0x8b} {
		if !bytes.Equal(resealedSeed(seeds, v), seeds[v%3]) {
			t.Errorf("variant %d does not pick image %d", v, v%3)
		}
	}

	e := newEditImage(t, img)
	want := page.MetaCommitRuns(e.b[e.slot*e.ps:], nil)
	if len(want) == 0 || want[0].ID != 23 || e.meta.TxID != 3 {
		t.Fatalf("the one-sync image's meta (txid %d) lists runs %v, want page 23 first", e.meta.TxID, want)
	}
	applyResealedEdits(e, resealedValueEdit)
	runs := page.MetaCommitRuns(e.b[e.slot*e.ps:], nil)
	if len(runs) != len(want) {
		t.Fatalf("the resealed meta lists %d runs, the commit's listed %d", len(runs), len(want))
	}
	if err := page.VerifyCommit(e.b, e.ps, &e.meta, runs); err != nil {
		t.Fatalf("the resealed runs fail their meta's list: %v", err)
	}
	for i := range runs {
		if resealed := runs[i].ID >= 23 && runs[i].ID <= 25; (runs[i].Sum != want[i].Sum) != resealed {
			t.Errorf("run %d: checksum %#x, the commit's %#x", runs[i].ID, runs[i].Sum, want[i].Sum)
		}
	}
	db, err := openImage(t, "value.db", e.b, &Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantV := fuzzValue("c/d/e", "k000")
	if wantV[6] == 0xaa {
		t.Fatal("the edit changes nothing")
	}
	wantV[6] = 0xaa
	err = db.View(func(tx *Tx) error {
		if s := db.Stats().MetaFallback; s != "" || tx.ID() != 3 {
			t.Errorf("open took txid %d, fallback %q; want the newest meta", tx.ID(), s)
		}
		got := tx.Bucket([]byte("c")).Bucket([]byte("d")).Bucket([]byte("e")).Get([]byte("k000"))
		if !bytes.Equal(got, wantV) {
			t.Errorf("c/d/e k000 is %x, want the edited %x", got, wantV)
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	e = newEditImage(t, img)
	applyResealedEdits(e, resealedTxIDEdit)
	runs = page.MetaCommitRuns(e.b[e.slot*e.ps:], nil)
	if err := page.VerifyCommit(e.b, e.ps, &e.meta, runs); err == nil || !strings.Contains(err.Error(), "txid of a run the last commit wrote") {
		t.Fatalf("VerifyCommit of the txid edit: %v", err)
	}
	db, err = openImage(t, "txid.db", e.b, &Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(tx *Tx) error {
		if s := db.Stats().MetaFallback; s == "" || tx.ID() != 2 {
			t.Errorf("open took txid %d, fallback %q; want the older meta", tx.ID(), s)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
